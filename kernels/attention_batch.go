package kernels

import (
	"math"

	"gemmavk/kernels/quant"
)

// AttentionFullBatch computes AttentionFull's values for the work items
// i = h*n + t in [i0, i1) (head-major, unlike AttentionFull, so that one
// call gathers each head's keys and values once) with the batched dot
// products of the matrix product: for four queries at a time, the scores
// of all keys as one DotF32Batch4 over the head's keys [n, dim] (padded
// with zeros to whole vectors), then the weighted sum of values as one
// DotF32Batch4 over the head's values transposed [dim, n]. The scores, their maximum and the float64 softmax
// are AttentionFull's bit for bit; the weighted sum adds in another order
// (each output is Σ_j e_j v_j rounded, then scaled by 1/Σ e_j).
//
// q, k, v and out are [n, heads*dim].
func AttentionFullBatch(out, q, k, v []float32, n, heads, dim int, scale float32, i0, i1 int) {
	w := heads * dim
	// Keys and queries padded with zeros to whole 16-lane vectors: the
	// dot products skip their scalar tails and add only exact zeros.
	dp := (dim + 15) / 16 * 16
	kh := make([]float32, n*dp)  // keys of one head, [n, dp]
	vt := make([]float32, dim*n) // values of one head, transposed [dim, n]
	sc := make([]float32, 4*n)   // scores [n, 4]
	ob := make([]float32, 4*dim) // outputs [dim, 4]
	var qs, ps [4][]float32
	for r := range ps {
		ps[r] = make([]float32, n)
		qs[r] = make([]float32, dp)
	}
	inv := make([]float32, 4)
	for h := i0 / n; h < heads && h*n < i1; h++ {
		t0, t1 := max(i0-h*n, 0), min(i1-h*n, n)
		for j := 0; j < n; j++ {
			copy(kh[j*dp:j*dp+dim], k[j*w+h*dim:j*w+(h+1)*dim])
			for c := 0; c < dim; c++ {
				vt[c*n+j] = v[j*w+h*dim+c]
			}
		}
		for t := t0; t < t1; t += 4 {
			m := min(4, t1-t)
			for r := range qs {
				row := t + min(r, m-1) // a short last group repeats its last query
				copy(qs[r], q[row*w+h*dim:row*w+(h+1)*dim])
			}
			quant.DotF32Batch4(&qs, kh, sc, 4)
			mx := [4]float32{float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1))}
			for j := 0; j < n; j++ {
				s := (*[4]float32)(sc[4*j : 4*j+4])
				for r := range s {
					s[r] *= scale
					mx[r] = max(mx[r], s[r])
				}
			}
			var sum [4]float64
			p0, p1, p2, p3 := ps[0][:n], ps[1][:n], ps[2][:n], ps[3][:n]
			for j := 0; j < n; j++ {
				s := (*[4]float32)(sc[4*j : 4*j+4])
				e0, e1 := math.Exp(float64(s[0]-mx[0])), math.Exp(float64(s[1]-mx[1]))
				e2, e3 := math.Exp(float64(s[2]-mx[2])), math.Exp(float64(s[3]-mx[3]))
				p0[j], p1[j], p2[j], p3[j] = float32(e0), float32(e1), float32(e2), float32(e3)
				sum[0], sum[1], sum[2], sum[3] = sum[0]+e0, sum[1]+e1, sum[2]+e2, sum[3]+e3
			}
			for r := range inv {
				inv[r] = float32(1 / sum[r])
			}
			quant.DotF32Batch4(&ps, vt, ob, 4)
			for r := 0; r < m; r++ {
				o := out[(t+r)*w+h*dim : (t+r)*w+(h+1)*dim]
				for c := range o {
					o[c] = ob[c*4+r] * inv[r]
				}
			}
		}
	}
}
