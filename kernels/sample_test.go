package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gemmavk/gemma3/sample"
)

func TestArgmax(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	for _, c := range []struct {
		name string
		x    []float32
		want int
	}{
		{"empty", nil, -1},
		{"one", []float32{-5}, 0},
		{"max last", []float32{1, 2, 3}, 2},
		{"ties to lowest", []float32{1, 3, 2, 3}, 1},
		{"NaN never wins", []float32{nan32, -1, nan32}, 1},
		{"NaN below -Inf", []float32{nan32, negInf}, 1},
		{"all NaN", []float32{nan32, nan32}, 0},
		{"all -Inf", []float32{negInf, negInf}, 0},
		{"+Inf", []float32{math.MaxFloat32, posInf}, 1},
		{"-0 == +0", []float32{-1, negZero, 0}, 1},
		{"+0 then -0", []float32{0, negZero}, 0},
	} {
		if got := Argmax(c.x); got != c.want {
			t.Errorf("%s: Argmax(%v) = %d, want %d", c.name, c.x, got, c.want)
		}
	}
}

// The hash is pinned: the GPU computes the same numbers, and recorded
// seeds must keep drawing what they drew.
func TestSampleU(t *testing.T) {
	for _, c := range []struct {
		seed, step uint32
		want       float32
	}{
		{0, 0, 0.19039935}, {1, 2, 0.87379307}, {42, 1000, 0.72997546},
	} {
		if got := SampleU(c.seed, c.step); got != c.want {
			t.Errorf("SampleU(%d, %d) = %.8g, want %.8g", c.seed, c.step, got, c.want)
		}
	}
	seen := map[float32]bool{}
	for step := range uint32(1000) {
		u := SampleU(7, step)
		if u < 0 || u >= 1 || u*(1<<24) != float32(math.Floor(float64(u)*(1<<24))) {
			t.Fatalf("SampleU(7, %d) = %g: not k/2^24 in [0, 1)", step, u)
		}
		seen[u] = true
	}
	if len(seen) < 990 {
		t.Errorf("1000 steps drew only %d distinct numbers", len(seen))
	}
}

func logs(ps ...float64) []float32 {
	out := make([]float32, len(ps))
	for i, p := range ps {
		out[i] = float32(math.Log(p))
	}
	return out
}

func TestSampleTopK(t *testing.T) {
	three := logs(0.5, 0.3, 0.2)  // e = 1, 0.6, 0.4; z = 2
	skewed := logs(0.6, 0.3, 0.1) // e = 1, 0.5, 1/6
	for _, c := range []struct {
		name   string
		logits []float32
		p      SampleParams
		u      float32
		want   int
	}{
		{"u=0", three, SampleParams{1, 3, 0, 0}, 0, 0},
		{"u=0.49", three, SampleParams{1, 3, 0, 0}, 0.49, 0},
		{"u=0.51", three, SampleParams{1, 3, 0, 0}, 0.51, 1},
		{"u=0.79", three, SampleParams{1, 3, 0, 0}, 0.79, 1},
		{"u=0.81", three, SampleParams{1, 3, 0, 0}, 0.81, 2},
		{"u~1", three, SampleParams{1, 3, 0, 0}, 1 - 1.0/(1<<24), 2},
		{"top_k=2", three, SampleParams{1, 2, 0, 0}, 0.99, 1},
		{"top_k=1", three, SampleParams{1, 1, 0, 0}, 0.99, 0},
		{"greedy", three, SampleParams{0, 3, 0, 0}, 0.99, 0},
		{"greedy ignores top_k", three, SampleParams{-1, 0, 0, 0}, 0.99, 0},
		{"top_p=0.45 keeps one", three, SampleParams{1, 3, 0.45, 0}, 0.99, 0},
		{"top_p=0.6 keeps two", three, SampleParams{1, 3, 0.6, 0}, 0.99, 1},
		{"top_p=1 is off", three, SampleParams{1, 3, 1, 0}, 0.99, 2},
		{"min_p=0.2 drops the tail", skewed, SampleParams{1, 3, 0, 0.2}, 0.99, 1},
		{"min_p=0.1 keeps it", skewed, SampleParams{1, 3, 0, 0.1}, 0.99, 2},
		{"cold", three, SampleParams{0.01, 3, 0, 0}, 0.99, 0},
		{"hot", three, SampleParams{100, 3, 0, 0}, 0.99, 2},
		{"ties to lowest", []float32{1, 3, 3, 2}, SampleParams{1e-3, 2, 0, 0}, 0.49, 1},
		{"tied pair", []float32{1, 3, 3, 2}, SampleParams{1e-3, 2, 0, 0}, 0.51, 2},
		{"-Inf and NaN weigh 0", []float32{nan32, negInf, 0, nan32}, SampleParams{1, 4, 0, 0}, 0.99, 2},
		{"all -Inf", []float32{negInf, negInf}, SampleParams{1, 2, 0, 0}, 0.5, -1},
		{"all NaN", []float32{nan32, nan32}, SampleParams{1, 2, 0, 0}, 0.5, -1},
		{"-Inf and NaN, greedy", []float32{negInf, nan32, negInf}, SampleParams{}, 0.5, -1},
		{"one finite among NaN", []float32{nan32, -7, negInf}, SampleParams{}, 0.5, 1},
		{"+Inf reads as MaxFloat32", []float32{posInf, 0, posInf}, SampleParams{1, 3, 0, 0}, 0.51, 2},
		{"empty", nil, SampleParams{1, 3, 0, 0}, 0.5, -1},
	} {
		if got := SampleTopK(c.logits, c.p, c.u); got != c.want {
			t.Errorf("%s: SampleTopK(%v, %+v, %g) = %d, want %d", c.name, c.logits, c.p, c.u, got, c.want)
		}
	}
}

