package gemma3

import "fmt"

// Image ids of the released multimodal checkpoints (Gemma3Config defaults,
// GEMMA3.md §5, §8.1).
const (
	DefaultImageToken  = 262144 // <image_soft_token>
	DefaultBOI         = 255999 // <start_of_image>
	DefaultEOI         = 256000 // <end_of_image>
	DefaultImageTokens = 256    // soft tokens per image (mm_tokens_per_image)
)

// ImageConfig holds the token ids of image prompts (GEMMA3.md §6.3, §8.3).
// A zero field stands for the released models' value (Default*), so text
// configurations (GGUF files, text-only config.json) need not set it.
type ImageConfig struct {
	Token  int // <image_soft_token>: its positions take image features
	BOI    int // <start_of_image>, ordinary text
	EOI    int // <end_of_image>, ordinary text
	Tokens int // soft tokens per image (per crop)
}

// Resolved returns ic with zero fields replaced by the defaults.
func (ic ImageConfig) Resolved() ImageConfig {
	def := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	return ImageConfig{Token: def(ic.Token, DefaultImageToken), BOI: def(ic.BOI, DefaultBOI),
		EOI: def(ic.EOI, DefaultEOI), Tokens: def(ic.Tokens, DefaultImageTokens)}
}

// hfImageConfig reads the top-level image fields of a multimodal
// config.json: image_token_index (image_token_id in newer exports),
// boi_token_index, eoi_token_index and mm_tokens_per_image. Absent keys
// stay zero, which stands for the default.
func hfImageConfig(top *hfFields) (ImageConfig, error) {
	key := "image_token_index"
	if _, ok := top.get(key); !ok {
		key = "image_token_id"
	}
	var ic ImageConfig
	for _, f := range []struct {
		key string
		dst *int
	}{{key, &ic.Token}, {"boi_token_index", &ic.BOI}, {"eoi_token_index", &ic.EOI}, {"mm_tokens_per_image", &ic.Tokens}} {
		if _, ok := top.get(f.key); !ok {
			continue
		}
		*f.dst = top.int(f.key, 0)
		if top.err != nil {
			return ImageConfig{}, top.err
		}
		if *f.dst <= 0 {
			return ImageConfig{}, fmt.Errorf("%s = %d, want > 0", f.key, *f.dst)
		}
	}
	return ic, nil
}
