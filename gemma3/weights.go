package gemma3

import (
	"errors"
	"fmt"

	"gemmavk/internal/checkpoint"
	"gemmavk/kernels"
	"gemmavk/kernels/quant"
)

// Layer holds one decoder layer's weights. Matrices are [out, in] in their
// file encoding; norm gains are f32 and already hold 1 + w (GEMMA3.md §1.2),
// whatever convention the file used.
type Layer struct {
	InputNorm    []float32       // [H]
	QProj        *kernels.Weight // [nH*D, H]
	KProj        *kernels.Weight // [nKV*D, H]
	VProj        *kernels.Weight // [nKV*D, H]
	QNorm        []float32       // [D]
	KNorm        []float32       // [D]
	OProj        *kernels.Weight // [H, nH*D]
	PostAttnNorm []float32       // [H]
	PreFFNorm    []float32       // [H]
	Gate         *kernels.Weight // [I, H]
	Up           *kernels.Weight // [I, H]
	Down         *kernels.Weight // [H, I]
	PostFFNorm   []float32       // [H]
}

// Weights is the text decoder's parameters, the same whether they came from
// GGUF or safetensors.
type Weights struct {
	Embed     *kernels.Weight // [vocab, H]
	Output    *kernels.Weight // untied head [vocab, H]; nil when tied to Embed
	FinalNorm []float32       // [H]
	Layers    []Layer
}

// Head returns the matrix that produces logits.
func (w *Weights) Head() *kernels.Weight {
	if w.Output != nil {
		return w.Output
	}
	return w.Embed
}

// source looks tensors up by their name in one checkpoint format.
type source interface {
	// tensor returns the named tensor; ok is false when it is absent.
	tensor(name string) (checkpoint.Tensor, bool, error)
	// gainOffset is what must be added to a stored norm weight to get the
	// gain: 1 for HF checkpoints, 0 for GGUF (its converter folded the 1 in).
	gainOffset() float32
}

// tensorSpec is one row of the weight table: where a tensor lives in each
// format, the shape the config implies, and which field receives it.
type tensorSpec struct {
	gguf, hf string // names; %d is the layer index
	shape    func(c *Config) []int
	optional bool
	matrix   func(w *Weights, i int) **kernels.Weight
	vector   func(w *Weights, i int) *[]float32
}

func vec(n func(c *Config) int) func(c *Config) []int {
	return func(c *Config) []int { return []int{n(c)} }
}
func mat(r, k func(c *Config) int) func(c *Config) []int {
	return func(c *Config) []int { return []int{r(c), k(c)} }
}

var (
	hidden = func(c *Config) int { return c.Hidden }
	inter  = func(c *Config) int { return c.Intermediate }
	vocab  = func(c *Config) int { return c.Vocab }
	hdim   = func(c *Config) int { return c.HeadDim }
	qdim   = func(c *Config) int { return c.Heads * c.HeadDim }
	kvdim  = func(c *Config) int { return c.KVHeads * c.HeadDim }
)

// globalTensors and layerTensors are the weight table (GEMMA3.md §1.3,
// FORMATS.md §3.4). HF names are relative to the decoder prefix.
var globalTensors = []tensorSpec{
	{gguf: "token_embd.weight", hf: "embed_tokens.weight", shape: mat(vocab, hidden),
		matrix: func(w *Weights, _ int) **kernels.Weight { return &w.Embed }},
	{gguf: "output.weight", hf: "lm_head.weight", shape: mat(vocab, hidden), optional: true,
		matrix: func(w *Weights, _ int) **kernels.Weight { return &w.Output }},
	{gguf: "output_norm.weight", hf: "norm.weight", shape: vec(hidden),
		vector: func(w *Weights, _ int) *[]float32 { return &w.FinalNorm }},
}

