package kernels

import "gemmavk/gpu"

// AddBias adds the bias b to every row of x, the bias of a linear layer
// (SigLIP, GEMMA3.md §6.1):
//
//	y[r][j] = x[r][j] + b[j]      x, y: [rows, len(b)]
//
// for the flat elements i = r*len(b) + j in [i0, i1). y may alias x.
func AddBias(y, x, b []float32, i0, i1 int) {
	n := len(b)
	for i := i0; i < i1; i++ {
		y[i] = x[i] + b[i%n]
	}
}

// AddBiasVk lowers AddBias over rows of n values, one invocation per
// element (add_bias_f32).
// Bindings: 0 x f32 [rows, n]; 1 b f32 [n]; 2 y f32 [rows, n] (may be x).
func AddBiasVk(c gpu.Caps, rows, n int) gpu.Dispatch {
	wg := flatWorkgroup(c)
	return gpu.Dispatch{
		Shader: "add_bias_f32",
		Spec:   []uint32{wg},
		Push:   gpu.Push(uint32(rows*n), uint32(n)),
		Groups: flatGroups(rows*n, wg),
	}
}
