package kernels

import (
	"math"

	"gemmavk/gpu"
)

// Softmax writes the numerically stable softmax of each row of n values:
//
//	m = max_j x[r][j],  y[r][j] = exp(x[r][j] - m) / Σ_k exp(x[r][k] - m)
//
// x and y are [rows, n]; rows [r0, r1) are computed. y may alias x. The
// exponentials and their sum are taken in float64. A row whose entries are
// all -Inf has no softmax and yields NaN.
func Softmax(y, x []float32, n, r0, r1 int) {
	for r := r0; r < r1; r++ {
		row := x[r*n : (r+1)*n]
		m := float32(math.Inf(-1))
		for _, v := range row {
			m = max(m, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v - m))
		}
		out := y[r*n : (r+1)*n]
		for j, v := range row {
			out[j] = float32(math.Exp(float64(v-m)) / s)
		}
	}
}

// SoftmaxVk lowers Softmax over rows of n values on the GPU.
// Bindings: 0 x f32 [rows, n]; 1 y f32 [rows, n] (may be x).
func SoftmaxVk(c gpu.Caps, rows, n int) gpu.Dispatch {
	return gpu.Dispatch{
		Shader: "softmax_f32",
		Spec:   []uint32{rowWorkgroup(c, n)},
		Push:   gpu.Push(uint32(rows), uint32(n)),
		Groups: rowGroups(rows),
	}
}
