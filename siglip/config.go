package siglip

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Config is the shape of the vision encoder and projector.
type Config struct {
	ImageSize      int     // pixels per image side (896)
	PatchSize      int     // pixels per patch side (14)
	Channels       int     // colour channels (3)
	Hidden         int     // encoder width Hv (1152)
	Intermediate   int     // MLP width (4304)
	Layers         int     // encoder layers (27)
	Heads          int     // attention heads (16, of 72)
	LayerNormEps   float64 // LayerNorm eps, also the projector's RMSNorm eps (1e-6)
	TokensPerImage int     // image tokens after pooling (mm_tokens_per_image, 256)
	TextHidden     int     // projector output width: the text model's hidden size
}

// Gemma3Config is the vision configuration shared by Gemma 3 4B, 12B and
// 27B (GEMMA3.md §6.1), projecting to a text model of textHidden (2560,
// 3840, 5376).
func Gemma3Config(textHidden int) Config {
	return Config{ImageSize: 896, PatchSize: 14, Channels: 3, Hidden: 1152, Intermediate: 4304,
		Layers: 27, Heads: 16, LayerNormEps: 1e-6, TokensPerImage: 256, TextHidden: textHidden}
}

// PatchesPerSide is the patch grid's side (64).
func (c Config) PatchesPerSide() int { return c.ImageSize / c.PatchSize }

// Patches is the number of encoder tokens (4096).
func (c Config) Patches() int { return c.PatchesPerSide() * c.PatchesPerSide() }

// PatchLen is the length of one unfolded patch, channels x patch x patch
// values in (channel, ky, kx) order (588).
func (c Config) PatchLen() int { return c.Channels * c.PatchSize * c.PatchSize }

// HeadDim is the width of one attention head (72).
func (c Config) HeadDim() int { return c.Hidden / c.Heads }

// PoolKernel is the side of the projector's average-pooling window:
// patches per side over tokens per side (64 / 16 = 4).
func (c Config) PoolKernel() int {
	return c.PatchesPerSide() / isqrt(c.TokensPerImage)
}

// FLOPs is the arithmetic of one image, two per multiply-add of the
// matrix products and of attention (the elementwise ops, norms and
// softmax are left out): patch embedding, per layer the four attention
// projections, q·kᵀ and the weighted sum of v, the two MLP matrices, then
// the projection.
func (c Config) FLOPs() float64 {
	n, h, i := float64(c.Patches()), float64(c.Hidden), float64(c.Intermediate)
	layer := 4*n*h*h + 2*n*n*h + 2*n*h*i
	return 2 * (n*float64(c.PatchLen())*h + float64(c.Layers)*layer + float64(c.TokensPerImage)*h*float64(c.TextHidden))
}

// PixelLen is the number of values of one image's pixels.
func (c Config) PixelLen() int { return c.Channels * c.ImageSize * c.ImageSize }

