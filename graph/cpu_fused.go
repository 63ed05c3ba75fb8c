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
	default:
		return false, nil
	}
	return true, nil
}
