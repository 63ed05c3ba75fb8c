package gemma3

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Gemma3TextConfig defaults (GEMMA3.md §5): the values a Hub config.json
// leaves out.
const (
	hfDefVocab        = 262208
	hfDefHidden       = 2304
	hfDefIntermediate = 9216
	hfDefLayers       = 26
	hfDefHeads        = 8
	hfDefKVHeads      = 4
	hfDefHeadDim      = 256
	hfDefMaxPositions = 131072
	hfDefRMSEps       = 1e-6
	hfDefRopeTheta    = 1e6
	hfDefRopeLocal    = 1e4
	hfDefQueryScalar  = 256
	hfDefWindow       = 4096
	hfDefPattern      = 6
	hfDefBOS          = 2
	hfDefEOS          = 1
	hfDefPAD          = 0
	hfEndOfTurn       = 106 // <end_of_turn>, a stop token besides <eos> (GEMMA3.md §8.1)
)

// hfMaxLayers bounds num_hidden_layers before per-layer slices are made.
const hfMaxLayers = 1 << 16

// HF layer_types values.
const (
	hfSliding = "sliding_attention"
	hfFull    = "full_attention"
)

// ParseHFConfig reads an HF config.json (Gemma3ForCausalLM text config, or
// Gemma3ForConditionalGeneration with a nested "text_config") into Config,
// filling every missing key with the HF class default (GEMMA3.md §5),
// resolving layer kinds and RoPE per GEMMA3.md §2.1 in all three encodings.
//
// Layer kinds come from layer_types when present, else from
// sliding_window_pattern / _sliding_window_pattern (default 6). Each kind's
// RoPE takes the fields of rope_parameters[kind] when present; a missing
// theta falls back to rope_theta (global) or rope_local_base_freq
// (sliding), missing global scaling falls back to rope_scaling, and sliding
// layers are scaled only when rope_parameters says so. Only the "default"
// and "linear" rope types are supported. A rope_parameters object without
// per-kind keys is taken as the global layers' parameters.
//
// EOS always holds 1 (<eos>) and 106 (<end_of_turn>) besides the ids the
// config lists (text and top level). EmbedScale is sqrt(hidden_size)
// rounded to the dtype named by dtype / torch_dtype (see EmbedScaleFor).
//
// A JSON null counts as an absent key, except for sliding_window, where it
// would mean "no sliding window" and is rejected. Softcapping, attention
// biases, bidirectional attention and activations other than
// gelu_pytorch_tanh are rejected rather than ignored. Other unknown keys
// are ignored. The result has passed Config.Validate.
func ParseHFConfig(data []byte) (Config, error) {
	cfg, err := parseHFConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("gemma3: config.json: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func parseHFConfig(data []byte) (Config, error) {
	top, err := newHFFields("", data)
	if err != nil {
		return Config{}, err
	}
	text := top
	if raw, ok := top.get("text_config"); ok {
		if text, err = newHFFields("text_config.", raw); err != nil {
			return Config{}, err
		}
	} else if hfMultimodal(top) {
		// Gemma3Config without text_config: every text field is a default.
		text = &hfFields{prefix: "text_config.", m: map[string]json.RawMessage{}}
	}
	if top.err != nil {
		return Config{}, top.err
	}

	c := Config{
		Vocab:              text.int("vocab_size", hfDefVocab),
		Hidden:             text.int("hidden_size", hfDefHidden),
		Intermediate:       text.int("intermediate_size", hfDefIntermediate),
		Layers:             text.int("num_hidden_layers", hfDefLayers),
		Heads:              text.int("num_attention_heads", hfDefHeads),
		KVHeads:            text.int("num_key_value_heads", hfDefKVHeads),
		HeadDim:            text.int("head_dim", hfDefHeadDim),
		QueryPreAttnScalar: text.float("query_pre_attn_scalar", hfDefQueryScalar),
		RMSEps:             text.float("rms_norm_eps", hfDefRMSEps),
		MaxPositions:       text.int("max_position_embeddings", hfDefMaxPositions),
	}
	if raw, ok := text.m["sliding_window"]; ok && hfIsNull(raw) {
		return Config{}, fmt.Errorf("%ssliding_window: null (no sliding window) is not supported", text.prefix)
	}
	c.SlidingWindow = text.int("sliding_window", hfDefWindow)
	if err := hfCheckUnsupported(text); err != nil {
		return Config{}, err
	}
	if text.err != nil {
		return Config{}, text.err
	}

	if c.Kinds, err = hfLayerKinds(text, c.Layers); err != nil {
		return Config{}, err
	}
	if c.RopeGlobal, c.RopeLocal, err = hfRopes(text); err != nil {
		return Config{}, err
	}
	if c.BOS, err = hfTokenID(text, top, "bos_token_id", hfDefBOS); err != nil {
		return Config{}, err
	}
	if c.PAD, err = hfTokenID(text, top, "pad_token_id", hfDefPAD); err != nil {
		return Config{}, err
	}
	if c.EOS, err = hfEOSIDs(text, top); err != nil {
		return Config{}, err
	}
	dtype, err := hfCheckpointDType(text, top)
	if err != nil {
		return Config{}, err
	}
	c.EmbedScale = EmbedScaleFor(c.Hidden, dtype)
	if text != top {
		if c.Image, err = hfImageConfig(top); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// hfMultimodal reports whether the top-level config describes a
// Gemma3ForConditionalGeneration model.
func hfMultimodal(top *hfFields) bool {
	if top.str("model_type", "") == "gemma3" {
		return true
	}
	raw, ok := top.get("architectures")
	if !ok {
		return false
	}
	var archs []string
	if json.Unmarshal(raw, &archs) != nil { // not a list of strings: not informative
		return false
	}
	return slices.Contains(archs, "Gemma3ForConditionalGeneration")
}

// hfCheckUnsupported rejects settings this engine does not implement, which
// silently ignoring would turn into wrong outputs.
func hfCheckUnsupported(text *hfFields) error {
	for _, key := range []string{"attn_logit_softcapping", "final_logit_softcapping"} {
		if raw, ok := text.get(key); ok {
			return fmt.Errorf("%s%s = %s: softcapping not supported", text.prefix, key, raw)
		}
	}
	if act := text.str("hidden_activation", "gelu_pytorch_tanh"); act != "gelu_pytorch_tanh" {
		return fmt.Errorf("%shidden_activation %q not supported (want gelu_pytorch_tanh)", text.prefix, act)
	}
	if text.bool("attention_bias", false) {
		return fmt.Errorf("%sattention_bias true not supported", text.prefix)
	}
	if text.bool("use_bidirectional_attention", false) {
		return fmt.Errorf("%suse_bidirectional_attention true not supported (an encoder setting)", text.prefix)
	}
	return text.err
}

// hfLayerKinds resolves layer kinds from layer_types or the sliding-window
// pattern (GEMMA3.md §2.1).
func hfLayerKinds(text *hfFields, layers int) ([]LayerKind, error) {
	if layers < 0 || layers > hfMaxLayers { // Validate reports <= 0; cap before allocating
		return nil, fmt.Errorf("%snum_hidden_layers = %d, want 1 to %d", text.prefix, layers, hfMaxLayers)
	}
	if raw, ok := text.get("layer_types"); ok {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("%slayer_types: want a list of strings, got %s", text.prefix, hfShort(raw))
		}
		if len(items) != layers {
			return nil, fmt.Errorf("%slayer_types has %d entries for %d layers", text.prefix, len(items), layers)
		}
		kinds := make([]LayerKind, layers)
		for i, item := range items {
			s, err := hfParseString(item)
			if err != nil {
				return nil, fmt.Errorf("%slayer_types[%d]: %w", text.prefix, i, err)
			}
			switch s {
			case hfSliding:
				kinds[i] = Sliding
			case hfFull:
				kinds[i] = Global
			default:
				return nil, fmt.Errorf("%slayer_types[%d] = %q, want %q or %q", text.prefix, i, s, hfSliding, hfFull)
			}
		}
		return kinds, nil
	}
	key := "sliding_window_pattern"
	if _, ok := text.get(key); !ok {
		key = "_sliding_window_pattern"
	}
	p := text.int(key, hfDefPattern)
	if text.err != nil {
		return nil, text.err
	}
	if p < 1 {
		return nil, fmt.Errorf("%s%s = %d, want >= 1", text.prefix, key, p)
	}
	return KindsFromPattern(layers, p), nil
}

// hfRopes resolves the global and sliding RoPE parameters (GEMMA3.md §2.1).
func hfRopes(text *hfFields) (global, local Rope, err error) {
	global = Rope{Base: text.float("rope_theta", hfDefRopeTheta), Factor: 1}
	local = Rope{Base: text.float("rope_local_base_freq", hfDefRopeLocal), Factor: 1}
	if text.err != nil {
		return Rope{}, Rope{}, text.err
	}
	if raw, ok := text.get("rope_scaling"); ok {
		rs, err := text.sub("rope_scaling", raw)
		if err != nil {
			return Rope{}, Rope{}, err
		}
		f, ok, err := hfRopeFactor(rs)
		if err != nil {
			return Rope{}, Rope{}, err
		}
		if !ok {
			return Rope{}, Rope{}, fmt.Errorf("%srope_scaling: missing rope_type", text.prefix)
		}
		global.Factor = f
	}
	raw, ok := text.get("rope_parameters")
	if !ok {
		return global, local, nil
	}
	rp, err := text.sub("rope_parameters", raw)
	if err != nil {
		return Rope{}, Rope{}, err
	}
	_, hasFull := rp.m[hfFull]
	_, hasSliding := rp.m[hfSliding]
	if !hasFull && !hasSliding {
		// A flat rope_parameters: the global layers' parameters.
		if err := hfApplyRopeParams(rp, &global); err != nil {
			return Rope{}, Rope{}, err
		}
		return global, local, nil
	}
	for _, k := range []struct {
		key string
		dst *Rope
	}{{hfFull, &global}, {hfSliding, &local}} {
		raw, ok := rp.get(k.key)
		if !ok {
			continue
		}
		sub, err := rp.sub(k.key, raw)
		if err != nil {
			return Rope{}, Rope{}, err
		}
		if err := hfApplyRopeParams(sub, k.dst); err != nil {
			return Rope{}, Rope{}, err
		}
	}
	return global, local, nil
}

// hfApplyRopeParams overrides dst with the fields one rope_parameters entry
// sets: rope_theta, and the scaling when a rope type is named.
func hfApplyRopeParams(o *hfFields, dst *Rope) error {
	dst.Base = o.float("rope_theta", dst.Base)
	if o.err != nil {
		return o.err
	}
	f, ok, err := hfRopeFactor(o)
	if err != nil {
		return err
	}
	if ok {
		dst.Factor = f
		return nil
	}
	if _, has := o.get("factor"); has {
		return fmt.Errorf("%sfactor given without rope_type", o.prefix)
	}
	return nil
}

// hfRopeFactor reads rope_type (or its older name type) and returns the
// linear factor it implies; ok is false when no type is named.
func hfRopeFactor(o *hfFields) (factor float64, ok bool, err error) {
	key := "rope_type"
	if _, has := o.get(key); !has {
		key = "type"
	}
	typ := o.str(key, "")
	if o.err != nil {
		return 0, false, o.err
	}
	switch typ {
	case "":
		return 0, false, nil
	case "default":
		return 1, true, nil
	case "linear":
		if _, has := o.get("factor"); !has {
			return 0, false, fmt.Errorf("%sfactor: missing for linear rope scaling", o.prefix)
		}
		f := o.float("factor", 1)
		if o.err != nil {
			return 0, false, o.err
		}
		if !(f > 0) {
			return 0, false, fmt.Errorf("%sfactor = %g, want > 0", o.prefix, f)
		}
		return f, true, nil
	}
	return 0, false, fmt.Errorf("%s%s %q not supported (only \"default\" and \"linear\")", o.prefix, key, typ)
}

// hfTokenID reads a special-token id from the text config, falling back to
// the top level and then to def.
func hfTokenID(text, top *hfFields, key string, def int) (int, error) {
	src := text
	if _, ok := text.get(key); !ok {
		src = top
	}
	id := src.int(key, def)
	if src.err != nil {
		return 0, src.err
	}
	if id < 0 {
		return 0, fmt.Errorf("%s%s = %d, want >= 0", src.prefix, key, id)
	}
	return id, nil
}

// hfEOSIDs gathers eos_token_id (an int or a list) from the text config and
// the top level, then adds <eos> and <end_of_turn>, without duplicates.
func hfEOSIDs(text, top *hfFields) ([]int, error) {
	var ids []int
	srcs := []*hfFields{text}
	if top != text {
		srcs = append(srcs, top)
	}
	for _, f := range srcs {
		raw, ok := f.get("eos_token_id")
		if !ok {
			continue
		}
		var items []json.RawMessage
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
			if err := json.Unmarshal(t, &items); err != nil {
				return nil, fmt.Errorf("%seos_token_id: %w", f.prefix, err)
			}
		} else {
			items = []json.RawMessage{raw}
		}
		for i, item := range items {
			id, err := hfParseInt(item)
			if err != nil {
				return nil, fmt.Errorf("%seos_token_id[%d]: %w", f.prefix, i, err)
			}
			if id < 0 {
				return nil, fmt.Errorf("%seos_token_id[%d] = %d, want >= 0", f.prefix, i, id)
			}
			ids = append(ids, id)
		}
	}
	ids = append(ids, hfDefEOS, hfEndOfTurn)
	out := ids[:0]
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// hfCheckpointDType returns the canonical name of the weights' dtype from
// dtype / torch_dtype (text config first, then top level): "bfloat16",
// "float16" or "float32" (also when absent).
func hfCheckpointDType(text, top *hfFields) (string, error) {
	for _, f := range []*hfFields{text, top} {
		for _, key := range []string{"dtype", "torch_dtype"} {
			if _, ok := f.get(key); !ok {
				continue
			}
			s := f.str(key, "")
			if f.err != nil {
				return "", f.err
			}
			d, ok := hfCanonicalDType(s)
			if !ok {
				return "", fmt.Errorf("%s%s %q not supported (want bfloat16, float16 or float32)", f.prefix, key, s)
			}
			return d, nil
		}
	}
	return "float32", nil
}

// hfCanonicalDType maps the usual spellings of a torch dtype to "bfloat16",
// "float16" or "float32".
func hfCanonicalDType(s string) (string, bool) {
	switch strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "torch.") {
	case "bfloat16", "bf16":
		return "bfloat16", true
	case "float16", "fp16", "f16", "half":
		return "float16", true
	case "float32", "fp32", "f32", "float", "", "auto":
		return "float32", true
	}
	return "", false
}

// EmbedScaleFor returns the embedding multiplier sqrt(hidden) as the
// reference computes it: in float32, then cast to the checkpoint dtype
// (GEMMA3.md §1.1). dtype is a torch dtype name such as "bfloat16"
// (round to nearest even bf16), "float16" (f16) or "float32"; empty or
// unknown names give the float32 value. hidden 2560 gives 50.5 for bf16.
func EmbedScaleFor(hidden int, dtype string) float32 {
	s := float32(math.Sqrt(float64(hidden)))
	d, _ := hfCanonicalDType(dtype)
	switch d {
	case "bfloat16":
		return hfRoundBF16(s)
	case "float16":
		return hfRoundF16(s)
	}
	return s
}

// hfRoundBF16 rounds x to the nearest bfloat16 value (ties to even),
// returned as float32.
func hfRoundBF16(x float32) float32 {
	return hfRoundSignificand(x, 8, -126, 0x1.fep127)
}

// hfRoundF16 rounds x to the nearest IEEE binary16 value (ties to even,
// subnormals kept, overflow to infinity), returned as float32.
func hfRoundF16(x float32) float32 {
	return hfRoundSignificand(x, 11, -14, 65504)
}

// hfRoundSignificand rounds x to a binary format with p significand bits
// (implicit bit included), minimum normal exponent minExp and largest finite
// value maxFinite, ties to even. Values rounding above maxFinite become
// infinite.
func hfRoundSignificand(x float32, p, minExp int, maxFinite float64) float32 {
	v := float64(x)
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return x
	}
	a := math.Abs(v)
	_, exp := math.Frexp(a) // a = frac·2^exp, frac in [0.5, 1)
	e := max(exp-1, minExp)
	q := math.Ldexp(1, e-(p-1)) // weight of the last kept bit
	r := math.RoundToEven(a/q) * q
	if r > maxFinite {
		r = math.Inf(1)
	}
	return float32(math.Copysign(r, v))
}

