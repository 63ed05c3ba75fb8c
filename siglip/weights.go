package siglip

import (
	"errors"
	"fmt"
	"slices"

	"gemmavk/internal/checkpoint"
	"gemmavk/kernels"
	"gemmavk/kernels/quant"
)

// Layer holds one encoder layer's weights. Matrices are [out, in] in their
// file encoding (nn.Linear orientation); vectors are f32.
type Layer struct {
	LN1W, LN1B []float32       // layer_norm1 [Hv]
	QProj      *kernels.Weight // [Hv, Hv]
	QBias      []float32       // [Hv]
	KProj      *kernels.Weight // [Hv, Hv]
	KBias      []float32       // [Hv]
	VProj      *kernels.Weight // [Hv, Hv]
	VBias      []float32       // [Hv]
	OutProj    *kernels.Weight // [Hv, Hv]
	OutBias    []float32       // [Hv]
	LN2W, LN2B []float32       // layer_norm2 [Hv]
	FC1        *kernels.Weight // [I, Hv]
	FC1Bias    []float32       // [I]
	FC2        *kernels.Weight // [Hv, I]
	FC2Bias    []float32       // [Hv]
}

// Weights is the encoder's and projector's parameters, the same whether
// they came from safetensors or an mmproj GGUF. The load-time fix-ups are
// done: the patch convolution is a matrix over unfolded patches, the
// projector's norm gain holds 1 + w, and its projection is transposed into
// the [out, in] orientation of every other matrix.
type Weights struct {
	PatchEmbed  *kernels.Weight // [Hv, C*P*P], columns in (channel, ky, kx) order
	PatchBias   []float32       // [Hv]
	Positions   []float32       // [Patches, Hv], learned absolute positions
	Layers      []Layer
	PostLNW     []float32       // post_layernorm [Hv]
	PostLNB     []float32       // [Hv]
	SoftEmbNorm []float32       // projector RMSNorm gain, 1 + w [Hv]
	Projection  *kernels.Weight // [H, Hv] (stored [Hv, H] in both file formats)
}

// source looks tensors up by name in one checkpoint format.
type source interface {
	// tensor returns the named tensor; ok is false when it is absent.
	tensor(name string) (t checkpoint.Tensor, ok bool, err error)
}

// fixup is a load-time change of a tensor.
type fixup int

const (
	asIs      fixup = iota
	transpose       // a [rows, cols] matrix stored [cols, rows]
	addOne          // a Gemma RMSNorm weight w stored as w: the gain is 1 + w
)

// tensorSpec is one row of the weight table: where a tensor lives in each
// format, the PyTorch shape the config implies, the field that receives
// it, and what to do on the way.
type tensorSpec struct {
	gguf, hf string // names; %d is the layer index
	// projector marks the HF name as relative to the projector.
	projector bool
	shape     func(c *Config) []int
	matrix    func(w *Weights, i int) **kernels.Weight
	vector    func(w *Weights, i int) *[]float32
	// hfFix and ggufFix are the fix-ups of each format.
	hfFix, ggufFix fixup
}

var (
	hidden = func(c *Config) []int { return []int{c.Hidden} }
	inter  = func(c *Config) []int { return []int{c.Intermediate} }
)

// HF names in the table are relative to the vision tower or, marked
// projector, to the multimodal projector; the prefixes depend on the
// checkpoint (hfVisionPrefixes, hfProjectorPrefixes).
const hfLayer = "encoder.layers.%d."

