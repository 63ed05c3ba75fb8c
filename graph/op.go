package graph

import "gemmavk/kernels"

// Op names an operation of the catalogue in package kernels.
type Op int

// The operations a graph may hold. Each maps to one kernels reference.
const (
	// OpEmbed: y[T, H] = table[ids[T]] * scale. In: ids, table. Attr: EmbedAttr.
	OpEmbed Op = iota
	// OpRMSNorm: rows of x normalized over len(gain) values. In: x, gain. Attr: NormAttr.
	OpRMSNorm
	// OpMatMul: y[T, Rows] = x[T, Cols] · Wᵀ. In: x, W.
	OpMatMul
	// OpRoPE: rotary embedding of each head. In: x, pos. Attr: RopeAttr.
	OpRoPE
	// OpAttention: In: q, k, v, cacheK, cacheV, pos. Attr: kernels.Attn.
	OpAttention
	// OpCacheWrite: no output. In: k, v, cacheK, cacheV, pos, after (the
	// attention output that must be computed before the cache changes).
	OpCacheWrite
	// OpAdd: y = a + b.
	OpAdd
	// OpGeluMul: y = gelu_tanh(gate) * up.
	OpGeluMul
	// OpLastRow: y[1, N] = x[T-1, :].
	OpLastRow
)

var opNames = [...]string{"embed", "rmsnorm", "matmul", "rope", "attention", "cache_write", "add", "gelu_mul", "last_row"}

func (o Op) String() string { return opNames[o] }

// EmbedAttr parameterizes OpEmbed.
type EmbedAttr struct{ Scale float32 }

// NormAttr parameterizes OpRMSNorm.
type NormAttr struct{ Eps float32 }

// RopeAttr parameterizes OpRoPE.
type RopeAttr struct {
	Heads, HeadDim int
	Base, Factor   float64
}

// Node is one operation: inputs, at most one output, and op attributes
// (one of the *Attr types or kernels.Attn).
type Node struct {
	Op   Op
	In   []*Tensor
	Out  *Tensor // nil for OpCacheWrite
	Attr any
}

// attn returns the node's attention attributes.
func (n *Node) attn() kernels.Attn { return n.Attr.(kernels.Attn) }
