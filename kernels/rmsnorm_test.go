package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

// randFloats returns n values uniform in [-scale, scale).
func randFloats(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (2*r.Float32() - 1) * scale
	}
	return v
}

// Tolerance: f32 end to end; the GPU sums squares in f32 in another order
// than the float64 reference.
func TestRMSNormVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, c := range []struct{ rows, n int }{
		{1, 1}, {3, 7}, {2, 8}, {3, 9}, {1, 31}, {2, 33}, {3, 255}, {2, 257}, {5, 1152}, {2, 2560}, {64, 256},
	} {
		t.Run(fmt.Sprintf("rows=%d/n=%d", c.rows, c.n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.rows), uint64(c.n)))
			x := randFloats(r, c.rows*c.n, 4)
			g := randFloats(r, c.n, 2)
			want := make([]float32, len(x))
			RMSNorm(want, x, g, 1e-6, 0, c.rows)
			out := vktest.Run(t, RMSNormVk(d.Caps(), c.rows, c.n, 1e-6),
				vktest.F32Bytes(x), vktest.F32Bytes(g), vktest.Poisoned(4*len(x)))
			testutil.CheckClose(t, "rmsnorm", vktest.Floats(out[2]), want, 1e-5)
			testutil.CheckClose(t, "x unchanged", vktest.Floats(out[0]), x, 0)
		})
	}
}
