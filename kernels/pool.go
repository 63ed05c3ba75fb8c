package kernels

import "gemmavk/gpu"

// AvgPool is the k x k, stride k average pooling of the Gemma 3 projector
// (GEMMA3.md §6.2). x is [grid*grid, c]: token n = row*grid + col of the
// patch grid, c channels each. y is [(grid/k)*(grid/k), c], token
// m = R*(grid/k) + C:
//
//	y[m][ch] = (Σ_{dr, dc < k} x[(k R + dr)*grid + k C + dc][ch]) * (1 / k²)
//
// The sum runs in f32 over dr, then dc (row-major in the window), and is
// multiplied by the f32 reciprocal 1/float32(k*k), so the GPU can match it
// bit for bit. grid must be a multiple of k.
func AvgPool(y, x []float32, grid, k, c int) {
	g := grid / k
	inv := 1 / float32(k*k)
	for m := 0; m < g*g; m++ {
		R, C := m/g, m%g
		out := y[m*c : (m+1)*c]
		for ch := range out {
			var s float32
			for dr := 0; dr < k; dr++ {
				for dc := 0; dc < k; dc++ {
					s += x[((k*R+dr)*grid+k*C+dc)*c+ch]
				}
			}
			out[ch] = s * inv
		}
	}
}

// AvgPoolVk lowers AvgPool on the GPU, one invocation per output value.
// Bindings: 0 x f32 [grid*grid, c]; 1 y f32 [(grid/k)^2, c].
func AvgPoolVk(caps gpu.Caps, grid, k, c int) gpu.Dispatch {
	wg := flatWorkgroup(caps)
	g := grid / k
	return gpu.Dispatch{
		Shader: "avgpool_f32",
		Spec:   []uint32{wg},
		Push:   gpu.Push(uint32(grid), uint32(k), uint32(c), gpu.F32(1/float32(k*k))),
		Groups: flatGroups(g*g*c, wg),
	}
}
