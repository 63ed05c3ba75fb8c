package graph

import (
	"fmt"

	"gemmavk/kernels"
)

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
	// OpAttention: In: q, k, v, cacheK, cacheV, pos[, spans]. Attr: kernels.Attn.
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

	// Fused ops, made by Fuse from the plain ones above; each is equal to
	// the plain ops it replaces.

	// OpRMSNormRoPE: RoPE(RMSNorm(x, gain)) per head. In: x, gain, pos.
	// Attr: NormRopeAttr.
	OpRMSNormRoPE
	// OpRMSNormRoPECache: OpRMSNormRoPE of k, which also writes it and v
	// into the KV cache (the CacheWrite it replaces). In: k, gain, pos, v,
	// cacheK, cacheV. Attr: NormRopeAttr with Attn.
	OpRMSNormRoPECache
	// OpMatMulGelu: gelu_tanh(x · Wgᵀ) * (x · Wuᵀ). In: x, Wg, Wu.
	OpMatMulGelu
	// OpAddRMSNorm: Out = x + RMSNorm(o, g1); with a fourth input g2, Out2 =
	// RMSNorm(Out, g2). In: o, x, g1[, g2]. Attr: NormAttr.
	OpAddRMSNorm
	// OpNormMatMul: one token's MatMul of OpAddRMSNorm's second output,
	// the norms recomputed from its inputs; Out2, when not nil, is the
	// residual sum (OpAddRMSNorm's Out). In: o, x, g1, g2, W. Attr:
	// NormAttr. Made by FuseNormMatVec.
	OpNormMatMul
	// OpNormMatMulGelu: OpMatMulGelu of OpAddRMSNorm's second output, as
	// OpNormMatMul. In: o, x, g1, g2, Wg, Wu. Attr: NormAttr.
	OpNormMatMulGelu
	// OpAttentionNormRope: one token's attention from the raw q and k
	// projections, equal to OpRMSNormRoPE of q, OpRMSNormRoPECache of k
	// (which writes the normalized, rotated k and v into the cache) and
	// OpAttention of the results; the normalized q and k are not kept.
	// In: q [1, nH*D], qGain [D], k [1, nKV*D], kGain [D], v, cacheK,
	// cacheV, pos. Attr: AttnNormRopeAttr. Made by FuseAttentionNormRope.
	OpAttentionNormRope
)

var opNames = [...]string{"embed", "rmsnorm", "matmul", "rope", "attention", "cache_write", "add", "gelu_mul", "last_row",
	"rmsnorm_rope", "rmsnorm_rope_cache", "matmul_gelu", "add_rmsnorm", "norm_matmul", "norm_matmul_gelu",
	"attention_normrope"}

func (o Op) String() string {
	if s, ok := visionOpName(o); ok {
		return s
	}
	if o < 0 || int(o) >= len(opNames) {
		return fmt.Sprintf("op(%d)", int(o))
	}
	return opNames[o]
}

// EmbedAttr parameterizes OpEmbed.
type EmbedAttr struct{ Scale float32 }

// NormAttr parameterizes OpRMSNorm.
type NormAttr struct{ Eps float32 }

// RopeAttr parameterizes OpRoPE.
type RopeAttr struct {
	Heads, HeadDim int
	Base, Factor   float64
}

// NormRopeAttr parameterizes the fused norm + RoPE ops.
type NormRopeAttr struct {
	Eps  float32
	Rope RopeAttr
	Attn kernels.Attn // the cache written, for OpRMSNormRoPECache
}

// AttnNormRopeAttr parameterizes OpAttentionNormRope: the attention (with
// the cache it reads and writes), the norms' eps and the RoPE of q and k.
type AttnNormRopeAttr struct {
	Attn kernels.Attn
	Eps  float32
	Q, K RopeAttr
}

// Node is one operation: inputs, at most two outputs, and op attributes
// (one of the *Attr types or kernels.Attn).
type Node struct {
	Op   Op
	In   []*Tensor
	Out  *Tensor // nil for OpCacheWrite
	Out2 *Tensor // the second output of OpAddRMSNorm, or nil
	Attr any
}

// outputs returns the node's outputs.
func (n *Node) outputs() []*Tensor {
	switch {
	case n.Out == nil:
		return nil
	case n.Out2 == nil:
		return []*Tensor{n.Out}
	}
	return []*Tensor{n.Out, n.Out2}
}

// attn returns the node's attention attributes.
func (n *Node) attn() kernels.Attn { return n.Attr.(kernels.Attn) }