var layerTensors = []tensorSpec{
	{gguf: "blk.%d.attn_norm.weight", hf: "layers.%d.input_layernorm.weight", shape: vec(hidden),
		vector: func(w *Weights, i int) *[]float32 { return &w.Layers[i].InputNorm }},
	{gguf: "blk.%d.attn_q.weight", hf: "layers.%d.self_attn.q_proj.weight", shape: mat(qdim, hidden),
		matrix: func(w *Weights, i int) **kernels.Weight { return &w.Layers[i].QProj }},
	{gguf: "blk.%d.attn_k.weight", hf: "layers.%d.self_attn.k_proj.weight", shape: mat(kvdim, hidden),
		matrix: func(w *Weights, i int) **kernels.Weight { return &w.Layers[i].KProj }},
	{gguf: "blk.%d.attn_v.weight", hf: "layers.%d.self_attn.v_proj.weight", shape: mat(kvdim, hidden),
		matrix: func(w *Weights, i int) **kernels.Weight { return &w.Layers[i].VProj }},
	{gguf: "blk.%d.attn_q_norm.weight", hf: "layers.%d.self_attn.q_norm.weight", shape: vec(hdim),
		vector: func(w *Weights, i int) *[]float32 { return &w.Layers[i].QNorm }},
	{gguf: "blk.%d.attn_k_norm.weight", hf: "layers.%d.self_attn.k_norm.weight", shape: vec(hdim),
		vector: func(w *Weights, i int) *[]float32 { return &w.Layers[i].KNorm }},
	{gguf: "blk.%d.attn_output.weight", hf: "layers.%d.self_attn.o_proj.weight", shape: mat(hidden, qdim),
		matrix: func(w *Weights, i int) **kernels.Weight { return &w.Layers[i].OProj }},
	{gguf: "blk.%d.post_attention_norm.weight", hf: "layers.%d.post_attention_layernorm.weight", shape: vec(hidden),
		vector: func(w *Weights, i int) *[]float32 { return &w.Layers[i].PostAttnNorm }},
	{gguf: "blk.%d.ffn_norm.weight", hf: "layers.%d.pre_feedforward_layernorm.weight", shape: vec(hidden),
		vector: func(w *Weights, i int) *[]float32 { return &w.Layers[i].PreFFNorm }},
	{gguf: "blk.%d.ffn_gate.weight", hf: "layers.%d.mlp.gate_proj.weight", shape: mat(inter, hidden),
		matrix: func(w *Weights, i int) **kernels.Weight { return &w.Layers[i].Gate }},
	{gguf: "blk.%d.ffn_up.weight", hf: "layers.%d.mlp.up_proj.weight", shape: mat(inter, hidden),
		matrix: func(w *Weights, i int) **kernels.Weight { return &w.Layers[i].Up }},
	{gguf: "blk.%d.ffn_down.weight", hf: "layers.%d.mlp.down_proj.weight", shape: mat(hidden, inter),
		matrix: func(w *Weights, i int) **kernels.Weight { return &w.Layers[i].Down }},
	{gguf: "blk.%d.post_ffw_norm.weight", hf: "layers.%d.post_feedforward_layernorm.weight", shape: vec(hidden),
		vector: func(w *Weights, i int) *[]float32 { return &w.Layers[i].PostFFNorm }},
}

// loadWeights fills Weights from src, naming tensors with name (which picks
// the gguf or hf column). Every missing or misshapen tensor is reported in
// one error; no field is left nil on success.
func loadWeights(c *Config, src source, name func(s tensorSpec) string) (*Weights, error) {
	w := &Weights{Layers: make([]Layer, c.Layers)}
	var errs []error
	load := func(s tensorSpec, i int) {
		n := checkpoint.LayerName(name(s), i)
		raw, ok, err := src.tensor(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
			return
		}
		if !ok {
			if !s.optional {
				errs = append(errs, fmt.Errorf("%s: missing", n))
			}
			return
		}
		want := s.shape(c)
		if !checkpoint.SameShape(raw.Shape, want) {
			errs = append(errs, fmt.Errorf("%s: shape %v, want %v", n, raw.Shape, want))
			return
		}
		if s.matrix != nil {
			m, err := kernels.NewWeight(n, raw.Type, want[0], want[1], raw.Data)
			if err != nil {
				errs = append(errs, err)
				return
			}
			*s.matrix(w, i) = m
			return
		}
		v := make([]float32, want[0])
		if err := quant.Dequantize(raw.Type, raw.Data, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
			return
		}
		off := src.gainOffset()
		for j := range v {
			v[j] += off
		}
		*s.vector(w, i) = v
	}
	checkpoint.Walk(globalTensors, layerTensors, c.Layers, load)
	if len(errs) > 0 {
		return nil, fmt.Errorf("gemma3: weights: %w", errors.Join(errs...))
	}
	return w, nil
}
