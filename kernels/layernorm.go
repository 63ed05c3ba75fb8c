package kernels

import (
	"math"

	"gemmavk/gpu"
)

// LayerNorm normalizes each row of n values with its mean and population
// variance, then applies the weight w and bias b (SigLIP, GEMMA3.md §6.1):
//
//	mean = Σ_j x[r][j] / n,  var = Σ_j (x[r][j] - mean)^2 / n
//	y[r][j] = (x[r][j] - mean) / sqrt(var + eps) * w[j] + b[j]
//
// x and y are [rows, n] with n = len(w) = len(b); rows [r0, r1) are
// computed. y may alias x. Mean and variance are taken in float64 (two
// passes), the normalized value rounded to f32 before w and b are applied.
func LayerNorm(y, x, w, b []float32, eps float32, r0, r1 int) {
	n := len(w)
	for r := r0; r < r1; r++ {
		row := x[r*n : (r+1)*n]
		var s float64
		for _, v := range row {
			s += float64(v)
		}
		mean := s / float64(n)
		var ss float64
		for _, v := range row {
			d := float64(v) - mean
			ss += float64(d * d) // unfused on every build
		}
		inv := 1 / math.Sqrt(ss/float64(n)+float64(eps))
		out := y[r*n : (r+1)*n]
		for j, v := range row {
			nv := float32((float64(v) - mean) * inv)
			out[j] = float32(nv*w[j]) + b[j]
		}
	}
}

// LayerNormVk lowers LayerNorm over rows of n values on the GPU.
// Bindings: 0 x f32 [rows, n]; 1 w f32 [n]; 2 b f32 [n]; 3 y f32 [rows, n]
// (may be x).
func LayerNormVk(c gpu.Caps, rows, n int, eps float32) gpu.Dispatch {
	return gpu.Dispatch{
		Shader: "layernorm_f32",
		Spec:   []uint32{rowWorkgroup(c, n)},
		Push:   gpu.Push(uint32(rows), uint32(n), gpu.F32(eps)),
		Groups: rowGroups(rows),
	}
}
