package kernels

import "math"

// Add writes y[i] = a[i] + b[i] for i in [i0, i1). y may alias a or b.
func Add(y, a, b []float32, i0, i1 int) {
	for i := i0; i < i1; i++ {
		y[i] = a[i] + b[i]
	}
}

// GeluTanh is the tanh approximation of GELU (GEMMA3.md §1.3):
//
//	gelu(u) = 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3)))
func GeluTanh(u float32) float32 {
	// Explicit conversions keep the compiler from fusing multiply-adds, so
	// every build rounds the same way.
	x := float64(u)
	inner := float64(x + float64(0.044715*x*x*x))
	return float32(0.5 * x * float64(1+math.Tanh(math.Sqrt(2/math.Pi)*inner)))
}

// GeluMul writes the gated product of the Gemma MLP, y[i] = gelu(g[i]) * u[i],
// for i in [i0, i1). y may alias g or u.
func GeluMul(y, g, u []float32, i0, i1 int) {
	for i := i0; i < i1; i++ {
		y[i] = GeluTanh(g[i]) * u[i]
	}
}
