package graph

import (
	"fmt"

	"gemmavk/kernels"
)

// Graph is a list of tensors and the nodes that compute them, in program
// order (every node after the nodes producing its inputs).
type Graph struct {
	Tensors []*Tensor
	Nodes   []*Node
	Inputs  []*Tensor
	States  []*Tensor
	Outputs []*Tensor
}

// Builder records a graph. Methods read like the model; shape errors are
// collected and reported by Build, so model code needs no error plumbing
// per line. After the first error every method returns a placeholder.
type Builder struct {
	g   Graph
	err error
}

// NewBuilder starts an empty graph.
func NewBuilder() *Builder { return &Builder{} }

func (b *Builder) tensor(name string, kind Kind, dt DType, shape ...int) *Tensor {
	t := &Tensor{ID: len(b.g.Tensors), Name: name, Kind: kind, DType: dt, Shape: shape}
	b.g.Tensors = append(b.g.Tensors, t)
	return t
}

func (b *Builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("graph: "+format, args...)
	}
}

func (b *Builder) node(op Op, attr any, out *Tensor, in ...*Tensor) *Tensor {
	b.g.Nodes = append(b.g.Nodes, &Node{Op: op, In: in, Out: out, Attr: attr})
	return out
}

func (b *Builder) act(name string, rows, cols int) *Tensor {
	return b.tensor(name, Activation, F32, rows, cols)
}

// Input declares a per-step i32 input of n values (token ids, positions).
func (b *Builder) Input(name string, n int) *Tensor {
	t := b.tensor(name, Input, I32, n)
	b.g.Inputs = append(b.g.Inputs, t)
	return t
}

// InputF32 declares a per-step f32 input of [rows, cols] (input
// embeddings), bound like the i32 inputs by name (Env.Floats,
// VulkanEnv.Floats).
func (b *Builder) InputF32(name string, rows, cols int) *Tensor {
	t := b.tensor(name, Input, F32, rows, cols)
	b.g.Inputs = append(b.g.Inputs, t)
	return t
}

// State declares a caller-owned f32 buffer of [rows, cols] that persists
// across runs (a KV cache half).
func (b *Builder) State(name string, rows, cols int) *Tensor {
	t := b.tensor(name, State, F32, rows, cols)
	b.g.States = append(b.g.States, t)
	return t
}

// Matrix declares a weight matrix in file encoding.
func (b *Builder) Matrix(w *kernels.Weight) *Tensor {
	t := b.tensor(w.Name, Weight, F32, w.Rows, w.Cols)
	t.Matrix = w
	return t
}

// Vector declares an f32 weight vector.
func (b *Builder) Vector(name string, v []float32) *Tensor {
	t := b.tensor(name, Weight, F32, len(v))
	t.Vector = v
	return t
}

// Output marks t as read by the caller after the run.
func (b *Builder) Output(t *Tensor) *Tensor {
	if !t.Output {
		t.Output = true
		b.g.Outputs = append(b.g.Outputs, t)
	}
	return t
}

// Embed looks up ids in the embedding table and scales them.
func (b *Builder) Embed(ids, table *Tensor, scale float32) *Tensor {
	if table.Matrix == nil || ids.DType != I32 {
		b.fail("embed: want i32 ids and a weight matrix, got %v and %v", ids, table)
	}
	return b.node(OpEmbed, EmbedAttr{scale}, b.act("embed", ids.Len(), table.Cols()), ids, table)
}

// RMSNorm normalizes x over groups of len(gain) values: the whole row for
// a hidden-state norm, one head for q/k norms.
func (b *Builder) RMSNorm(x, gain *Tensor, eps float32) *Tensor {
	if gain.Vector == nil || x.Cols()%len(gain.Vector) != 0 {
		b.fail("rmsnorm: %v is not a whole number of %v groups", x, gain)
	}
	return b.node(OpRMSNorm, NormAttr{eps}, b.act("rmsnorm", x.Rows(), x.Cols()), x, gain)
}

// MatMul applies a linear layer: [T, in] · Wᵀ -> [T, out].
func (b *Builder) MatMul(x, w *Tensor) *Tensor {
	if w.Matrix == nil || x.Cols() != w.Matrix.Cols {
		b.fail("matmul: %v by %v", x, w)
		return b.act("matmul", x.Rows(), 1)
	}
	return b.node(OpMatMul, nil, b.act("matmul", x.Rows(), w.Matrix.Rows), x, w)
}

