package gemma3

import (
	"fmt"
	"math"

	"gemmavk/gguf"
	"gemmavk/internal/checkpoint"
	"gemmavk/kernels/quant"
	"gemmavk/tokenizer"
)

// ggufSource reads tensors from a GGUF file, reversing ggml's dimension
// order into PyTorch's.
type ggufSource struct{ f *gguf.File }

func (s ggufSource) gainOffset() float32 { return 0 }

func (s ggufSource) tensor(name string) (checkpoint.Tensor, bool, error) {
	return checkpoint.FromGGUF(s.f, name)
}

// loadGGUF opens a llama.cpp Gemma 3 text GGUF.
func loadGGUF(path string) (*Model, error) {
	return checkpoint.OpenGGUF(path, modelFromGGUF)
}

// modelFromGGUF builds the model of a text GGUF; the model keeps f and
// closes it in Close.
func modelFromGGUF(f *gguf.File) (*Model, error) {
	if arch, _ := f.String("general.architecture"); arch != "gemma3" {
		return nil, fmt.Errorf("architecture %q, want gemma3", arch)
	}
	cfg, err := configFromGGUF(f)
	if err != nil {
		return nil, err
	}
	w, err := loadWeights(&cfg, ggufSource{f}, func(s tensorSpec) string { return s.gguf })
	if err != nil {
		return nil, err
	}
	cfg.EmbedScale = embedScale(cfg.Hidden, w.Embed.Type)
	m := &Model{Config: cfg, Weights: w, closers: checkpoint.Closers{f}}
	if _, ok := f.Get("tokenizer.ggml.model"); !ok {
		return m, nil // a bare test model: ids in, logits out
	}
	tok, err := tokenizerFromGGUF(f)
	if err != nil {
		return nil, err
	}
	if tok.Len() != cfg.Vocab {
		return nil, fmt.Errorf("tokenizer has %d tokens, embedding table %d rows", tok.Len(), cfg.Vocab)
	}
	if id := tok.EOS(); id >= 0 {
		m.Config.EOS = addStop(m.Config.EOS, id)
	}
	m.Tokenizer = tok
	return m, nil
}

