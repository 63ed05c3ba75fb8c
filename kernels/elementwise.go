package kernels

import (
	"fmt"
	"math"

	"gemmavk/gpu"
)

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

// Mul writes y[i] = a[i] * b[i] for i in [i0, i1). y may alias a or b.
func Mul(y, a, b []float32, i0, i1 int) {
	for i := i0; i < i1; i++ {
		y[i] = a[i] * b[i]
	}
}

// Scale writes y[i] = x[i] * s for i in [i0, i1). y may alias x.
func Scale(y, x []float32, s float32, i0, i1 int) {
	for i := i0; i < i1; i++ {
		y[i] = x[i] * s
	}
}

// Gelu writes y[i] = gelu(x[i]) (GeluTanh, the SigLIP MLP activation) for
// i in [i0, i1). y may alias x.
func Gelu(y, x []float32, i0, i1 int) {
	for i := i0; i < i1; i++ {
		y[i] = GeluTanh(x[i])
	}
}

// The elementwise lowerings run one invocation per element. Their outputs
// may be bound to the same buffer as an input.

// AddVk lowers Add over n elements.
// Bindings: 0 a f32 [n]; 1 b f32 [n]; 2 y f32 [n].
func AddVk(c gpu.Caps, n int) gpu.Dispatch { return elementwise(c, "add_f32", n) }

// MulVk lowers Mul over n elements.
// Bindings: 0 a f32 [n]; 1 b f32 [n]; 2 y f32 [n].
func MulVk(c gpu.Caps, n int) gpu.Dispatch { return elementwise(c, "mul_f32", n) }

// ScaleVk lowers Scale over n elements by s.
// Bindings: 0 x f32 [n]; 1 y f32 [n].
func ScaleVk(c gpu.Caps, n int, s float32) gpu.Dispatch {
	ds := elementwise(c, "scale_f32", n)
	ds.Push = gpu.Push(uint32(n), gpu.F32(s))
	return ds
}

// GeluMulVk lowers GeluMul over n elements. The GPU evaluates
// 0.5 (1 + tanh z) as 1 / (1 + exp(-2z)), which avoids GPU tanh's
// cancellation near 0 and stays accurate where gelu is tiny.
// Bindings: 0 g f32 [n]; 1 u f32 [n]; 2 y f32 [n].
func GeluMulVk(c gpu.Caps, n int) gpu.Dispatch { return elementwise(c, "gelu_mul_f32", n) }

// halfPairs checks that an op's output rows of n values can be stored as
// f16 pairs (the _h variants), n even.
func halfPairs(op string, n int) error {
	if n%2 != 0 {
		return fmt.Errorf("kernels: %s: f16 output in pairs of halves, but rows of %d values", op, n)
	}
	return nil
}

// GeluMulHalfVk is GeluMulVk storing y in f16 for a product on
// cooperative matrices that reads it (MatMulCoopPartVk with halfX):
// binding 2 y is [n/2] uint words, each a pair of halves (low first)
// clamped to the f16 range. n must be even.
func GeluMulHalfVk(c gpu.Caps, n int) (gpu.Dispatch, error) {
	if err := halfPairs("gelu_mul", n); err != nil {
		return gpu.Dispatch{}, err
	}
	ds := elementwise(c, "gelu_mul_h", n/2)
	ds.Push = gpu.Push(uint32(n))
	return ds, nil
}

// GeluVk lowers Gelu over n elements (tanh form computed as in GeluMulVk).
// Bindings: 0 x f32 [n]; 1 y f32 [n].
func GeluVk(c gpu.Caps, n int) gpu.Dispatch { return elementwise(c, "gelu_f32", n) }

func elementwise(c gpu.Caps, shader string, n int) gpu.Dispatch {
	wg := flatWorkgroup(c)
	return gpu.Dispatch{
		Shader: shader,
		Spec:   []uint32{wg},
		Push:   gpu.Push(uint32(n)),
		Groups: flatGroups(n, wg),
	}
}

// flatWorkgroup is the workgroup size of kernels that run one invocation
// per item.
func flatWorkgroup(c gpu.Caps) uint32 {
	wg := uint32(256)
	if lim := c.MaxWorkgroupInvocations; lim > 0 && wg > lim {
		wg = lim
	}
	return wg
}

// flatGroups covers n items with workgroups of wg invocations on a 2D
// grid, so that n may pass 65535 workgroups; shaders take item
// i = (group.y * groups.x + group.x) * wg + local and return past n.
func flatGroups(n int, wg uint32) [3]uint32 {
	return rowGroups(int(ceilDiv(n, int(wg))))
}
