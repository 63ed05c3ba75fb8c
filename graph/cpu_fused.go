package graph

import "gemmavk/kernels"

// fused runs the fused ops on the CPU with the references of the plain ops
// they replace, so a fused graph gives the same bits as the plain one.
func (c *CPU) fused(n *Node, f32 func(*Tensor) []float32, i32 func(*Tensor) []int32) (bool, error) {
	in := n.In
	switch n.Op {
	case OpRMSNormRoPE, OpRMSNormRoPECache:
		a := n.Attr.(NormRopeAttr)
		r := a.Rope
		pos := i32(in[2])
		out := f32(n.Out)
		c.parallel(in[0].Rows(), func(lo, hi int) {
			kernels.RMSNormRoPE(out, f32(in[0]), f32(in[1]), pos, r.Heads, r.HeadDim, a.Eps, r.Base, r.Factor, lo, hi)
		})
		if n.Op == OpRMSNormRoPECache {
			kernels.CacheWrite(f32(in[4]), f32(in[5]), out, f32(in[3]), pos, a.Attn, 0, len(pos))
		}
	case OpMatMulGelu:
		wg, wu := in[1].Matrix, in[2].Matrix
		c.parallel(wg.Rows, func(lo, hi int) {
			kernels.MatVecGelu(f32(n.Out), f32(in[0]), wg, wu, make([]float32, 8*wg.Cols), lo, hi)
		})
	case OpAddRMSNorm:
		var g2, second []float32
		if len(in) > 3 {
			g2, second = f32(in[3]), f32(n.Out2)
		}
		g1 := f32(in[2])
		c.parallel(in[0].Len()/len(g1), func(lo, hi int) {
			kernels.AddRMSNorm(f32(n.Out), second, f32(in[0]), f32(in[1]), g1, g2, n.Attr.(NormAttr).Eps, lo, hi)
		})
	case OpNormMatMul, OpNormMatMulGelu:
		// The seam into scratch (the sum into Out2 when the node has it),
		// then the plain product.
		cols := in[0].Cols()
		sum, f := make([]float32, cols), make([]float32, cols)
		if n.Out2 != nil {
			sum = f32(n.Out2)
		}
		kernels.AddRMSNorm(sum, f, f32(in[0]), f32(in[1]), f32(in[2]), f32(in[3]), n.Attr.(NormAttr).Eps, 0, 1)
		w := in[4].Matrix
		if n.Op == OpNormMatMul {
			c.parallel(w.Rows, func(lo, hi int) { kernels.MatMul(f32(n.Out), f, w, 1, nil, lo, hi) })
			break
		}
		c.parallel(w.Rows, func(lo, hi int) {
			kernels.MatVecGelu(f32(n.Out), f, w, in[5].Matrix, make([]float32, 8*w.Cols), lo, hi)
		})
	case OpAttentionNormRope:
		return true, c.attentionNormRope(n, f32, i32)
	default:
		return false, nil
	}
	return true, nil
}

// attentionNormRope runs OpAttentionNormRope as the ops it replaces: the
// norm + RoPE of q and of k into scratch, k and v into the cache, then the
// attention.
func (c *CPU) attentionNormRope(n *Node, f32 func(*Tensor) []float32, i32 func(*Tensor) []int32) error {
	in := n.In
	a := n.Attr.(AttnNormRopeAttr)
	pos := i32(in[7])
	q, k := make([]float32, in[0].Len()), make([]float32, in[2].Len())
	kernels.RMSNormRoPE(q, f32(in[0]), f32(in[1]), pos, a.Q.Heads, a.Q.HeadDim, a.Eps, a.Q.Base, a.Q.Factor, 0, len(pos))
	kernels.RMSNormRoPE(k, f32(in[2]), f32(in[3]), pos, a.K.Heads, a.K.HeadDim, a.Eps, a.K.Base, a.K.Factor, 0, len(pos))
	v, ck, cv := f32(in[4]), f32(in[5]), f32(in[6])
	kernels.CacheWrite(ck, cv, k, v, pos, a.Attn, 0, len(pos))
	return c.attention(a.Attn, f32(n.Out), q, k, v, ck, cv, pos, nil)
}