// RoPE rotates each of the heads of x by the positions in pos.
func (b *Builder) RoPE(x, pos *Tensor, r RopeAttr) *Tensor {
	if x.Cols() != r.Heads*r.HeadDim || pos.Len() != x.Rows() || r.HeadDim%2 != 0 {
		b.fail("rope: %v with %d heads of %d at %v", x, r.Heads, r.HeadDim, pos)
	}
	return b.node(OpRoPE, r, b.act("rope", x.Rows(), x.Cols()), x, pos)
}

// Attention attends q over the chunk's k, v and the cached past, then
// schedules the write of k, v into the cache after it.
func (b *Builder) Attention(q, k, v, cacheK, cacheV, pos *Tensor, a kernels.Attn) *Tensor {
	return b.attention(q, k, v, cacheK, cacheV, pos, nil, a)
}

// attention records Attention, with spans as the attention's last input
// when not nil.
func (b *Builder) attention(q, k, v, cacheK, cacheV, pos, spans *Tensor, a kernels.Attn) *Tensor {
	kvw := a.KVHeads * a.HeadDim
	switch {
	case a.Heads <= 0 || a.KVHeads <= 0 || a.Heads%a.KVHeads != 0:
		b.fail("attention: %d heads over %d kv heads", a.Heads, a.KVHeads)
	case q.Cols() != a.Heads*a.HeadDim || k.Cols() != kvw || v.Cols() != kvw:
		b.fail("attention: q %v k %v v %v for %d/%d heads of %d", q, k, v, a.Heads, a.KVHeads, a.HeadDim)
	case cacheK.Cols() != kvw || cacheV.Cols() != kvw || cacheK.Rows() != a.Slots || cacheV.Rows() != a.Slots:
		b.fail("attention: cache %v / %v for %d slots of %d", cacheK, cacheV, a.Slots, kvw)
	case pos.Len() != q.Rows() || k.Rows() != q.Rows() || v.Rows() != q.Rows():
		b.fail("attention: %d positions for %d queries", pos.Len(), q.Rows())
	}
	in := []*Tensor{q, k, v, cacheK, cacheV, pos}
	if spans != nil {
		in = append(in, spans)
	}
	out := b.node(OpAttention, a, b.act("attention", q.Rows(), q.Cols()), in...)
	b.node(OpCacheWrite, a, nil, k, v, cacheK, cacheV, pos, out)
	return out
}

// AttentionSpans is Attention where chunk tokens with the same nonzero id
// in spans (an i32 input of one id per query) also see each other both
// ways, whatever the window (images, kernels.AttentionSpans).
func (b *Builder) AttentionSpans(q, k, v, cacheK, cacheV, pos, spans *Tensor, a kernels.Attn) *Tensor {
	if spans.DType != I32 || spans.Len() != q.Rows() {
		b.fail("attention: spans %v for %d queries", spans, q.Rows())
	}
	return b.attention(q, k, v, cacheK, cacheV, pos, spans, a)
}

// Add returns a + b.
func (b *Builder) Add(x, y *Tensor) *Tensor {
	if x.Len() != y.Len() {
		b.fail("add: %v + %v", x, y)
	}
	return b.node(OpAdd, nil, b.act("add", x.Rows(), x.Cols()), x, y)
}

// GeluMul returns gelu_tanh(gate) * up, the gated product of the MLP.
func (b *Builder) GeluMul(gate, up *Tensor) *Tensor {
	if gate.Len() != up.Len() {
		b.fail("gelu_mul: %v * %v", gate, up)
	}
	return b.node(OpGeluMul, nil, b.act("gelu_mul", gate.Rows(), gate.Cols()), gate, up)
}

// LastRow keeps only the final row of x.
func (b *Builder) LastRow(x *Tensor) *Tensor {
	return b.node(OpLastRow, nil, b.act("last_row", 1, x.Cols()), x)
}

// Build returns the recorded graph, or the first shape error.
func (b *Builder) Build() (*Graph, error) {
	if b.err != nil {
		return nil, b.err
	}
	g := b.g
	return &g, nil
}
