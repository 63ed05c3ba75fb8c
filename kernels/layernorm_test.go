package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

// TestLayerNorm checks the reference against the definition: with w = 1
// and b = 0 each row comes out with mean 0 and variance 1/(1 + eps/var).
func TestLayerNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const rows, n = 3, 1152
	x := randFloats(r, rows*n, 2)
	for i := range x {
		x[i] += 5 // a large mean must not spoil the variance
	}
	w, b := make([]float32, n), make([]float32, n)
	for j := range w {
		w[j] = 1
	}
	y := make([]float32, len(x))
	LayerNorm(y, x, w, b, 1e-6, 0, rows)
	for r := 0; r < rows; r++ {
		var s, ss float64
		for _, v := range y[r*n : (r+1)*n] {
			s += float64(v)
			ss += float64(v) * float64(v)
		}
		if mean, v := s/n, ss/n; math.Abs(mean) > 1e-6 || math.Abs(v-1) > 1e-5 {
			t.Errorf("row %d: mean %g, variance %g; want 0, 1", r, mean, v)
		}
	}
}

// Tolerance 1e-5 relative to the largest output: the GPU sums in f32 in
// another order than the float64 reference.
func TestLayerNormVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, c := range []struct{ rows, n int }{
		{1, 1}, {3, 7}, {2, 8}, {3, 9}, {1, 31}, {2, 32}, {2, 33}, {3, 255}, {2, 257},
		{5, 1152}, {2, 2560}, {64, 256},
		{maxGroups + 2, 3}, // rows on a 2D grid
	} {
		t.Run(fmt.Sprintf("rows=%d/n=%d", c.rows, c.n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.rows), uint64(c.n)))
			x := randFloats(r, c.rows*c.n, 4)
			for i := range x {
				x[i] += 3
			}
			w := randFloats(r, c.n, 2)
			b := randFloats(r, c.n, 1)
			want := make([]float32, len(x))
			LayerNorm(want, x, w, b, 1e-6, 0, c.rows)
			out := vktest.Run(t, LayerNormVk(d.Caps(), c.rows, c.n, 1e-6),
				vktest.F32Bytes(x), vktest.F32Bytes(w), vktest.F32Bytes(b), vktest.Poisoned(4*len(x)))
			testutil.CheckClose(t, "layernorm", vktest.Floats(out[3]), want, 1e-5)
			testutil.CheckClose(t, "x unchanged", vktest.Floats(out[0]), x, 0)
		})
	}
}