func isqrt(n int) int {
	r := int(math.Sqrt(float64(n)))
	for r*r > n {
		r--
	}
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// Limits on configured sizes, far above any real model, so that a hostile
// file cannot make the loader allocate without bound.
const (
	maxSize   = 1 << 16
	maxLayers = 1 << 10
)

// Validate checks that the sizes are positive, within bounds and fit
// together: whole patches, whole heads, a square number of image tokens
// that tiles the patch grid.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"image size", c.ImageSize}, {"patch size", c.PatchSize}, {"channels", c.Channels},
		{"hidden size", c.Hidden}, {"intermediate size", c.Intermediate}, {"layers", c.Layers},
		{"heads", c.Heads}, {"tokens per image", c.TokensPerImage}, {"text hidden size", c.TextHidden},
	} {
		lim := maxSize
		if f.name == "layers" {
			lim = maxLayers
		}
		if f.v <= 0 || f.v > lim {
			return fmt.Errorf("siglip: config: %s %d, want 1 to %d", f.name, f.v, lim)
		}
	}
	switch {
	case c.ImageSize%c.PatchSize != 0:
		return fmt.Errorf("siglip: config: image size %d is not a whole number of %d-pixel patches", c.ImageSize, c.PatchSize)
	case c.Hidden%c.Heads != 0:
		return fmt.Errorf("siglip: config: hidden size %d is not a whole number of %d heads", c.Hidden, c.Heads)
	case c.Channels > 4:
		return fmt.Errorf("siglip: config: %d channels, want 1 to 4", c.Channels)
	case int64(c.Patches())*int64(c.Hidden) > math.MaxInt32:
		return fmt.Errorf("siglip: config: %d patches of %d values are too many", c.Patches(), c.Hidden)
	case !(c.LayerNormEps > 0) || c.LayerNormEps > 1:
		return fmt.Errorf("siglip: config: layer norm eps %g, want a small positive number", c.LayerNormEps)
	}
	side := isqrt(c.TokensPerImage)
	if side*side != c.TokensPerImage || c.PatchesPerSide()%side != 0 {
		return fmt.Errorf("siglip: config: %d tokens per image do not pool a %d x %d patch grid (want a square whose side divides %d)",
			c.TokensPerImage, c.PatchesPerSide(), c.PatchesPerSide(), c.PatchesPerSide())
	}
	return nil
}

// SiglipVisionConfig and Gemma3Config defaults (GEMMA3.md §5): the values
// a config.json leaves out.
var hfDefaults = Config{ImageSize: 224, PatchSize: 16, Channels: 3, Hidden: 768, Intermediate: 3072,
	Layers: 12, Heads: 12, LayerNormEps: 1e-6, TokensPerImage: 256, TextHidden: 2304}

// ParseHFConfig reads the vision part of a Gemma3ForConditionalGeneration
// config.json: vision_config, mm_tokens_per_image and text_config's
// hidden_size, filling missing keys (or JSON nulls) with the HF class
// defaults. A config without vision_config (a text-only model), an
// activation other than gelu_pytorch_tanh, and sizes that do not fit
// together are errors.
func ParseHFConfig(data []byte) (Config, error) {
	c, err := parseHFConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("siglip: config.json: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

type hfVisionJSON struct {
	ImageSize    *int     `json:"image_size"`
	PatchSize    *int     `json:"patch_size"`
	Channels     *int     `json:"num_channels"`
	Hidden       *int     `json:"hidden_size"`
	Intermediate *int     `json:"intermediate_size"`
	Layers       *int     `json:"num_hidden_layers"`
	Heads        *int     `json:"num_attention_heads"`
	Eps          *float64 `json:"layer_norm_eps"`
	Act          *string  `json:"hidden_act"`
}

type hfTop struct {
	Vision *hfVisionJSON `json:"vision_config"`
	Text   *struct {
		Hidden *int `json:"hidden_size"`
	} `json:"text_config"`
	Tokens *int `json:"mm_tokens_per_image"`
}

func parseHFConfig(data []byte) (Config, error) {
	var top hfTop
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&top); err != nil {
		return Config{}, err
	}
	if top.Vision == nil {
		return Config{}, errors.New("no vision_config: not a multimodal (Gemma3ForConditionalGeneration) checkpoint")
	}
	c := hfDefaults
	v := top.Vision
	for _, f := range []struct {
		dst *int
		src *int
	}{
		{&c.ImageSize, v.ImageSize}, {&c.PatchSize, v.PatchSize}, {&c.Channels, v.Channels},
		{&c.Hidden, v.Hidden}, {&c.Intermediate, v.Intermediate}, {&c.Layers, v.Layers},
		{&c.Heads, v.Heads}, {&c.TokensPerImage, top.Tokens},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if v.Eps != nil {
		c.LayerNormEps = *v.Eps
	}
	if top.Text != nil && top.Text.Hidden != nil {
		c.TextHidden = *top.Text.Hidden
	}
	if v.Act != nil && *v.Act != "gelu_pytorch_tanh" {
		return Config{}, fmt.Errorf("vision_config.hidden_act %q not supported (want gelu_pytorch_tanh)", *v.Act)
	}
	return c, nil
}
