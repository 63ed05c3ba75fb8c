package gemma3

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// globalsAt returns layer kinds with the given layers global.
func globalsAt(layers int, globals ...int) []LayerKind {
	k := make([]LayerKind, layers)
	for _, g := range globals {
		k[g] = Global
	}
	return k
}

// tinyConfig is what the text-tiny / vlm-tiny fixtures describe.
func tinyConfig() Config {
	return Config{
		Vocab: 1024, Hidden: 128, Intermediate: 384, Layers: 7, Heads: 4, KVHeads: 2, HeadDim: 32,
		QueryPreAttnScalar: 32, SlidingWindow: 6, Kinds: globalsAt(7, 5),
		RopeGlobal: Rope{Base: 1e6, Factor: 8}, RopeLocal: Rope{Base: 1e4, Factor: 1},
		RMSEps: 1e-6, MaxPositions: 512, EmbedScale: float32(math.Sqrt(128)),
		BOS: 2, EOS: []int{1, 106}, PAD: 0,
	}
}

// defaultConfig is Gemma3TextConfig with nothing overridden.
func defaultConfig() Config {
	return Config{
		Vocab: 262208, Hidden: 2304, Intermediate: 9216, Layers: 26, Heads: 8, KVHeads: 4, HeadDim: 256,
		QueryPreAttnScalar: 256, SlidingWindow: 4096, Kinds: globalsAt(26, 5, 11, 17, 23),
		RopeGlobal: Rope{Base: 1e6, Factor: 1}, RopeLocal: Rope{Base: 1e4, Factor: 1},
		RMSEps: 1e-6, MaxPositions: 131072, EmbedScale: 48, // sqrt(2304) = 48 exactly
		BOS: 2, EOS: []int{1, 106}, PAD: 0,
	}
}

func with(c Config, f func(*Config)) Config { f(&c); return c }

// readFixture reads a file of testdata/text-tiny (a copy of the shared HF
// fixture); without it the test skips, or fails under
// GEMMAVK_REQUIRE_ASSETS=1.
func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "text-tiny", name))
	if err != nil {
		if os.Getenv("GEMMAVK_REQUIRE_ASSETS") == "1" {
			t.Fatal(err)
		}
		t.Skipf("fixture not available: %v", err)
	}
	return data
}

// vlmTinyConfig is the shared fixture vlm-tiny/config.json, verbatim: a
// Gemma3ForConditionalGeneration around the text-tiny decoder.
const vlmTinyConfig = `{
 "architectures": [
  "Gemma3ForConditionalGeneration"
 ],
 "model_type": "gemma3",
 "text_config": {
  "architectures": [
   "Gemma3ForCausalLM"
  ],
  "model_type": "gemma3_text",
  "vocab_size": 1024,
  "hidden_size": 128,
  "intermediate_size": 384,
  "num_hidden_layers": 7,
  "num_attention_heads": 4,
  "num_key_value_heads": 2,
  "head_dim": 32,
  "query_pre_attn_scalar": 32,
  "sliding_window": 6,
  "sliding_window_pattern": 6,
  "rope_theta": 1000000.0,
  "rope_local_base_freq": 10000.0,
  "rope_scaling": {
   "rope_type": "linear",
   "factor": 8.0
  },
  "rms_norm_eps": 1e-06,
  "hidden_activation": "gelu_pytorch_tanh",
  "final_logit_softcapping": null,
  "attn_logit_softcapping": null,
  "max_position_embeddings": 512,
  "tie_word_embeddings": true,
  "bos_token_id": 2,
  "eos_token_id": 1,
  "pad_token_id": 0
 },
 "vision_config": {
  "model_type": "siglip_vision_model",
  "hidden_size": 64,
  "intermediate_size": 160,
  "num_hidden_layers": 3,
  "num_attention_heads": 4,
  "image_size": 64,
  "patch_size": 8,
  "layer_norm_eps": 1e-06,
  "hidden_act": "gelu_pytorch_tanh",
  "num_channels": 3,
  "vision_use_head": false
 },
 "mm_tokens_per_image": 16,
 "boi_token_index": 1000,
 "eoi_token_index": 1001,
 "image_token_index": 1002
}`

