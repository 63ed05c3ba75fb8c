package kernels

import (
	"math"

	"gemmavk/gpu"
)

// RMSNorm normalizes each row of n values and multiplies by the gain g
// (Gemma form, GEMMA3.md §1.2, with g already holding 1 + w):
//
//	y[r][j] = x[r][j] / sqrt(mean_j(x[r][j]^2) + eps) * g[j]
//
// x and y are [rows, n] with n = len(g); rows [r0, r1) are computed. y may
// alias x. The sum of squares is taken in float64.
func RMSNorm(y, x, g []float32, eps float32, r0, r1 int) {
	n := len(g)
	for r := r0; r < r1; r++ {
		row := x[r*n : (r+1)*n]
		var ss float64
		for _, v := range row {
			ss += float64(float64(v) * float64(v)) // unfused on every build
		}
		inv := float32(1 / math.Sqrt(ss/float64(n)+float64(eps)))
		out := y[r*n : (r+1)*n]
		for j, v := range row {
			out[j] = v * inv * g[j]
		}
	}
}

// RMSNormVk lowers RMSNorm over rows of n values on the GPU.
// Bindings: 0 x f32 [rows, n]; 1 g f32 [n]; 2 y f32 [rows, n].
func RMSNormVk(c gpu.Caps, rows, n int, eps float32) gpu.Dispatch {
	return gpu.Dispatch{
		Shader: "rmsnorm_f32",
		Spec:   []uint32{rowWorkgroup(c, n)},
		Push:   gpu.Push(uint32(rows), uint32(n), gpu.F32(eps)),
		Groups: rowGroups(rows),
	}
}

// RMSNormHalfVk is RMSNormVk storing y in f16 for a product on cooperative
// matrices that reads it (MatMulCoopPartVk with halfX): y [rows, n/2]
// uint words, each a pair of halves (low first) clamped to the f16 range.
// n must be even, and y a buffer other than x.
func RMSNormHalfVk(c gpu.Caps, rows, n int, eps float32) (gpu.Dispatch, error) {
	if err := halfPairs("rmsnorm", n); err != nil {
		return gpu.Dispatch{}, err
	}
	ds := RMSNormVk(c, rows, n, eps)
	ds.Shader = "rmsnorm_f32_h"
	return ds, nil
}
