package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

// TestAvgPoolLayout follows GEMMA3.md §6.2 step by step, independently of
// AvgPool's indexing: transpose z [G*G, C] to g[c][row][col], pool 4 x 4
// windows into pool[c][R][C], flatten and transpose back to [256, C].
// Inputs are small integers, so every sum is exact and so is the check.
func TestAvgPoolLayout(t *testing.T) {
	const G, k, C = 64, 4, 3
	r := rand.New(rand.NewPCG(5, 6))
	z := make([]float32, G*G*C)
	for i := range z {
		z[i] = float32(r.IntN(33) - 16)
	}
	var g [C][G][G]float32
	for n := 0; n < G*G; n++ {
		for c := 0; c < C; c++ {
			g[c][n/G][n%G] = z[n*C+c]
		}
	}
	const P = G / k
	want := make([]float32, P*P*C)
	for c := 0; c < C; c++ {
		for R := 0; R < P; R++ {
			for Col := 0; Col < P; Col++ {
				var s float32
				for dr := 0; dr < k; dr++ {
					for dc := 0; dc < k; dc++ {
						s += g[c][k*R+dr][k*Col+dc]
					}
				}
				want[(R*P+Col)*C+c] = s / (k * k)
			}
		}
	}
	got := make([]float32, len(want))
	AvgPool(got, z, G, k, C)
	testutil.CheckClose(t, "avgpool", got, want, 0)
}

// Exact: the GPU adds the window in the reference's order and multiplies
// by the same f32 reciprocal, all correctly rounded f32 operations.
func TestAvgPoolVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, c := range []struct{ grid, k, c int }{
		{4, 4, 3}, {4, 4, 1152}, {8, 4, 3}, {8, 4, 1152}, {64, 4, 3}, {64, 4, 1152},
		{6, 3, 7}, // 1/9 is not a power of two
		{9, 1, 33},
	} {
		t.Run(fmt.Sprintf("grid=%d/k=%d/c=%d", c.grid, c.k, c.c), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.grid), uint64(c.c)))
			x := randFloats(r, c.grid*c.grid*c.c, 3)
			g := c.grid / c.k
			want := make([]float32, g*g*c.c)
			AvgPool(want, x, c.grid, c.k, c.c)
			out := vktest.Run(t, AvgPoolVk(d.Caps(), c.grid, c.k, c.c), vktest.F32Bytes(x), vktest.Poisoned(4*len(want)))
			checkElems(t, "avgpool", vktest.Floats(out[1]), want, 0, 0)
			testutil.CheckClose(t, "x unchanged", vktest.Floats(out[0]), x, 0)
		})
	}
}