// configFromGGUF reads the gemma3.* keys (FORMATS.md §3.2, §3.3). Missing
// keys take llama.cpp's defaults.
func configFromGGUF(f *gguf.File) (Config, error) {
	u := func(key string, def int) int {
		if v, ok := f.Uint("gemma3." + key); ok && v < math.MaxInt32 {
			return int(v)
		}
		return def
	}
	fl := func(key string, def float64) float64 {
		if v, ok := f.Float("gemma3." + key); ok {
			return v
		}
		return def
	}
	c := Config{
		Hidden:       u("embedding_length", 0),
		Intermediate: u("feed_forward_length", 0),
		Layers:       u("block_count", 0),
		Heads:        u("attention.head_count", 0),
		HeadDim:      u("attention.key_length", 256),
		MaxPositions: u("context_length", 131072),
		RMSEps:       fl("attention.layer_norm_rms_epsilon", 1e-6),
		RopeGlobal:   Rope{Base: fl("rope.freq_base", 10000), Factor: 1},
		RopeLocal:    Rope{Base: fl("rope.freq_base_swa", 10000), Factor: 1},
		BOS:          2,
		EOS:          []int{1, 106},
	}
	c.KVHeads = u("attention.head_count_kv", c.Heads)
	if v, ok := f.Uint("gemma3.attention.value_length"); ok && int(v) != c.HeadDim {
		return c, fmt.Errorf("value_length %d differs from key_length %d", v, c.HeadDim)
	}
	if typ, ok := f.String("gemma3.rope.scaling.type"); ok && typ != "linear" && typ != "none" {
		return c, fmt.Errorf("rope scaling %q not supported", typ)
	}
	if typ, _ := f.String("gemma3.rope.scaling.type"); typ != "none" {
		c.RopeGlobal.Factor = fl("rope.scaling.factor", 1)
	}
	if v := fl("final_logit_softcapping", 0); v != 0 {
		return c, fmt.Errorf("final logit softcapping %g not supported", v)
	}
	// Layer kinds: a window enables the 5:1 pattern unless the file spells
	// out its own (FORMATS.md §3.3).
	c.SlidingWindow = u("attention.sliding_window", 0)
	switch {
	case c.SlidingWindow == 0:
		c.SlidingWindow = c.MaxPositions
		c.Kinds = KindsFromPattern(c.Layers, 1)
	default:
		c.Kinds = KindsFromPattern(c.Layers, u("attention.sliding_window_pattern", 6))
		if v, ok := f.Get("gemma3.attention.sliding_window_pattern"); ok {
			if sw, ok := v.V.([]bool); ok {
				if len(sw) != c.Layers {
					return c, fmt.Errorf("sliding_window_pattern has %d entries for %d layers", len(sw), c.Layers)
				}
				for i, s := range sw {
					c.Kinds[i] = Global
					if s {
						c.Kinds[i] = Sliding
					}
				}
			}
		}
	}
	// GGUF carries no query_pre_attn_scalar. Every released size uses
	// head_dim except the 27B geometry (hidden 5376, 32 heads of 128),
	// whose scalar is hidden/heads = 168 (GEMMA3.md §1.4, FORMATS.md §3.3).
	c.QueryPreAttnScalar = float64(c.HeadDim)
	if c.Hidden == 5376 && c.Heads == 32 && c.HeadDim == 128 {
		c.QueryPreAttnScalar = float64(c.Hidden / c.Heads)
	}
	if s := fl("attention.scale", 0); s > 0 { // an explicit scale wins
		c.QueryPreAttnScalar = 1 / (s * s)
	}
	if info, ok := f.Tensor("token_embd.weight"); ok && len(info.Dims) == 2 && info.Dims[1] < math.MaxInt32 {
		c.Vocab = int(info.Dims[1])
	}
	c.EmbedScale = float32(math.Sqrt(float64(c.Hidden)))
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// tokenizerFromGGUF builds the SentencePiece vocabulary stored in
// tokenizer.ggml.* (FORMATS.md §4.1).
func tokenizerFromGGUF(f *gguf.File) (*tokenizer.Tokenizer, error) {
	if model, _ := f.String("tokenizer.ggml.model"); model != "llama" {
		return nil, fmt.Errorf("tokenizer model %q, want llama (SentencePiece)", model)
	}
	tokens, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok {
		return nil, fmt.Errorf("tokenizer.ggml.tokens missing")
	}
	scores, ok := f.Float32s("tokenizer.ggml.scores")
	if !ok {
		return nil, fmt.Errorf("tokenizer.ggml.scores missing")
	}
	types32, ok := f.Int32s("tokenizer.ggml.token_type")
	if !ok {
		return nil, fmt.Errorf("tokenizer.ggml.token_type missing")
	}
	types := make([]tokenizer.TokenType, len(types32))
	for i, t := range types32 {
		types[i] = tokenizer.TokenType(t)
	}
	id := func(key string, def int) int {
		if v, ok := f.Int("tokenizer.ggml." + key); ok && v < math.MaxInt32 {
			return int(v)
		}
		return def
	}
	prefix, ok := f.Bool("tokenizer.ggml.add_space_prefix")
	if !ok {
		prefix = true // llama.cpp's default when the key is absent
	}
	return tokenizer.New(tokenizer.Vocab{
		Tokens: tokens, Scores: scores, Types: types,
		BOS: id("bos_token_id", 2), EOS: id("eos_token_id", 1), UNK: id("unknown_token_id", 3), PAD: id("padding_token_id", 0),
		AddSpacePrefix: prefix,
	})
}

// embedScale is sqrt(hidden) rounded the way the reference computes it: HF
// casts the scale to the embedding's dtype (GEMMA3.md §1.1). F32 tables mean
// an f32 checkpoint; F16 rounds to f16; BF16 and quantized tables come from
// the released bf16 checkpoints, so they get the bf16-rounded value.
func embedScale(hidden int, t quant.Type) float32 {
	s := float32(math.Sqrt(float64(hidden)))
	switch t {
	case quant.F32:
		return s
	case quant.F16:
		return quant.F16ToF32(quant.F32ToF16(s))
	}
	return quant.BF16ToF32(quant.F32ToBF16(s))
}

// addStop appends id to the stop list unless present.
func addStop(stops []int, id int) []int {
	for _, s := range stops {
		if s == id {
			return stops
		}
	}
	return append(stops, id)
}
