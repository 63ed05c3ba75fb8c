package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

func TestAddBias(t *testing.T) {
	const rows, n = 3, 5
	r := rand.New(rand.NewPCG(1, 2))
	x, b := randFloats(r, rows*n, 2), randFloats(r, n, 1)
	want := make([]float32, rows*n)
	for row := 0; row < rows; row++ {
		for j := 0; j < n; j++ {
			want[row*n+j] = x[row*n+j] + b[j]
		}
	}
	got := make([]float32, rows*n)
	AddBias(got, x, b, 0, 7) // two ranges, split inside a row
	AddBias(got, x, b, 7, rows*n)
	testutil.CheckClose(t, "add_bias", got, want, 0)
}

// Exact: one correctly rounded f32 addition per element on both sides.
func TestAddBiasVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, c := range []struct{ rows, n int }{{1, 1}, {3, 7}, {64, 64}, {33, 160}, {257, 1152}, {16, 4304}} {
		t.Run(fmt.Sprintf("rows=%d/n=%d", c.rows, c.n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.rows), uint64(c.n)))
			x, b := randFloats(r, c.rows*c.n, 3), randFloats(r, c.n, 1)
			want := make([]float32, len(x))
			AddBias(want, x, b, 0, len(x))
			out := vktest.Run(t, AddBiasVk(d.Caps(), c.rows, c.n), vktest.F32Bytes(x), vktest.F32Bytes(b), vktest.Poisoned(4*len(x)))
			checkElems(t, "add_bias", vktest.Floats(out[2]), want, 0, 0)
		})
	}
}
