package siglip

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseHFConfig(t *testing.T) {
	tiny, err := os.ReadFile(filepath.Join(tinyDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, json string
		want       Config
	}{
		// The fixture's config.json, field by field.
		{"fixture", string(tiny), Config{ImageSize: 64, PatchSize: 8, Channels: 3, Hidden: 64, Intermediate: 160,
			Layers: 3, Heads: 4, LayerNormEps: 1e-6, TokensPerImage: 16, TextHidden: 128}},
		// Missing keys and nulls take the SiglipVisionConfig / Gemma3Config /
		// Gemma3TextConfig defaults (GEMMA3.md §5).
		{"defaults", `{"vision_config": {"image_size": 896, "patch_size": 14, "hidden_size": null}, "text_config": {}}`,
			Config{ImageSize: 896, PatchSize: 14, Channels: 3, Hidden: 768, Intermediate: 3072, Layers: 12, Heads: 12,
				LayerNormEps: 1e-6, TokensPerImage: 256, TextHidden: 2304}},
		{"gemma 3 4b", `{"vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
			"model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27, "patch_size": 14,
			"vision_use_head": false}, "text_config": {"hidden_size": 2560}, "mm_tokens_per_image": 256}`, Gemma3Config(2560)},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseHFConfig([]byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestParseHFConfigErrors(t *testing.T) {
	const ok = `"image_size": 64, "patch_size": 8, "hidden_size": 64, "num_attention_heads": 4`
	for _, c := range []struct{ name, json, want string }{
		{"text only", `{"hidden_size": 640, "num_hidden_layers": 18}`, "no vision_config"},
		{"not json", `{"vision_config": `, "config.json"},
		{"activation", `{"vision_config": {` + ok + `, "hidden_act": "gelu"}, "mm_tokens_per_image": 16}`, `hidden_act "gelu"`},
		{"heads", `{"vision_config": {"image_size": 64, "patch_size": 8, "hidden_size": 64, "num_attention_heads": 5}, "mm_tokens_per_image": 16}`,
			"not a whole number of 5 heads"},
		{"patches", `{"vision_config": {"image_size": 60, "patch_size": 8, "hidden_size": 64, "num_attention_heads": 4}, "mm_tokens_per_image": 16}`,
			"not a whole number of 8-pixel patches"},
		{"tokens", `{"vision_config": {` + ok + `}, "mm_tokens_per_image": 15}`, "15 tokens per image do not pool"},
		{"tokens tile", `{"vision_config": {` + ok + `}, "mm_tokens_per_image": 9}`, "9 tokens per image do not pool"},
		{"negative", `{"vision_config": {` + ok + `, "num_hidden_layers": -1}, "mm_tokens_per_image": 16}`, "layers -1"},
		{"huge", `{"vision_config": {` + ok + `, "intermediate_size": 1000000000}, "mm_tokens_per_image": 16}`, "intermediate size 1000000000"},
		{"eps", `{"vision_config": {` + ok + `, "layer_norm_eps": 0}, "mm_tokens_per_image": 16}`, "layer norm eps 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseHFConfig([]byte(c.json))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

// TestConfigDerived checks the derived sizes of the real shape against
// GEMMA3.md §6.
func TestConfigDerived(t *testing.T) {
	c := Gemma3Config(2560)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name      string
		got, want int
	}{
		{"patches per side", c.PatchesPerSide(), 64}, {"patches", c.Patches(), 4096}, {"patch length", c.PatchLen(), 588},
		{"head dim", c.HeadDim(), 72}, {"pool kernel", c.PoolKernel(), 4}, {"pixels", c.PixelLen(), 3 * 896 * 896},
	} {
		if f.got != f.want {
			t.Errorf("%s = %d, want %d", f.name, f.got, f.want)
		}
	}
}