// globalTensors and layerTensors are the weight table (GEMMA3.md §6,
// FORMATS.md §5.2).
var globalTensors = []tensorSpec{
	{gguf: "v.patch_embd.weight", hf: "embeddings.patch_embedding.weight",
		shape:  func(c *Config) []int { return []int{c.Hidden, c.Channels, c.PatchSize, c.PatchSize} },
		matrix: func(w *Weights, _ int) **kernels.Weight { return &w.PatchEmbed }},
	{gguf: "v.patch_embd.bias", hf: "embeddings.patch_embedding.bias", shape: hidden,
		vector: func(w *Weights, _ int) *[]float32 { return &w.PatchBias }},
	{gguf: "v.position_embd.weight", hf: "embeddings.position_embedding.weight",
		shape:  func(c *Config) []int { return []int{c.Patches(), c.Hidden} },
		vector: func(w *Weights, _ int) *[]float32 { return &w.Positions }},
	{gguf: "v.post_ln.weight", hf: "post_layernorm.weight", shape: hidden,
		vector: func(w *Weights, _ int) *[]float32 { return &w.PostLNW }},
	{gguf: "v.post_ln.bias", hf: "post_layernorm.bias", shape: hidden,
		vector: func(w *Weights, _ int) *[]float32 { return &w.PostLNB }},
	// The converter folds the 1 into the GGUF (FORMATS.md §3.4).
	{gguf: "mm.soft_emb_norm.weight", hf: "mm_soft_emb_norm.weight", projector: true, shape: hidden, hfFix: addOne,
		vector: func(w *Weights, _ int) *[]float32 { return &w.SoftEmbNorm }},
	// Used as x @ W, stored [Hv, H] in both formats (FORMATS.md §5.2).
	{gguf: "mm.input_projection.weight", hf: "mm_input_projection_weight", projector: true, hfFix: transpose, ggufFix: transpose,
		shape:  func(c *Config) []int { return []int{c.TextHidden, c.Hidden} },
		matrix: func(w *Weights, _ int) **kernels.Weight { return &w.Projection }},
}

func linear(gguf, hf string, out, in func(c *Config) []int,
	m func(l *Layer) **kernels.Weight, b func(l *Layer) *[]float32) []tensorSpec {
	return []tensorSpec{
		{gguf: gguf + ".weight", hf: hf + ".weight",
			shape:  func(c *Config) []int { return []int{out(c)[0], in(c)[0]} },
			matrix: func(w *Weights, i int) **kernels.Weight { return m(&w.Layers[i]) }},
		{gguf: gguf + ".bias", hf: hf + ".bias", shape: out,
			vector: func(w *Weights, i int) *[]float32 { return b(&w.Layers[i]) }},
	}
}

func norm(gguf, hf string, wt, b func(l *Layer) *[]float32) []tensorSpec {
	return []tensorSpec{
		{gguf: gguf + ".weight", hf: hf + ".weight", shape: hidden,
			vector: func(w *Weights, i int) *[]float32 { return wt(&w.Layers[i]) }},
		{gguf: gguf + ".bias", hf: hf + ".bias", shape: hidden,
			vector: func(w *Weights, i int) *[]float32 { return b(&w.Layers[i]) }},
	}
}

var layerTensors = slices.Concat(
	norm("v.blk.%d.ln1", hfLayer+"layer_norm1",
		func(l *Layer) *[]float32 { return &l.LN1W }, func(l *Layer) *[]float32 { return &l.LN1B }),
	linear("v.blk.%d.attn_q", hfLayer+"self_attn.q_proj", hidden, hidden,
		func(l *Layer) **kernels.Weight { return &l.QProj }, func(l *Layer) *[]float32 { return &l.QBias }),
	linear("v.blk.%d.attn_k", hfLayer+"self_attn.k_proj", hidden, hidden,
		func(l *Layer) **kernels.Weight { return &l.KProj }, func(l *Layer) *[]float32 { return &l.KBias }),
	linear("v.blk.%d.attn_v", hfLayer+"self_attn.v_proj", hidden, hidden,
		func(l *Layer) **kernels.Weight { return &l.VProj }, func(l *Layer) *[]float32 { return &l.VBias }),
	linear("v.blk.%d.attn_out", hfLayer+"self_attn.out_proj", hidden, hidden,
		func(l *Layer) **kernels.Weight { return &l.OutProj }, func(l *Layer) *[]float32 { return &l.OutBias }),
	norm("v.blk.%d.ln2", hfLayer+"layer_norm2",
		func(l *Layer) *[]float32 { return &l.LN2W }, func(l *Layer) *[]float32 { return &l.LN2B }),
	linear(ffnUp, hfLayer+"mlp.fc1", inter, hidden,
		func(l *Layer) **kernels.Weight { return &l.FC1 }, func(l *Layer) *[]float32 { return &l.FC1Bias }),
	linear(ffnDown, hfLayer+"mlp.fc2", hidden, inter,
		func(l *Layer) **kernels.Weight { return &l.FC2 }, func(l *Layer) *[]float32 { return &l.FC2Bias }),
)

