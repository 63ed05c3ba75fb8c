package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naiveAttention is the textbook form: a dense mask over all P positions,
// no cache. allowed(p, j) = j <= p && (W == 0 || j > p-W).
func naiveAttention(q, k, v []float32, P int, a Attn) []float32 {
	return naiveSpanAttention(q, k, v, nil, P, a)
}

// naiveSpanAttention adds the image rule (spans nil: none):
// allowed(p, j) = (j <= p || spans[p] == spans[j] != 0) && (W == 0 || j > p-W).
func naiveSpanAttention(q, k, v []float32, spans []int32, P int, a Attn) []float32 {
	d, kvw := a.HeadDim, a.KVHeads*a.HeadDim
	out := make([]float32, P*a.Heads*d)
	for p := 0; p < P; p++ {
		for h := 0; h < a.Heads; h++ {
			g := h / (a.Heads / a.KVHeads)
			s := make([]float64, P)
			mx := math.Inf(-1)
			for j := 0; j < P; j++ {
				s[j] = math.Inf(-1)
				image := spans != nil && spans[p] != 0 && spans[p] == spans[j]
				if (j <= p || image) && (a.Window == 0 || j > p-a.Window) {
					var dot float64
					for c := 0; c < d; c++ {
						dot += float64(q[(p*a.Heads+h)*d+c]) * float64(k[j*kvw+g*d+c])
					}
					s[j] = dot * float64(a.Scale)
				}
				mx = math.Max(mx, s[j])
			}
			var sum float64
			for j := range s {
				s[j] = math.Exp(s[j] - mx)
				sum += s[j]
			}
			for c := 0; c < d; c++ {
				var o float64
				for j := range s {
					o += s[j] / sum * float64(v[j*kvw+g*d+c])
				}
				out[(p*a.Heads+h)*d+c] = float32(o)
			}
		}
	}
	return out
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// TestAttentionChunkedRing runs a sequence through the ring-buffer cache
// in chunks and compares every position with the dense reference.
func TestAttentionChunkedRing(t *testing.T) {
	const P = 23
	for _, tc := range []struct{ window, slots, chunk int }{
		{0, P, 1}, {0, P, 4}, {0, P, P},
		{6, 6, 1}, {6, 6, 3}, {6, 6, 6}, {6, 6, 7}, {6, 6, P},
		{1, 1, 1}, {1, 1, 5}, {5, 5, 2},
	} {
		t.Run(fmt.Sprintf("window=%d/chunk=%d", tc.window, tc.chunk), func(t *testing.T) {
			a := Attn{Heads: 4, KVHeads: 2, HeadDim: 8, Scale: 0.3, Window: tc.window, Slots: tc.slots}
			r := rand.New(rand.NewPCG(1, uint64(tc.chunk)))
			kvw := a.KVHeads * a.HeadDim
			q, k, v := randVec(r, P*a.Heads*a.HeadDim), randVec(r, P*kvw), randVec(r, P*kvw)
			want := naiveAttention(q, k, v, P, a)
			ck, cv := make([]float32, a.Slots*kvw), make([]float32, a.Slots*kvw)
			got := make([]float32, len(want))
			for i := range got {
				got[i] = float32(math.NaN())
			}
			qw := a.Heads * a.HeadDim
			for p0 := 0; p0 < P; p0 += tc.chunk {
				T := min(tc.chunk, P-p0)
				pos := make([]int32, T)
				for i := range pos {
					pos[i] = int32(p0 + i)
				}
				if err := a.CheckCache(p0); err != nil {
					t.Fatal(err)
				}
				Attention(got[p0*qw:(p0+T)*qw], q[p0*qw:(p0+T)*qw], k[p0*kvw:(p0+T)*kvw], v[p0*kvw:(p0+T)*kvw],
					ck, cv, pos, a, make([]float32, P), 0, T*a.Heads)
				CacheWrite(ck, cv, k[p0*kvw:(p0+T)*kvw], v[p0*kvw:(p0+T)*kvw], pos, a, 0, T)
			}
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-5) {
					t.Fatalf("element %d (position %d): got %g, want %g", i, i/qw, got[i], want[i])
				}
			}
		})
	}
}

func TestCheckCacheTooSmall(t *testing.T) {
	a := Attn{Heads: 1, KVHeads: 1, HeadDim: 2, Window: 0, Slots: 4}
	if err := a.CheckCache(5); err == nil {
		t.Fatal("a global layer at position 5 with 4 slots was accepted")
	}
	a.Window = 4
	if err := a.CheckCache(100); err != nil {
		t.Fatalf("sliding window 4 with 4 slots: %v", err)
	}
}

func TestRMSNormAndRoPE(t *testing.T) {
	// RMSNorm of (3, 4) with gains (1, 2): rms = sqrt(12.5 + eps).
	y := make([]float32, 2)
	RMSNorm(y, []float32{3, 4}, []float32{1, 2}, 0, 0, 1)
	r := math.Sqrt(12.5)
	if math.Abs(float64(y[0])-3/r) > 1e-6 || math.Abs(float64(y[1])-8/r) > 1e-6 {
		t.Fatalf("rmsnorm: got %v", y)
	}
	// RoPE at position 0 is the identity; at position p with D = 2 it is a
	// plain rotation by p radians (inv freq = 1).
	x := []float32{1, 2}
	RoPE(x, []int32{0}, 1, 2, 10000, 1, 0, 1)
	if x[0] != 1 || x[1] != 2 {
		t.Fatalf("rope at 0: %v", x)
	}
	x = []float32{1, 0, 0, 1} // two heads of D = 2
	RoPE(x, []int32{3}, 2, 2, 10000, 1, 0, 1)
	c, s := math.Cos(3), math.Sin(3)
	want := []float64{c, s, -s, c}
	for i := range x {
		if math.Abs(float64(x[i])-want[i]) > 1e-6 {
			t.Fatalf("rope at 3: got %v, want %v", x, want)
		}
	}
	// Linear factor 8 at position 24 equals factor 1 at position 3.
	x = []float32{1, 0}
	RoPE(x, []int32{24}, 1, 2, 10000, 8, 0, 1)
	if math.Abs(float64(x[0])-c) > 1e-6 || math.Abs(float64(x[1])-s) > 1e-6 {
		t.Fatalf("rope linear scaling: %v", x)
	}
}

func TestGeluTanh(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0, 0},
		{1, 0.8411919906082768},    // 0.5·(1 + tanh(0.7978845608·1.044715))
		{-1, -0.15880800939172324}, // odd part: gelu(-x) = gelu(x) - x
		{3, 2.996362607918227},
	} {
		if got := GeluTanh(float32(tc.in)); math.Abs(float64(got)-tc.want) > 1e-6 {
			t.Errorf("gelu(%g) = %g, want %g", tc.in, got, tc.want)
		}
	}
}