// hfFields is one JSON object of the config with a sticky first error. Its
// getters return the default when the key is absent or null.
type hfFields struct {
	prefix string // key path for errors, e.g. "text_config."
	m      map[string]json.RawMessage
	err    error
}

func newHFFields(prefix string, raw []byte) (*hfFields, error) {
	var m map[string]json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		if prefix == "" {
			if !json.Valid(raw) {
				return nil, errors.New("invalid JSON")
			}
			return nil, errors.New("not a JSON object")
		}
		return nil, fmt.Errorf("%s: want an object, got %s", strings.TrimSuffix(prefix, "."), hfShort(raw))
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		if prefix == "" {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		return nil, fmt.Errorf("%s: %w", strings.TrimSuffix(prefix, "."), err)
	}
	return &hfFields{prefix: prefix, m: m}, nil
}

// sub returns the nested object under key.
func (f *hfFields) sub(key string, raw json.RawMessage) (*hfFields, error) {
	return newHFFields(f.prefix+key+".", raw)
}

// get returns the raw value of key, with ok false when absent or null.
func (f *hfFields) get(key string) (json.RawMessage, bool) {
	raw, ok := f.m[key]
	if !ok || hfIsNull(raw) {
		return nil, false
	}
	return raw, true
}

func (f *hfFields) fail(key string, err error) {
	if f.err == nil {
		f.err = fmt.Errorf("%s%s: %w", f.prefix, key, err)
	}
}

