package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

// checkElems fails when some element misses |got - want| <= abs + rel*|want|
// (a NaN must meet a NaN), naming the first few, and logs the largest
// relative error where rel*|want| >= abs otherwise.
func checkElems(t *testing.T, what string, got, want []float32, rel, abs float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad, worst, at := 0, 0.0, 0
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(w) || math.IsNaN(g) {
			if math.IsNaN(w) != math.IsNaN(g) {
				if bad++; bad <= 5 {
					t.Errorf("%s[%d] = %g, want %g", what, i, g, w)
				}
			}
			continue
		}
		d := math.Abs(g - w)
		if g == w { // also equal infinities
			d = 0
		}
		if d > abs+rel*math.Abs(w) {
			if bad++; bad <= 5 {
				t.Errorf("%s[%d] = %g, want %g (diff %.3g)", what, i, g, w, d)
			}
		}
		// The largest relative error where the relative bound governs.
		if w != 0 && !math.IsInf(w, 0) && rel*math.Abs(w) >= abs && d/math.Abs(w) > worst {
			worst, at = d/math.Abs(w), i
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values off", what, bad, len(want))
	} else {
		t.Logf("%s: largest relative error %.3g (at %d: %g, want %g)", what, worst, at, got[at], want[at])
	}
}

var elementwiseSizes = []int{1, 7, 8, 9, 31, 32, 33, 255, 256, 257, 1152, 2560}

// Tolerances: add, mul and scale are single correctly rounded f32 ops, so
// exact. gelu and gelu_mul: 1e-5 relative per element, as the GPU's exp is
// a few ulps off and more for large arguments (Vulkan allows 3 + 2|x| ulp;
// lavapipe reaches ~4e-6 where gelu ~ 1e-10), plus 1e-14 absolute, because
// the float64 reference's 1 + tanh z cancels for u < -5 (error ~1e-16|u|).
func TestElementwiseVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, op := range []struct {
		name     string
		binary   bool
		rel, abs float64
		lower    func(c gpu.Caps, n int) gpu.Dispatch
		ref      func(y, a, b []float32, n int)
	}{
		{"add", true, 0, 0, AddVk, func(y, a, b []float32, n int) { Add(y, a, b, 0, n) }},
		{"mul", true, 0, 0, MulVk, func(y, a, b []float32, n int) { Mul(y, a, b, 0, n) }},
		{"scale", false, 0, 0,
			func(c gpu.Caps, n int) gpu.Dispatch { return ScaleVk(c, n, -0.3125001) },
			func(y, a, _ []float32, n int) { Scale(y, a, -0.3125001, 0, n) }},
		{"gelu", false, 1e-5, 1e-14, GeluVk, func(y, a, _ []float32, n int) { Gelu(y, a, 0, n) }},
		{"gelu_mul", true, 1e-5, 1e-14, GeluMulVk, func(y, a, b []float32, n int) { GeluMul(y, a, b, 0, n) }},
	} {
		for _, n := range elementwiseSizes {
			t.Run(fmt.Sprintf("op=%s/n=%d", op.name, n), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(n), 7))
				a := randFloats(r, n, 6)
				b := randFloats(r, n, 3)
				want := make([]float32, n)
				op.ref(want, a, b, n)
				bufs := [][]byte{vktest.F32Bytes(a)}
				if op.binary {
					bufs = append(bufs, vktest.F32Bytes(b))
				}
				bufs = append(bufs, vktest.Poisoned(4*n))
				out := vktest.Run(t, op.lower(d.Caps(), n), bufs...)
				checkElems(t, op.name, vktest.Floats(out[len(out)-1]), want, op.rel, op.abs)
				testutil.CheckClose(t, "a unchanged", vktest.Floats(out[0]), a, 0)
				if op.binary {
					testutil.CheckClose(t, "b unchanged", vktest.Floats(out[1]), b, 0)
				}
			})
		}
	}
}

// TestElementwiseVulkanGrid runs add over more workgroups than one grid
// dimension holds (workgroups of 32 here), so the 2D grid is used. Exact.
func TestElementwiseVulkanGrid(t *testing.T) {
	d := vktest.Device(t)
	caps := d.Caps()
	caps.MaxWorkgroupInvocations = 32
	n := 32*maxGroups + 45
	ds := AddVk(caps, n)
	if ds.Groups[1] < 2 {
		t.Fatalf("groups %v: want a 2D grid", ds.Groups)
	}
	r := rand.New(rand.NewPCG(3, 4))
	a, b := randFloats(r, n, 1), randFloats(r, n, 1)
	want := make([]float32, n)
	Add(want, a, b, 0, n)
	out := vktest.Run(t, ds, vktest.F32Bytes(a), vktest.F32Bytes(b), vktest.Poisoned(4*n))
	checkElems(t, "add", vktest.Floats(out[2]), want, 0, 0)
}

// TestGeluVulkanRange checks gelu over the whole useful range on a log
// scale, both signs, where gelu underflows, and at ±Inf and NaN.
// Tolerance as TestElementwiseVulkan.
func TestGeluVulkanRange(t *testing.T) {
	d := vktest.Device(t)
	var x []float32
	for e := -30.0; e <= 30; e += 0.05 {
		v := float32(math.Pow(2, e))
		x = append(x, v, -v)
	}
	for v := float32(-12); v <= 12; v += 1.0 / 64 {
		x = append(x, v)
	}
	x = append(x, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()))
	n := len(x)
	want := make([]float32, n)
	Gelu(want, x, 0, n)
	out := vktest.Run(t, GeluVk(d.Caps(), n), vktest.F32Bytes(x), vktest.Poisoned(4*n))
	checkElems(t, "gelu", vktest.Floats(out[1]), want, 1e-5, 1e-14)
}
