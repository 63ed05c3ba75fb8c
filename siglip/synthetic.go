package siglip

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gemmavk/kernels"
	"gemmavk/kernels/quant"
)

// syntheticSizes are the vision shapes of the released Gemma 3 models
// (GEMMA3.md §6: the same tower, projecting to each text width), plus
// "tiny", the shape of the test fixture.
var syntheticSizes = map[string]Config{
	"tiny": {ImageSize: 64, PatchSize: 8, Channels: 3, Hidden: 64, Intermediate: 160, Layers: 3, Heads: 4,
		LayerNormEps: 1e-6, TokensPerImage: 16, TextHidden: 128},
	"4b":  Gemma3Config(2560),
	"12b": Gemma3Config(3840),
	"27b": Gemma3Config(5376),
}

// SyntheticSizes lists the sizes SyntheticConfig knows.
func SyntheticSizes() []string {
	return slices.Sorted(maps.Keys(syntheticSizes))
}

// SyntheticConfig returns the configuration of a named size.
func SyntheticConfig(size string) (Config, error) {
	c, ok := syntheticSizes[size]
	if !ok {
		return Config{}, fmt.Errorf("siglip: synthetic size %q, want one of %s", size, strings.Join(SyntheticSizes(), ", "))
	}
	return c, nil
}

// Synthetic builds a model of shape cfg with random weights, for
// throughput measurements and tests: matrices uniform with the variance of
// a unit-gain initialisation (so activations keep their scale through the
// layers), encoded as t where their rows are whole blocks of t, else F16;
// LayerNorm and projector gains near one, small biases, positions of about
// the patch embedding's size.
func Synthetic(cfg Config, t quant.Type, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !quant.QuantizeSupported(t) {
		return nil, fmt.Errorf("siglip: synthetic: type %s cannot be encoded", t)
	}
	r := rand.New(rand.NewPCG(seed, 0x5161))
	uniform := func(n int, mid, half float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = mid + half*(2*r.Float32()-1)
		}
		return v
	}
	var err error
	matrix := func(name string, rows, cols int) *kernels.Weight {
		typ := t
		if _, e := quant.RowBytes(typ, cols); e != nil {
			typ = quant.F16
		}
		data, e := quant.Quantize(typ, uniform(rows*cols, 0, float32(math.Sqrt(3/float64(cols)))))
		if e != nil {
			err = e
			return nil
		}
		m, e := kernels.NewWeight(name, typ, rows, cols, data)
		if e != nil {
			err = e
		}
		return m
	}
	H, I := cfg.Hidden, cfg.Intermediate
	w := &Weights{
		PatchEmbed:  matrix("v.patch_embd.weight", H, cfg.PatchLen()),
		PatchBias:   uniform(H, 0, 0.02),
		Positions:   uniform(cfg.Patches()*H, 0, 0.5),
		PostLNW:     uniform(H, 1, 0.1),
		PostLNB:     uniform(H, 0, 0.05),
		SoftEmbNorm: uniform(H, 1, 0.1),
		Projection:  matrix("mm.input_projection.weight", cfg.TextHidden, H),
		Layers:      make([]Layer, cfg.Layers),
	}
	for i := range w.Layers {
		name := func(s string) string { return fmt.Sprintf("v.blk.%d.%s.weight", i, s) }
		w.Layers[i] = Layer{
			LN1W: uniform(H, 1, 0.1), LN1B: uniform(H, 0, 0.05),
			QProj: matrix(name("attn_q"), H, H), QBias: uniform(H, 0, 0.02),
			KProj: matrix(name("attn_k"), H, H), KBias: uniform(H, 0, 0.02),
			VProj: matrix(name("attn_v"), H, H), VBias: uniform(H, 0, 0.02),
			OutProj: matrix(name("attn_out"), H, H), OutBias: uniform(H, 0, 0.02),
			LN2W: uniform(H, 1, 0.1), LN2B: uniform(H, 0, 0.05),
			FC1: matrix(name("ffn_up"), I, H), FC1Bias: uniform(I, 0, 0.02),
			FC2: matrix(name("ffn_down"), H, I), FC2Bias: uniform(H, 0, 0.02),
		}
	}
	if err != nil {
		return nil, fmt.Errorf("siglip: synthetic: %w", err)
	}
	return New(cfg, w)
}