func (f *hfFields) int(key string, def int) int {
	raw, ok := f.get(key)
	if !ok || f.err != nil {
		return def
	}
	v, err := hfParseInt(raw)
	if err != nil {
		f.fail(key, err)
		return def
	}
	return v
}

func (f *hfFields) float(key string, def float64) float64 {
	raw, ok := f.get(key)
	if !ok || f.err != nil {
		return def
	}
	v, err := hfParseFloat(raw)
	if err != nil {
		f.fail(key, err)
		return def
	}
	return v
}

func (f *hfFields) str(key, def string) string {
	raw, ok := f.get(key)
	if !ok || f.err != nil {
		return def
	}
	v, err := hfParseString(raw)
	if err != nil {
		f.fail(key, err)
		return def
	}
	return v
}

func (f *hfFields) bool(key string, def bool) bool {
	raw, ok := f.get(key)
	if !ok || f.err != nil {
		return def
	}
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true
	case "false":
		return false
	}
	f.fail(key, fmt.Errorf("want a boolean, got %s", hfShort(raw)))
	return def
}

func hfIsNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// hfNumberText returns raw as number text, or an error when raw is not a
// JSON number (strings holding digits included).
func hfNumberText(raw json.RawMessage, want string) (string, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) {
		return "", fmt.Errorf("want %s, got %s", want, hfShort(raw))
	}
	return string(t), nil
}

// hfParseInt accepts a JSON integer, or a number with an integral value that
// fits in int (such as 6.0).
func hfParseInt(raw json.RawMessage) (int, error) {
	s, err := hfNumberText(raw, "an integer")
	if err != nil {
		return 0, err
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		if v < math.MinInt || v > math.MaxInt {
			return 0, fmt.Errorf("%s out of range", s)
		}
		return int(v), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("want an integer, got %s", hfShort(raw))
	}
	return int(f), nil
}

// hfParseFloat accepts a finite JSON number.
func hfParseFloat(raw json.RawMessage) (float64, error) {
	s, err := hfNumberText(raw, "a number")
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("want a finite number, got %s", hfShort(raw))
	}
	return v, nil
}

func hfParseString(raw json.RawMessage) (string, error) {
	var s string
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '"' || json.Unmarshal(t, &s) != nil {
		return "", fmt.Errorf("want a string, got %s", hfShort(raw))
	}
	return s, nil
}

// hfShort returns raw JSON trimmed for an error message.
func hfShort(raw []byte) string {
	t := bytes.TrimSpace(raw)
	if len(t) > 40 {
		return string(t[:40]) + "..."
	}
	return string(t)
}