// GGUF names of the MLP matrices: ffn_up is fc1, ffn_down fc2 (FORMATS.md
// §5.2; some early files swapped them, see ggufSource).
const (
	ffnUp   = "v.blk.%d.ffn_up"
	ffnDown = "v.blk.%d.ffn_down"
)

// loadWeights fills Weights from src, naming tensors with name (which
// picks the gguf or hf column) and applying fix (its fix-up). Every
// missing or misshapen tensor is reported in one error; no field is left
// nil on success.
func loadWeights(c *Config, src source, name func(s tensorSpec) string, fix func(s tensorSpec) fixup) (*Weights, error) {
	w := &Weights{Layers: make([]Layer, c.Layers)}
	var errs []error
	load := func(s tensorSpec, i int) {
		n := checkpoint.LayerName(name(s), i)
		raw, ok, err := src.tensor(n)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
			return
		case !ok:
			errs = append(errs, fmt.Errorf("%s: missing", n))
			return
		}
		want := s.shape(c)
		f := fix(s)
		stored := want
		if f == transpose {
			stored = []int{want[1], want[0]}
		}
		if !checkpoint.SameShape(raw.Shape, stored) {
			errs = append(errs, fmt.Errorf("%s: shape %v, want %v", n, raw.Shape, stored))
			return
		}
		if s.matrix != nil {
			rows, cols := want[0], 1
			for _, d := range want[1:] {
				cols *= d
			}
			var m *kernels.Weight
			if f == transpose {
				m, err = transposed(n, raw.Type, rows, cols, raw.Data)
			} else {
				m, err = kernels.NewWeight(n, raw.Type, rows, cols, raw.Data)
			}
			if err != nil {
				errs = append(errs, err)
				return
			}
			*s.matrix(w, i) = m
			return
		}
		v := make([]float32, product(want))
		if err := quant.Dequantize(raw.Type, raw.Data, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
			return
		}
		if f == addOne {
			for j := range v {
				v[j]++
			}
		}
		*s.vector(w, i) = v
	}
	checkpoint.Walk(globalTensors, layerTensors, c.Layers, load)
	if len(errs) > 0 {
		return nil, fmt.Errorf("siglip: weights: %w", errors.Join(errs...))
	}
	return w, nil
}

func product(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// transposed makes a [rows, cols] weight from data holding its transpose
// [cols, rows] in type t: element by element for the plain float types,
// through f32 for block types (whose blocks run along the other axis).
func transposed(name string, t quant.Type, rows, cols int, data []byte) (*kernels.Weight, error) {
	size := 0
	switch t {
	case quant.F32:
		size = 4
	case quant.F16, quant.BF16:
		size = 2
	}
	if size > 0 {
		if len(data) != rows*cols*size {
			return nil, fmt.Errorf("siglip: weight %s: %d bytes, want %d", name, len(data), rows*cols*size)
		}
		out := make([]byte, len(data))
		for c := 0; c < cols; c++ {
			for r := 0; r < rows; r++ {
				copy(out[(r*cols+c)*size:(r*cols+c+1)*size], data[(c*rows+r)*size:(c*rows+r+1)*size])
			}
		}
		return kernels.NewWeight(name, t, rows, cols, out)
	}
	src := make([]float32, rows*cols)
	if err := quant.Dequantize(t, data, src); err != nil {
		return nil, fmt.Errorf("siglip: weight %s: %w", name, err)
	}
	dst := make([]float32, rows*cols)
	for c := 0; c < cols; c++ {
		for r := 0; r < rows; r++ {
			dst[r*cols+c] = src[c*rows+r]
		}
	}
	return kernels.NewWeight(name, quant.F32, rows, cols, f32Bytes(dst))
}
