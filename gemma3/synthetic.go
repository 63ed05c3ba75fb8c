package gemma3

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	"gemmavk/kernels"
	"gemmavk/kernels/quant"
)

// SyntheticSizes are the released Gemma 3 text shapes (GEMMA3.md §5), plus
// "tiny" for tests. Vocabulary is the 262144-token text vocabulary.
var syntheticSizes = map[string]Config{
	"tiny": {Vocab: 512, Hidden: 256, Intermediate: 512, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 128,
		QueryPreAttnScalar: 128, SlidingWindow: 16, MaxPositions: 4096},
	"270m": {Vocab: 262144, Hidden: 640, Intermediate: 2048, Layers: 18, Heads: 4, KVHeads: 1, HeadDim: 256,
		QueryPreAttnScalar: 256, SlidingWindow: 512, MaxPositions: 32768},
	"1b": {Vocab: 262144, Hidden: 1152, Intermediate: 6912, Layers: 26, Heads: 4, KVHeads: 1, HeadDim: 256,
		QueryPreAttnScalar: 256, SlidingWindow: 512, MaxPositions: 32768},
	"4b": {Vocab: 262144, Hidden: 2560, Intermediate: 10240, Layers: 34, Heads: 8, KVHeads: 4, HeadDim: 256,
		QueryPreAttnScalar: 256, SlidingWindow: 1024, MaxPositions: 131072, RopeGlobal: Rope{Factor: 8}},
	"12b": {Vocab: 262144, Hidden: 3840, Intermediate: 15360, Layers: 48, Heads: 16, KVHeads: 8, HeadDim: 256,
		QueryPreAttnScalar: 256, SlidingWindow: 1024, MaxPositions: 131072, RopeGlobal: Rope{Factor: 8}},
	"27b": {Vocab: 262144, Hidden: 5376, Intermediate: 21504, Layers: 62, Heads: 32, KVHeads: 16, HeadDim: 128,
		QueryPreAttnScalar: 168, SlidingWindow: 1024, MaxPositions: 131072, RopeGlobal: Rope{Factor: 8}},
}

// SyntheticSizes lists the sizes Synthetic knows.
func SyntheticSizes() []string {
	return slices.Sorted(maps.Keys(syntheticSizes))
}

// SyntheticQuants lists the encodings Synthetic knows.
var SyntheticQuants = []string{"q4_k_m", "q4_0", "q8_0", "f16", "bf16"}

// Synthetic builds a model of a released shape with random weights, for
// throughput measurements: each matrix is a few random rows, quantized,
// repeated to the full height (so building a 27B model takes seconds, and
// no two neighbouring rows are alike within a block row), norm gains near
// one. The encoding follows llama.cpp's mixes: q4_k_m keeps the embedding
// and, on the layers llama.cpp gives more bits (the first and last eighth
// and every third between), attn_v and ffn_down in Q6_K, the rest Q4_K;
// rows that are not whole K-quant blocks fall back to Q5_0 / Q8_0 as
// llama.cpp's quantizer does. The model has no tokenizer.
func Synthetic(size, encoding string, seed uint64) (*Model, error) {
	c, ok := syntheticSizes[size]
	if !ok {
		return nil, fmt.Errorf("gemma3: synthetic size %q, want one of %s", size, strings.Join(SyntheticSizes(), ", "))
	}
	c.Kinds = KindsFromPattern(c.Layers, 6)
	c.RopeLocal = Rope{Base: 10000, Factor: 1}
	c.RopeGlobal.Base = 1e6
	if c.RopeGlobal.Factor == 0 {
		c.RopeGlobal.Factor = 1
	}
	c.RMSEps = 1e-6
	c.EmbedScale = EmbedScaleFor(c.Hidden, "bfloat16")
	c.BOS, c.EOS, c.PAD = 2, []int{1, 106}, 0
	if err := c.Validate(); err != nil {
		return nil, err
	}
	pick, err := syntheticMix(encoding)
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, uint64(len(size))))
	mat := func(name string, rows, cols int, role string, layer int) (*kernels.Weight, error) {
		t := pick(role, layer, c.Layers, cols)
		const distinct = 8
		base := make([]float32, distinct*cols)
		for i := range base {
			base[i] = float32(r.NormFloat64()) * 0.03
		}
		enc, err := quant.Quantize(t, base)
		if err != nil {
			return nil, fmt.Errorf("gemma3: synthetic %s: %w", name, err)
		}
		rb := len(enc) / distinct
		data := make([]byte, rb*rows)
		for i := 0; i < rows; i++ {
			copy(data[i*rb:], enc[(i%distinct)*rb:(i%distinct+1)*rb])
		}
		return kernels.NewWeight(name, t, rows, cols, data)
	}
	gain := func(n int) []float32 {
		g := make([]float32, n)
		for i := range g {
			g[i] = 1 + float32(r.NormFloat64())*0.05
		}
		return g
	}
	H, I, D := c.Hidden, c.Intermediate, c.HeadDim
	w := &Weights{FinalNorm: gain(H)}
	if w.Embed, err = mat("token_embd", c.Vocab, H, "embed", 0); err != nil {
		return nil, err
	}
	for i := 0; i < c.Layers; i++ {
		l := Layer{InputNorm: gain(H), QNorm: gain(D), KNorm: gain(D), PostAttnNorm: gain(H), PreFFNorm: gain(H), PostFFNorm: gain(H)}
		for _, m := range []struct {
			dst        **kernels.Weight
			role       string
			rows, cols int
		}{
			{&l.QProj, "q", c.Heads * D, H}, {&l.KProj, "k", c.KVHeads * D, H}, {&l.VProj, "v", c.KVHeads * D, H},
			{&l.OProj, "o", H, c.Heads * D}, {&l.Gate, "gate", I, H}, {&l.Up, "up", I, H}, {&l.Down, "down", H, I},
		} {
			if *m.dst, err = mat(fmt.Sprintf("blk.%d.%s", i, m.role), m.rows, m.cols, m.role, i); err != nil {
				return nil, err
			}
		}
		w.Layers = append(w.Layers, l)
	}
	return &Model{Config: c, Weights: w}, nil
}

// syntheticMix returns the encoding of each matrix for an encoding name.
func syntheticMix(encoding string) (func(role string, layer, layers, cols int) quant.Type, error) {
	fits := func(t, fallback quant.Type, cols int) quant.Type {
		if cols%t.BlockElems() != 0 {
			return fallback
		}
		return t
	}
	uniform := func(t quant.Type) func(string, int, int, int) quant.Type {
		return func(_ string, _, _, cols int) quant.Type { return fits(t, quant.F16, cols) }
	}
	switch encoding {
	case "q4_k_m":
		return func(role string, i, n, cols int) quant.Type {
			moreBits := i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
			if role == "embed" || ((role == "v" || role == "down") && moreBits) {
				return fits(quant.Q6_K, quant.Q8_0, cols)
			}
			return fits(quant.Q4_K, quant.Q5_0, cols)
		}, nil
	case "q4_0":
		return uniform(quant.Q4_0), nil
	case "q8_0":
		return uniform(quant.Q8_0), nil
	case "f16":
		return uniform(quant.F16), nil
	case "bf16":
		return uniform(quant.BF16), nil
	}
	return nil, fmt.Errorf("gemma3: synthetic encoding %q, want one of %s", encoding, strings.Join(SyntheticQuants, ", "))
}