func TestParseHFConfigFixtures(t *testing.T) {
	textConfig := readFixture(t, "config.json")
	textLoaded := readFixture(t, "hf_config_as_loaded.json")
	for name, data := range map[string]string{
		"text-tiny/config.json":               string(textConfig),
		"text-tiny/hf_config_as_loaded.json":  string(textLoaded),
		"vlm-tiny/config.json":                vlmTinyConfig,
		"vlm-tiny as loaded (v5 text_config)": `{"architectures": null, "dtype": null, "model_type": "gemma3", "text_config": ` + string(textLoaded) + `, "mm_tokens_per_image": 16}`,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseHFConfig([]byte(data))
			if err != nil {
				t.Fatal(err)
			}
			got.Image = ImageConfig{} // image ids: TestHFImageConfig
			if want := tinyConfig(); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// The 270M config as published (transformers 4.55: layer_types plus
// _sliding_window_pattern, rope_scaling null).
const cfg270M = `{
  "_sliding_window_pattern": 6,
  "architectures": ["Gemma3ForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "attn_logit_softcapping": null,
  "bos_token_id": 2,
  "eos_token_id": 1,
  "final_logit_softcapping": null,
  "head_dim": 256,
  "hidden_activation": "gelu_pytorch_tanh",
  "hidden_size": 640,
  "initializer_range": 0.02,
  "intermediate_size": 2048,
  "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention",
    "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "sliding_attention",
    "sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention",
    "sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
  "max_position_embeddings": 32768,
  "model_type": "gemma3_text",
  "num_attention_heads": 4,
  "num_hidden_layers": 18,
  "num_key_value_heads": 1,
  "pad_token_id": 0,
  "query_pre_attn_scalar": 256,
  "rms_norm_eps": 1e-06,
  "rope_local_base_freq": 10000.0,
  "rope_scaling": null,
  "rope_theta": 1000000.0,
  "sliding_window": 512,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.55.0.dev0",
  "use_bidirectional_attention": false,
  "use_cache": true,
  "vocab_size": 262144
}`

var want270M = Config{
	Vocab: 262144, Hidden: 640, Intermediate: 2048, Layers: 18, Heads: 4, KVHeads: 1, HeadDim: 256,
	QueryPreAttnScalar: 256, SlidingWindow: 512, Kinds: globalsAt(18, 5, 11, 17),
	RopeGlobal: Rope{Base: 1e6, Factor: 1}, RopeLocal: Rope{Base: 1e4, Factor: 1},
	RMSEps: 1e-6, MaxPositions: 32768, EmbedScale: 25.25,
	BOS: 2, EOS: []int{1, 106}, PAD: 0,
}

// The 1B config in the March-2025 encoding (sliding_window_pattern).
const cfg1B = `{
  "architectures": ["Gemma3ForCausalLM"],
  "attention_bias": false, "attention_dropout": 0.0, "attn_logit_softcapping": null,
  "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": [1, 106],
  "final_logit_softcapping": null, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
  "hidden_size": 1152, "initializer_range": 0.02, "intermediate_size": 6912,
  "max_position_embeddings": 32768, "model_type": "gemma3_text", "num_attention_heads": 4,
  "num_hidden_layers": 26, "num_key_value_heads": 1, "pad_token_id": 0,
  "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000,
  "rope_scaling": null, "rope_theta": 1000000, "sliding_window": 512,
  "sliding_window_pattern": 6, "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0",
  "use_cache": true, "vocab_size": 262144
}`

var want1B = Config{
	Vocab: 262144, Hidden: 1152, Intermediate: 6912, Layers: 26, Heads: 4, KVHeads: 1, HeadDim: 256,
	QueryPreAttnScalar: 256, SlidingWindow: 512, Kinds: globalsAt(26, 5, 11, 17, 23),
	RopeGlobal: Rope{Base: 1e6, Factor: 1}, RopeLocal: Rope{Base: 1e4, Factor: 1},
	RMSEps: 1e-6, MaxPositions: 32768, EmbedScale: 34,
	BOS: 2, EOS: []int{1, 106}, PAD: 0,
}

// A 27B-like multimodal config whose text_config lists only what differs
// from the defaults, as on the Hub.
const cfg27B = `{
  "architectures": ["Gemma3ForConditionalGeneration"],
  "boi_token_index": 255999, "eoi_token_index": 256000, "eos_token_id": [1, 106],
  "image_token_index": 262144, "initializer_range": 0.02, "mm_tokens_per_image": 256,
  "model_type": "gemma3",
  "text_config": {
    "head_dim": 128, "hidden_size": 5376, "intermediate_size": 21504, "model_type": "gemma3_text",
    "num_attention_heads": 32, "num_hidden_layers": 62, "num_key_value_heads": 16,
    "query_pre_attn_scalar": 168, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
    "sliding_window": 1024
  },
  "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0",
  "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
    "model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27,
    "patch_size": 14, "vision_use_head": false}
}`

var want27B = Config{
	Vocab: 262208, Hidden: 5376, Intermediate: 21504, Layers: 62, Heads: 32, KVHeads: 16, HeadDim: 128,
	QueryPreAttnScalar: 168, SlidingWindow: 1024, Kinds: globalsAt(62, 5, 11, 17, 23, 29, 35, 41, 47, 53, 59),
	RopeGlobal: Rope{Base: 1e6, Factor: 8}, RopeLocal: Rope{Base: 1e4, Factor: 1},
	RMSEps: 1e-6, MaxPositions: 131072, EmbedScale: 73.5,
	BOS: 2, EOS: []int{1, 106}, PAD: 0,
}

// small is a compact valid text config that the cases below extend.
func small(extra string) string {
	s := `{"vocab_size": 300, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 7,
	"num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "sliding_window": 8`
	if extra != "" {
		s += ", " + extra
	}
	return s + "}"
}

func smallConfig() Config {
	return with(defaultConfig(), func(c *Config) {
		c.Vocab, c.Hidden, c.Intermediate, c.Layers, c.Heads, c.KVHeads, c.HeadDim = 300, 64, 96, 7, 2, 1, 16
		c.SlidingWindow, c.Kinds, c.EmbedScale = 8, globalsAt(7, 5), 8
	})
}

func TestParseHFConfig(t *testing.T) {
	sm := smallConfig()
	cases := []struct {
		name string
		json string
		want Config
	}{
		{"270M layer_types", cfg270M, want270M},
		{"1B sliding_window_pattern", cfg1B, want1B},
		{"27B sparse text_config", cfg27B, with(want27B, func(c *Config) { c.Image = ImageConfig{262144, 255999, 256000, 256} })},
		{"empty text config", `{}`, defaultConfig()},
		{"multimodal without text_config", `{"model_type": "gemma3"}`, defaultConfig()},
		{"multimodal by architecture", `{"architectures": ["Gemma3ForConditionalGeneration"], "hidden_size": 7}`, defaultConfig()},
		{"null text_config", `{"text_config": null, "hidden_size": 64, "intermediate_size": 96}`,
			with(defaultConfig(), func(c *Config) { c.Hidden, c.Intermediate, c.EmbedScale = 64, 96, 8 })},
		{"small", small(""), sm},
		{"layer_types win over the pattern", small(`"sliding_window_pattern": 6, "layer_types": ["full_attention",
			"sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "full_attention"]`),
			with(sm, func(c *Config) { c.Kinds = globalsAt(7, 0, 3, 6) })},
		{"pattern 3", small(`"sliding_window_pattern": 3`), with(sm, func(c *Config) { c.Kinds = globalsAt(7, 2, 5) })},
		{"_pattern 2", small(`"_sliding_window_pattern": 2`), with(sm, func(c *Config) { c.Kinds = globalsAt(7, 1, 3, 5) })},
		{"pattern beats _pattern", small(`"sliding_window_pattern": 3, "_sliding_window_pattern": 2`),
			with(sm, func(c *Config) { c.Kinds = globalsAt(7, 2, 5) })},
		{"pattern 1 all global", small(`"sliding_window_pattern": 1`),
			with(sm, func(c *Config) { c.Kinds = globalsAt(7, 0, 1, 2, 3, 4, 5, 6) })},
		{"v5 rope_parameters per kind", small(`"rope_parameters": {
			"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 500000.0},
			"sliding_attention": {"rope_type": "default", "rope_theta": 20000.0}}`),
			with(sm, func(c *Config) { c.RopeGlobal, c.RopeLocal = Rope{5e5, 8}, Rope{2e4, 1} })},
		{"rope_parameters types only, thetas at top", small(`"rope_theta": 500000, "rope_local_base_freq": 20000,
			"rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 4}, "sliding_attention": {"rope_type": "default"}}`),
			with(sm, func(c *Config) { c.RopeGlobal, c.RopeLocal = Rope{5e5, 4}, Rope{2e4, 1} })},
		{"rope_parameters theta only, scaling from rope_scaling", small(`"rope_scaling": {"rope_type": "linear", "factor": 8},
			"rope_parameters": {"full_attention": {"rope_theta": 2e6}}`),
			with(sm, func(c *Config) { c.RopeGlobal = Rope{2e6, 8} })},
		{"rope_parameters default overrides rope_scaling", small(`"rope_scaling": {"rope_type": "linear", "factor": 8},
			"rope_parameters": {"full_attention": {"rope_type": "default"}}`), sm},
		{"sliding scaled only when rope_parameters says so", small(`"rope_scaling": {"type": "linear", "factor": 8},
			"rope_parameters": {"sliding_attention": {"rope_type": "linear", "factor": 2}}`),
			with(sm, func(c *Config) { c.RopeGlobal, c.RopeLocal = Rope{1e6, 8}, Rope{1e4, 2} })},
		{"rope_scaling old type key", small(`"rope_scaling": {"type": "linear", "factor": 8}`),
			with(sm, func(c *Config) { c.RopeGlobal.Factor = 8 })},
		{"rope_scaling default", small(`"rope_scaling": {"rope_type": "default"}`), sm},
		{"flat rope_parameters are global", small(`"rope_parameters": {"rope_type": "linear", "factor": 4, "rope_theta": 2e6}`),
			with(sm, func(c *Config) { c.RopeGlobal = Rope{2e6, 4} })},
		{"eos int", small(`"eos_token_id": 106`), with(sm, func(c *Config) { c.EOS = []int{106, 1} })},
		{"eos list keeps order", small(`"eos_token_id": [50, 1, 50]`), with(sm, func(c *Config) { c.EOS = []int{50, 1, 106} })},
		{"eos text and top merged", `{"model_type": "gemma3", "eos_token_id": [1, 106, 7], "text_config": ` + small(`"eos_token_id": 9`) + `}`,
			with(sm, func(c *Config) { c.EOS = []int{9, 1, 106, 7} })},
		{"bos pad from top level", `{"bos_token_id": 5, "text_config": ` + small(`"pad_token_id": 3`) + `, "pad_token_id": 4}`,
			with(sm, func(c *Config) { c.BOS, c.PAD = 5, 3 })},
		{"float16 scale", small(`"hidden_size": 640, "torch_dtype": "float16"`),
			with(sm, func(c *Config) { c.Hidden, c.EmbedScale = 640, 25.296875 })},
		{"dtype beats torch_dtype", small(`"hidden_size": 640, "dtype": "float32", "torch_dtype": "bfloat16"`),
			with(sm, func(c *Config) { c.Hidden, c.EmbedScale = 640, float32(math.Sqrt(640)) })},
		{"dtype at top for text_config", `{"torch_dtype": "bfloat16", "text_config": ` + small(`"hidden_size": 640`) + `}`,
			with(sm, func(c *Config) { c.Hidden, c.EmbedScale = 640, 25.25 })},
		{"integral floats for ints", small(`"num_hidden_layers": 7.0, "max_position_embeddings": 1e3`),
			with(sm, func(c *Config) { c.MaxPositions = 1000 })},
		{"nulls are defaults", small(`"rms_norm_eps": null, "rope_theta": null, "head_dim": null`),
			with(sm, func(c *Config) { c.HeadDim = 256 })},
		{"unknown keys ignored", small(`"foo": {"bar": [1, "x"]}, "hidden_act": "gelu", "use_cache": "maybe"`), sm},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseHFConfig([]byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
	got, err := ParseHFConfig([]byte(cfg27B))
	if err != nil {
		t.Fatal(err)
	}
	if s := got.AttnScale(); math.Abs(s-0.077152) > 1e-6 {
		t.Errorf("27B attention scale %g", s)
	}
	if got.Kinds[61] != Sliding || got.Kinds[59] != Global {
		t.Error("27B: layer 59 should be the last global layer")
	}
}

func TestParseHFConfigErrors(t *testing.T) {
	cases := []struct {
		name, json, want string
	}{
		{"attn softcap", small(`"attn_logit_softcapping": 50.0`), "attn_logit_softcapping = 50.0: softcapping not supported"},
		{"final softcap", small(`"final_logit_softcapping": 30`), "final_logit_softcapping = 30: softcapping not supported"},
		{"softcap in text_config", `{"text_config": ` + small(`"final_logit_softcapping": 30`) + `}`, "text_config.final_logit_softcapping"},
		{"layer_types short", small(`"layer_types": ["sliding_attention", "full_attention"]`), "layer_types has 2 entries for 7 layers"},
		{"layer_types value", small(`"layer_types": ["sliding_attention", "sliding_attention", "sliding_attention",
			"sliding_attention", "sliding_attention", "chunked_attention", "sliding_attention"]`), `layer_types[5] = "chunked_attention"`},
		{"layer_types number", small(`"layer_types": ["sliding_attention", 1, "sliding_attention",
			"sliding_attention", "sliding_attention", "full_attention", "sliding_attention"]`), "layer_types[1]: want a string"},
		{"layer_types not a list", small(`"layer_types": "full_attention"`), "layer_types: want a list"},
		{"yarn", small(`"rope_scaling": {"rope_type": "yarn", "factor": 8}`), `rope_scaling.rope_type "yarn" not supported`},
		{"dynamic type key", small(`"rope_scaling": {"type": "dynamic", "factor": 2}`), `rope_scaling.type "dynamic" not supported`},
		{"llama3 in rope_parameters", small(`"rope_parameters": {"full_attention": {"rope_type": "llama3", "factor": 8}}`),
			`rope_parameters.full_attention.rope_type "llama3" not supported`},
		{"linear without factor", small(`"rope_scaling": {"rope_type": "linear"}`), "rope_scaling.factor: missing"},
		{"zero factor", small(`"rope_scaling": {"rope_type": "linear", "factor": 0}`), "rope_scaling.factor = 0"},
		{"factor without type", small(`"rope_parameters": {"sliding_attention": {"factor": 2}}`), "rope_parameters.sliding_attention.factor given without rope_type"},
		{"rope_scaling without type", small(`"rope_scaling": {"factor": 8}`), "rope_scaling: missing rope_type"},
		{"rope_scaling not object", small(`"rope_scaling": 8`), "rope_scaling: want an object"},
		{"string for int", small(`"num_attention_heads": "2"`), `num_attention_heads: want an integer, got "2"`},
		{"string for int nested", `{"text_config": {"hidden_size": "640"}}`, `text_config.hidden_size: want an integer, got "640"`},
		{"string for float", small(`"rope_theta": "1e6"`), `rope_theta: want a number, got "1e6"`},
		{"string for factor", small(`"rope_scaling": {"rope_type": "linear", "factor": "8"}`), "rope_scaling.factor: want a number"},
		{"fraction for int", small(`"num_hidden_layers": 7.5`), "num_hidden_layers: want an integer, got 7.5"},
		{"bool for int", small(`"sliding_window": true`), "sliding_window: want an integer, got true"},
		{"number for string", small(`"rope_scaling": {"rope_type": 1, "factor": 8}`), "rope_scaling.rope_type: want a string"},
		{"eos string", small(`"eos_token_id": "1"`), "eos_token_id[0]: want an integer"},
		{"eos negative", small(`"eos_token_id": [-1]`), "eos_token_id[0] = -1"},
		{"bos negative", small(`"bos_token_id": -2`), "bos_token_id = -2"},
		{"invalid JSON", `{"hidden_size": 64,`, "invalid JSON"},
		{"not an object", `[1, 2]`, "not a JSON object"},
		{"text_config not object", `{"text_config": [1]}`, "text_config: want an object"},
		{"heads not divisible", small(`"num_key_value_heads": 3`), "not divisible"},
		{"zero layers", small(`"num_hidden_layers": 0`), "num_hidden_layers = 0"},
		{"huge layers", small(`"num_hidden_layers": 1000000000`), "num_hidden_layers = 1000000000"},
		{"pattern 0", small(`"sliding_window_pattern": 0`), "sliding_window_pattern = 0"},
		{"sliding_window null", small(`"sliding_window": null`), "sliding_window: null"},
		{"activation", small(`"hidden_activation": "gelu"`), `hidden_activation "gelu" not supported`},
		{"attention bias", small(`"attention_bias": true`), "attention_bias"},
		{"bidirectional", small(`"use_bidirectional_attention": true`), "use_bidirectional_attention"},
		{"bias not bool", small(`"attention_bias": "no"`), "attention_bias: want a boolean"},
		{"dtype unknown", small(`"torch_dtype": "int8"`), `torch_dtype "int8" not supported`},
		{"dtype number", small(`"dtype": 5`), "dtype: want a string"},
		{"model_type number", `{"model_type": 3}`, "model_type: want a string"},
		{"theta out of range", small(`"rope_theta": 1e999`), "rope_theta: want a finite number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseHFConfig([]byte(c.json))
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "gemma3: config") {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestEmbedScaleFor(t *testing.T) {
	for _, c := range []struct {
		hidden int
		dtype  string
		want   float32
	}{
		{640, "bfloat16", 25.25}, {1152, "bfloat16", 34}, {2560, "bfloat16", 50.5},
		{3840, "bfloat16", 62}, {5376, "torch.bfloat16", 73.5}, {640, "bf16", 25.25},
		{640, "float16", 25.296875}, {2560, "half", 50.59375},
		{640, "float32", float32(math.Sqrt(640))}, {640, "", float32(math.Sqrt(640))},
		{128, "nonsense", float32(math.Sqrt(128))}, {2304, "bfloat16", 48},
	} {
		if got := EmbedScaleFor(c.hidden, c.dtype); got != c.want {
			t.Errorf("EmbedScaleFor(%d, %q) = %v, want %v", c.hidden, c.dtype, got, c.want)
		}
	}
}

// bf16Reference rounds with the usual bit manipulation (ties to even).
func bf16Reference(x float32) float32 {
	b := math.Float32bits(x)
	if math.IsNaN(float64(x)) {
		return x
	}
	b += 0x7fff + (b>>16)&1
	return math.Float32frombits(b &^ 0xffff)
}

func TestRounding(t *testing.T) {
	p := func(e int) float32 { return float32(math.Ldexp(1, e)) }
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		in, bf16, f16 float32
	}{
		{1, 1, 1},
		{1 + p(-8), 1, 1 + p(-8)},             // bf16 tie to even
		{1 + 3*p(-8), 1 + p(-6), 1 + 3*p(-8)}, // bf16 tie up to even
		{1 + p(-11), 1, 1},                    // f16 tie to even
		{1 + 3*p(-11), 1, 1 + p(-9)},          // f16 tie up to even
		{65504, 65536, 65504},                 // f16 max
		{65519, 65536, 65504},                 // below the f16 halfway point
		{65520, 65536, inf},                   // f16 overflow
		{-65520, -65536, -inf},                //
		{p(-24), p(-24), p(-24)},              // smallest f16 subnormal
		{p(-25), p(-25), 0},                   // tie to even zero
		{3 * p(-26), 3 * p(-26), p(-24)},      // rounds up
		{3 * p(-25), 3 * p(-25), 2 * p(-24)},  // subnormal tie to even
		{-1.00048828125, -1, -1},              // sign kept
		{math.MaxFloat32, inf, inf},           // bf16 overflow
		{p(-130) * 1.5, p(-130) * 1.5, 0},     // bf16 subnormal
		{0x1.ff8p127, inf, inf},               // bf16 halfway above max
		{0x1.fe7ffep127, 0x1.fep127, inf},     // just below it
	} {
		if got := hfRoundBF16(c.in); got != c.bf16 {
			t.Errorf("bf16(%g) = %g, want %g", c.in, got, c.bf16)
		}
		if got := hfRoundF16(c.in); got != c.f16 {
			t.Errorf("f16(%g) = %g, want %g", c.in, got, c.f16)
		}
	}
	if got := hfRoundF16(float32(math.Copysign(0, -1))); math.Float32bits(got) != 1<<31 {
		t.Errorf("f16(-0) = %g", got)
	}
	if got := hfRoundBF16(float32(math.NaN())); !math.IsNaN(float64(got)) {
		t.Errorf("bf16(NaN) = %g", got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		x := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			continue
		}
		if got, want := hfRoundBF16(x), bf16Reference(x); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("bf16(%g [%#08x]) = %g, bit reference %g", x, math.Float32bits(x), got, want)
		}
	}
}