// topCandidates' insertion path agrees with a full sort, and TopK <= 0
// means every logit.
func TestTopCandidates(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 5, 64, 65, 1000} {
		x := argmaxRow(r, n, "ties")
		for i := range x {
			if r.IntN(10) == 0 {
				x[i] = nan32
			}
		}
		all := topCandidates(x, 0)
		if len(all) != n {
			t.Fatalf("n=%d: TopK 0 gave %d candidates", n, len(all))
		}
		for _, k := range []int{1, 2, 40, 64} {
			if got, want := topCandidates(x, k), all[:min(k, n)]; !slices.Equal(got, want) {
				t.Errorf("n=%d/k=%d: %v, want %v", n, k, got, want)
			}
		}
	}
}

// SampleTopK follows gemma3/sample's stages: every token the Sampler draws
// lies in SampleTopK's nucleus (where its probability is not within float
// noise of a cut), and greedy decoding agrees.
func TestSampleTopKMatchesSampler(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i, p := range []SampleParams{
		{1, 40, 0.9, 0}, {0.7, 64, 0.5, 0.05}, {1.5, 5, 1, 0.05}, {1, 64, 0.95, 0}, {0, 40, 0.9, 0},
	} {
		t.Run(fmt.Sprintf("t=%g/k=%d/top_p=%g/min_p=%g", p.Temperature, p.TopK, p.TopP, p.MinP), func(t *testing.T) {
			x := sampleLogits(r, 2000, "holes")
			s, err := sample.New(sample.Config{Temperature: float64(p.Temperature), TopK: p.TopK,
				TopP: float64(p.TopP), MinP: float64(p.MinP), Seed: uint64(i)})
			if err != nil {
				t.Fatal(err)
			}
			tr := sampleTopK(x, p, 0.5)
			nucleus := map[int]bool{tr.ids[0]: true} // greedy
			for j, id := range tr.ids[:tr.cut] {
				nucleus[id] = tr.kept == nil || tr.kept[j]
			}
			drawn := map[int]bool{}
			for range 300 {
				id, err := s.Sample(x, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !nucleus[id] {
					t.Fatalf("Sampler drew %d, outside SampleTopK's nucleus %v", id, tr.ids[:tr.cut])
				}
				drawn[id] = true
			}
			t.Logf("nucleus of %d candidates; the Sampler drew %d distinct tokens", tr.cut, len(drawn))
		})
	}
}
