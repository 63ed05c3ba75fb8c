package kernels

import "math"

// RoPE rotates each head of x in place, NeoX / rotate-half layout
// (GEMMA3.md §2): for head vector x of length D, half = D/2, position p,
//
//	inv[j] = base^(-2j/D) / factor           (f32, RoPEInvFreq)
//	θ[j]   = p * inv[j]                      (one f32 product)
//	x'[j]      = x[j] cos θ[j] - x[j+half] sin θ[j]
//	x'[j+half] = x[j+half] cos θ[j] + x[j] sin θ[j]
//
// x is [T, heads*D]; tokens t in [t0, t1) are rotated with positions pos[t].
func RoPE(x []float32, pos []int32, heads, dim int, base, factor float64, t0, t1 int) {
	half := dim / 2
	var invBuf [512]float32
	inv := invBuf[:0]
	if half > len(invBuf) {
		inv = make([]float32, 0, half)
	}
	inv = appendRoPEInvFreq(inv, dim, base, factor)
	var csBuf [1024]float32
	cs := csBuf[:0]
	if 2*half > len(csBuf) {
		cs = make([]float32, 0, 2*half)
	}
	cs = cs[:2*half]
	for t := t0; t < t1; t++ {
		p := float32(pos[t])
		for j := 0; j < half; j++ {
			th := float64(p * inv[j])
			cs[j], cs[half+j] = float32(math.Cos(th)), float32(math.Sin(th))
		}
		row := x[t*heads*dim : (t+1)*heads*dim]
		for h := 0; h < heads; h++ {
			v := row[h*dim : (h+1)*dim]
			for j := 0; j < half; j++ {
				a, b := v[j], v[j+half]
				c, s := cs[j], cs[half+j]
				// Explicit rounding of each product: no fused multiply-add,
				// so every build gives the same bits.
				v[j] = float32(a*c) - float32(b*s)
				v[j+half] = float32(b*c) + float32(a*s)
			}
		}
	}
}

// RoPEInvFreq returns the inverse frequencies RoPE uses for head dimension
// dim: inv[j] = float32(base^(-2j/dim)) / float32(factor), j < dim/2, the
// power taken in float64 and the division by the linear scaling factor in
// float32. The GPU lowering reads this table, so both sides rotate by the
// same f32 angles.
func RoPEInvFreq(dim int, base, factor float64) []float32 {
	return appendRoPEInvFreq(make([]float32, 0, dim/2), dim, base, factor)
}

func appendRoPEInvFreq(inv []float32, dim int, base, factor float64) []float32 {
	for j := 0; j < dim/2; j++ {
		f := float32(1 / math.Pow(base, float64(2*j)/float64(dim)))
		inv = append(inv, f/float32(factor))
	}
	return inv
}
