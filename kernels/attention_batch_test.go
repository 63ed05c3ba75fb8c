package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gemmavk/internal/testutil"
)

// TestAttentionFullBatch compares the batched attention with AttentionFull,
// the work split into calls that cut through heads and query groups.
// Tolerance: the scores and softmax are the same bits; the weighted sum of
// values adds in another order and scales once at the end (a few ulp).
func TestAttentionFullBatch(t *testing.T) {
	for _, c := range []struct{ n, heads, dim int }{
		{1, 1, 8}, {3, 2, 8}, {5, 3, 16}, {17, 2, 72}, {64, 4, 16}, {130, 3, 72},
	} {
		t.Run(fmt.Sprintf("n=%d/heads=%d/dim=%d", c.n, c.heads, c.dim), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.n), uint64(c.dim)))
			w := c.heads * c.dim
			q, k, v := randFloats(r, c.n*w, 2), randFloats(r, c.n*w, 2), randFloats(r, c.n*w, 1)
			scale := float32(1 / math.Sqrt(float64(c.dim)))
			want := make([]float32, c.n*w)
			AttentionFull(want, q, k, v, c.n, c.heads, c.dim, scale, 0, c.n*c.heads)
			got := make([]float32, c.n*w)
			for i := range got {
				got[i] = float32(math.NaN())
			}
			items := c.n * c.heads
			cuts := []int{0, items / 3, items/3 + 1, 2 * items / 3, items}
			for i := 0; i+1 < len(cuts); i++ {
				AttentionFullBatch(got, q, k, v, c.n, c.heads, c.dim, scale, cuts[i], cuts[i+1])
			}
			testutil.CheckClose(t, "attention", got, want, 1e-6)
		})
	}
}

func BenchmarkAttentionFullBatch(b *testing.B) {
	const n, heads, dim = 1024, 2, 72
	r := rand.New(rand.NewPCG(1, 2))
	w := heads * dim
	q, k, v := randFloats(r, n*w, 2), randFloats(r, n*w, 2), randFloats(r, n*w, 1)
	out := make([]float32, n*w)
	for b.Loop() {
		AttentionFullBatch(out, q, k, v, n, heads, dim, 0.1, 0, n*heads)
	}
	b.ReportMetric(4*float64(n)*float64(n)*float64(w)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
