package graph

import (
	"errors"

	"gemmavk/gpu"
	"gemmavk/kernels"
)

// The ops of the SigLIP vision encoder and the Gemma 3 projector
// (GEMMA3.md §6.1, §6.2). They are numbered apart from the text ops so
// that both lists can grow independently.
const (
	// OpLayerNorm: LayerNorm of each row with weight and bias. In: x, w, b
	// (f32 vectors of the row's length). Attr: NormAttr.
	OpLayerNorm Op = iota + visionOpBase
	// OpAddBias: y[T, N] = x[T, N] + b[N] on every row. In: x, b.
	OpAddBias
	// OpGelu: y = gelu_tanh(x). In: x.
	OpGelu
	// OpAttentionFull: unmasked attention of every token over every token,
	// no cache. In: q, k, v, each [T, Heads*HeadDim]. Attr: FullAttnAttr.
	OpAttentionFull
	// OpAvgPool: k x k average pooling of a grid of tokens. In: x
	// [Grid*Grid, C]. Attr: PoolAttr.
	OpAvgPool
)

const visionOpBase Op = 64

var visionOpNames = [...]string{"layernorm", "add_bias", "gelu", "attention_full", "avgpool"}

// visionOpName names o when it is one of the vision ops.
func visionOpName(o Op) (string, bool) {
	i := int(o - visionOpBase)
	if i < 0 || i >= len(visionOpNames) {
		return "", false
	}
	return visionOpNames[i], true
}

// FullAttnAttr parameterizes OpAttentionFull.
type FullAttnAttr struct {
	Heads, HeadDim int
	Scale          float32 // multiplies q·k, usually HeadDim^-1/2
}

// PoolAttr parameterizes OpAvgPool: a Grid x Grid token grid pooled in
// K x K windows.
type PoolAttr struct{ Grid, K int }

// LayerNorm normalizes each row of x to zero mean and unit variance, then
// applies the weight w and bias (standard LayerNorm, not Gemma's 1 + w).
func (b *Builder) LayerNorm(x, w, bias *Tensor, eps float32) *Tensor {
	if w.Vector == nil || bias.Vector == nil || len(w.Vector) != x.Cols() || len(bias.Vector) != x.Cols() {
		b.fail("layernorm: %v with weight %v and bias %v", x, w, bias)
	}
	return b.node(OpLayerNorm, NormAttr{eps}, b.act("layernorm", x.Rows(), x.Cols()), x, w, bias)
}

// AddBias adds the vector bias to every row of x.
func (b *Builder) AddBias(x, bias *Tensor) *Tensor {
	if bias.Vector == nil || len(bias.Vector) != x.Cols() {
		b.fail("add_bias: %v + %v", x, bias)
	}
	return b.node(OpAddBias, nil, b.act("add_bias", x.Rows(), x.Cols()), x, bias)
}

// Linear is x · Wᵀ + bias: a matrix product and a bias add.
func (b *Builder) Linear(x, w, bias *Tensor) *Tensor {
	return b.AddBias(b.MatMul(x, w), bias)
}

// Gelu applies the tanh form of GELU to every element.
func (b *Builder) Gelu(x *Tensor) *Tensor {
	return b.node(OpGelu, nil, b.act("gelu", x.Rows(), x.Cols()), x)
}

// AttentionFull lets every row (token) of q attend to every row of k and
// v, head by head, without mask or cache.
func (b *Builder) AttentionFull(q, k, v *Tensor, a FullAttnAttr) *Tensor {
	w := a.Heads * a.HeadDim
	if a.Heads <= 0 || a.HeadDim <= 0 || q.Cols() != w || k.Cols() != w || v.Cols() != w ||
		k.Rows() != q.Rows() || v.Rows() != q.Rows() {
		b.fail("attention_full: q %v k %v v %v for %d heads of %d", q, k, v, a.Heads, a.HeadDim)
	}
	return b.node(OpAttentionFull, a, b.act("attention_full", q.Rows(), w), q, k, v)
}

// AvgPool averages k x k windows of the grid x grid tokens of x (token
// n = row*grid + col), giving (grid/k)^2 tokens in the same order.
func (b *Builder) AvgPool(x *Tensor, grid, k int) *Tensor {
	if grid <= 0 || k <= 0 || grid%k != 0 || x.Rows() != grid*grid {
		b.fail("avgpool: %v is not a %d x %d grid in windows of %d", x, grid, grid, k)
		return b.act("avgpool", 1, x.Cols())
	}
	g := grid / k
	return b.node(OpAvgPool, PoolAttr{grid, k}, b.act("avgpool", g*g, x.Cols()), x)
}

// vision runs the vision ops on the CPU; ok is false for other ops.
func (c *CPU) vision(n *Node, f32 func(*Tensor) []float32) (ok bool, err error) {
	in := n.In
	out := f32(n.Out)
	switch n.Op {
	case OpLayerNorm:
		w, bias := f32(in[1]), f32(in[2])
		c.parallel(in[0].Rows(), func(lo, hi int) {
			kernels.LayerNorm(out, f32(in[0]), w, bias, n.Attr.(NormAttr).Eps, lo, hi)
		})
	case OpAddBias:
		c.parallel(len(out), func(lo, hi int) { kernels.AddBias(out, f32(in[0]), f32(in[1]), lo, hi) })
	case OpGelu:
		c.parallel(len(out), func(lo, hi int) { kernels.Gelu(out, f32(in[0]), lo, hi) })
	case OpAttentionFull:
		a := n.Attr.(FullAttnAttr)
		T := in[0].Rows()
		// Work items h*T + t: each goroutine gathers the keys and values of
		// few heads.
		c.parallel(T*a.Heads, func(lo, hi int) {
			kernels.AttentionFullBatch(out, f32(in[0]), f32(in[1]), f32(in[2]), T, a.Heads, a.HeadDim, a.Scale, lo, hi)
		})
	case OpAvgPool:
		p := n.Attr.(PoolAttr)
		kernels.AvgPool(out, f32(in[0]), p.Grid, p.K, in[0].Cols())
	default:
		return false, nil
	}
	return true, nil
}

// vision records the vision ops.
func (r *recorder) vision(n *Node, out gpu.Buffer) error {
	c := r.v.dev.Caps()
	in := n.In
	one := func(ds gpu.Dispatch, ts ...*Tensor) error {
		bufs, err := r.bufs(ts...)
		if err != nil {
			return err
		}
		return r.dispatch(ds, append(bufs, out), bufs, []gpu.Buffer{out})
	}
	switch n.Op {
	case OpLayerNorm:
		return one(kernels.LayerNormVk(c, in[0].Rows(), in[0].Cols(), n.Attr.(NormAttr).Eps), in[0], in[1], in[2])
	case OpAddBias:
		return one(kernels.AddBiasVk(c, in[0].Rows(), in[0].Cols()), in[0], in[1])
	case OpGelu:
		return one(kernels.GeluVk(c, n.Out.Len()), in[0])
	case OpAttentionFull:
		a := n.Attr.(FullAttnAttr)
		ds, err := kernels.AttentionFullVk(c, in[0].Rows(), a.Heads, a.HeadDim, a.Scale)
		if err != nil {
			return err
		}
		return one(ds, in[0], in[1], in[2])
	case OpAvgPool:
		p := n.Attr.(PoolAttr)
		return one(kernels.AvgPoolVk(c, p.Grid, p.K, in[0].Cols()), in[0])
	}
	return errors.New("no Vulkan lowering")
}
