package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

// TestSoftmax checks the reference: rows sum to 1, order is kept, a large
// shift of the inputs changes nothing, and -Inf entries give 0.
func TestSoftmax(t *testing.T) {
	x := []float32{1, 2, 3, float32(math.Inf(-1)), 1001, 1002, 1003, float32(math.Inf(-1))}
	y := make([]float32, len(x))
	Softmax(y, x, 4, 0, 2)
	for r := 0; r < 2; r++ {
		row := y[4*r : 4*r+4]
		var s float64
		for _, v := range row {
			s += float64(v)
		}
		if math.Abs(s-1) > 1e-6 || !(row[0] < row[1] && row[1] < row[2]) || row[3] != 0 {
			t.Errorf("row %d: %v", r, row)
		}
	}
	testutil.CheckClose(t, "shifted row", y[4:], y[:4], 0)
}

// Tolerance 1e-5 relative per element (1e-12 absolute for the tiniest):
// the GPU's exp is a few ulps off (inputs spread over [-12, 12], where
// Vulkan's bound is 3 + 2|x| ulp) and it sums in f32 in another order.
func TestSoftmaxVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, c := range []struct{ rows, n int }{
		{1, 1}, {3, 7}, {2, 8}, {3, 9}, {1, 31}, {2, 32}, {2, 33}, {3, 255}, {2, 257},
		{5, 1152}, {2, 2560}, {16, 4096},
		{maxGroups + 2, 2}, // rows on a 2D grid
	} {
		t.Run(fmt.Sprintf("rows=%d/n=%d", c.rows, c.n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.rows), uint64(c.n)))
			x := randFloats(r, c.rows*c.n, 12)
			// Masked entries, as attention scores carry; never a whole row.
			for i := 1; i < len(x); i += 5 {
				x[i] = float32(math.Inf(-1))
			}
			want := make([]float32, len(x))
			Softmax(want, x, c.n, 0, c.rows)
			out := vktest.Run(t, SoftmaxVk(d.Caps(), c.rows, c.n), vktest.F32Bytes(x), vktest.Poisoned(4*len(x)))
			checkElems(t, "softmax", vktest.Floats(out[1]), want, 1e-5, 1e-12)
			checkElems(t, "x unchanged", vktest.Floats(out[0]), x, 0, 0) // holds -Inf
		})
	}
}
