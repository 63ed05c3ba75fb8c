package sample

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var (
	inf = float32(math.Inf(1))
	nan = float32(math.NaN())
)

func mustNew(t testing.TB, c Config) *Sampler {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// counts draws n samples and returns how often each id came out.
func counts(t *testing.T, c Config, logits []float32, history []int, n int) map[int]int {
	t.Helper()
	s, got := mustNew(t, c), map[int]int{}
	for range n {
		id, err := s.Sample(logits, history)
		if err != nil {
			t.Fatal(err)
		}
		got[id]++
	}
	return got
}

func logProbs(ps ...float64) []float32 {
	out := make([]float32, len(ps))
	for i, p := range ps {
		out[i] = float32(math.Log(p))
	}
	return out
}

func randLogits(seed uint64, n int, scale float64) []float32 {
	r, out := rand.New(rand.NewPCG(seed, 1)), make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64() * scale)
	}
	return out
}

func TestGreedy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		logits []float32
		want   int
	}{
		{"argmax", []float32{0.1, 2, -3, 1.9}, 1},
		{"ties lowest id", []float32{1, 5, 3, 5, 5}, 1},
		{"single", []float32{-7}, 0},
		{"nan is -inf", []float32{nan, -1, nan}, 1},
		{"-inf skipped", []float32{-inf, -inf, -100}, 2},
		{"+inf wins", []float32{3, inf, 1e30}, 1},
		{"+inf ties lowest id", []float32{1, inf, nan, inf}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, temp := range []float64{0, -1} {
				if got, err := mustNew(t, Config{Temperature: temp}).Sample(tc.logits, nil); err != nil || got != tc.want {
					t.Errorf("T=%v: got %d, %v; want %d", temp, got, err, tc.want)
				}
			}
		})
	}
}

func TestTopK1IsGreedy(t *testing.T) {
	logits := randLogits(7, 5000, 2)
	logits[4000] = logits[slices.Index(logits, slices.Max(logits))] // tie: lower id must win
	want, _ := mustNew(t, Config{}).Sample(logits, nil)
	for _, temp := range []float64{0.1, 1, 10, 1e6} {
		if got := counts(t, Config{Temperature: temp, TopK: 1, Seed: 3}, logits, nil, 50); got[want] != 50 {
			t.Errorf("T=%v: %v, want only %d", temp, got, want)
		}
	}
}

func TestSeedReproducible(t *testing.T) {
	logits := randLogits(1, 1000, 1)
	seq := func(c Config) []int {
		s, out := mustNew(t, c), make([]int, 100)
		for i := range out {
			out[i], _ = s.Sample(logits, out[:i])
		}
		return out
	}
	for _, c := range []Config{
		{Temperature: 1},
		{Temperature: 0.8, TopK: 40, TopP: 0.9, MinP: 0.01, RepeatPenalty: 1.1},
		{Temperature: 1.5, TopP: 0.95},
	} {
		c.Seed = 42
		a, b := seq(c), seq(c)
		c.Seed = 43
		if d := seq(c); !slices.Equal(a, b) || slices.Equal(a, d) {
			t.Errorf("%+v: same seed equal=%v, different seed equal=%v", c, slices.Equal(a, b), slices.Equal(a, d))
		}
	}
}

func TestEmpiricalSoftmax(t *testing.T) {
	logits := []float32{1, 2, 0.5}
	var z float64
	for _, l := range logits {
		z += math.Exp(float64(l))
	}
	const n = 20000
	for _, c := range []Config{{Temperature: 1, Seed: 9}, {Temperature: 1, Seed: 9, TopK: 2, TopP: 1}} {
		got := counts(t, c, logits, nil, n)
		for id, l := range logits {
			want := math.Exp(float64(l)) / z
			if c.TopK == 2 {
				want = []float64{math.Exp(1) / (math.E + math.Exp(2)), math.Exp(2) / (math.E + math.Exp(2)), 0}[id]
			}
			if f := float64(got[id]) / n; math.Abs(f-want) > 0.02 {
				t.Errorf("%+v id %d: freq %.4f, want %.4f", c, id, f, want)
			}
		}
	}
}

func TestFilters(t *testing.T) {
	probs := logProbs(0.5, 0.3, 0.15, 0.05)
	// The same distribution hidden in a large vocabulary of negligible tokens,
	// so the top-p pre-filter has to loosen its cut.
	big := slices.Concat(probs, slices.Repeat([]float32{-60}, 20000))
	for _, tc := range []struct {
		name   string
		c      Config
		logits []float32
		allow  []int
	}{
		{"top-p", Config{TopP: 0.75}, probs, []int{0, 1}},
		{"top-p after top-k", Config{TopK: 3, TopP: 0.75}, probs, []int{0, 1}},
		{"top-p big vocab", Config{TopP: 0.75}, big, []int{0, 1}},
		{"top-p renormalises after top-k", Config{TopK: 2, TopP: 0.6}, probs, []int{0}},
		{"top-p keeps one", Config{TopP: 1e-9}, probs, []int{0}},
		{"min-p", Config{MinP: 0.2}, probs, []int{0, 1, 2}},
		{"min-p big vocab", Config{MinP: 0.2}, big, []int{0, 1, 2}},
		{"top-p renormalises after min-p", Config{MinP: 0.4, TopP: 0.6}, probs, []int{0}},
		{"min-p 1", Config{MinP: 1, TopK: 3}, probs, []int{0}},
		{"top-k", Config{TopK: 2}, probs, []int{0, 1}},
		{"exclude", Config{ExcludeFrom: 2}, probs, []int{0, 1}},
		{"exclude hides max", Config{ExcludeFrom: 1}, []float32{0, 9, 9}, []int{0}},
		{"exclude >= vocab", Config{ExcludeFrom: 9}, []float32{-inf, 1}, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Temperature, tc.c.Seed = 1, 5
			got := counts(t, tc.c, tc.logits, []int{0, 1, 99999999}, 2000)
			for id := range got {
				if !slices.Contains(tc.allow, id) {
					t.Errorf("sampled %d, allowed %v (%v)", id, tc.allow, got)
				}
			}
			for _, id := range tc.allow {
				if got[id] == 0 {
					t.Errorf("never sampled %d (%v)", id, got)
				}
			}
		})
	}
}

func TestTopPMatchesBruteForce(t *testing.T) {
	// Flat tail: the first cut (e >= 1e-3) holds too little mass, so the
	// pre-filter must collect again, and ties must go to the lowest ids.
	flat := slices.Concat([]float32{0}, slices.Repeat([]float32{float32(math.Log(5e-4))}, 1000))
	for _, tc := range []struct {
		name   string
		logits []float32
		topP   float64
	}{
		{"wide", randLogits(11, 20000, 3), 0.9},
		{"flat", randLogits(12, 20000, 0.5), 0.5},
		{"flat tail ties", flat, 0.9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idx := make([]int, len(tc.logits))
			for i := range idx {
				idx[i] = i
			}
			slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(tc.logits[b], tc.logits[a]) })
			var z, acc float64
			for _, l := range tc.logits {
				z += math.Exp(float64(l))
			}
			allowed, n := map[int]bool{}, 0
			for ; acc < tc.topP; n++ {
				allowed[idx[n]] = true
				acc += math.Exp(float64(tc.logits[idx[n]])) / z
			}
			allowed[idx[n]] = true // one token of slack for summation order
			got := counts(t, Config{Temperature: 1, TopP: tc.topP, Seed: 2}, tc.logits, nil, 1000)
			for id := range got {
				if !allowed[id] {
					t.Fatalf("sampled %d outside the %d-token nucleus", id, n)
				}
			}
			if len(got) < 2 {
				t.Fatalf("only %v sampled from a %d-token nucleus", got, n)
			}
		})
	}
}

func TestRepeatPenalty(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       Config
		logits  []float32
		history []int
		want    int
	}{
		{"positive divided", Config{RepeatPenalty: 1.5}, []float32{2, 1.5}, []int{0}, 1},
		{"negative multiplied", Config{RepeatPenalty: 1.5}, []float32{-1.2, -1, -5}, []int{1}, 0},
		{"off at 1", Config{RepeatPenalty: 1}, []float32{2, 1.5}, []int{0}, 0},
		{"distinct ids once", Config{RepeatPenalty: 1.5}, []float32{2, 1.3}, []int{0, 0, 0}, 0},
		{"outside window", Config{RepeatPenalty: 1.5, RepeatLastN: 1}, []float32{2, 1.5}, []int{0, 1}, 0},
		{"default window 64", Config{RepeatPenalty: 1.5}, []float32{2, 1.5, 0}, append([]int{0}, slices.Repeat([]int{2}, 63)...), 1},
		{"beyond default window", Config{RepeatPenalty: 1.5}, []float32{2, 1.5, 0}, append([]int{0}, slices.Repeat([]int{2}, 64)...), 0},
		{"whole history", Config{RepeatPenalty: 1.5, RepeatLastN: -1}, []float32{2, 1.5, 0}, append([]int{0}, slices.Repeat([]int{2}, 64)...), 1},
		{"bad ids ignored", Config{RepeatPenalty: 1.5}, []float32{2, 1.5}, []int{-3, 7}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, tc.c)
			for range 3 { // scratch reuse must not leak penalties between calls
				if got, err := s.Sample(tc.logits, tc.history); err != nil || got != tc.want {
					t.Fatalf("got %d, %v; want %d", got, err, tc.want)
				}
			}
		})
	}
}

func TestSampleKeepsInput(t *testing.T) {
	logits := append(randLogits(3, 300, 2), nan, inf, -inf)
	before := slices.Clone(logits)
	history := []int{1, 2, 3, 301, 5}
	for _, c := range []Config{{}, {Temperature: 0.7, TopK: 20, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.3, ExcludeFrom: 250}, {Temperature: 1, TopP: 0.5, RepeatPenalty: 2}} {
		if _, err := mustNew(t, c).Sample(logits, history); err != nil {
			t.Fatal(err)
		}
		for i := range logits {
			if math.Float32bits(logits[i]) != math.Float32bits(before[i]) {
				t.Fatalf("%+v modified logits[%d]: %v → %v", c, i, before[i], logits[i])
			}
		}
	}
}

func TestErrors(t *testing.T) {
	n := math.NaN()
	for _, tc := range []struct {
		c     Config
		field string
	}{
		{Config{Temperature: n}, "Temperature"},
		{Config{Temperature: math.Inf(1)}, "Temperature"},
		{Config{TopK: -1}, "TopK"},
		{Config{TopP: -0.1}, "TopP"},
		{Config{TopP: n}, "TopP"},
		{Config{MinP: -0.1}, "MinP"},
		{Config{MinP: 1.1}, "MinP"},
		{Config{MinP: n}, "MinP"},
		{Config{RepeatPenalty: -1}, "RepeatPenalty"},
		{Config{RepeatPenalty: n}, "RepeatPenalty"},
		{Config{RepeatLastN: -2}, "RepeatLastN"},
		{Config{ExcludeFrom: -1}, "ExcludeFrom"},
	} {
		if _, err := New(tc.c); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: err %v, want one naming %s", tc.c, err, tc.field)
		}
	}
	for _, c := range []Config{{Temperature: -1}, {TopP: 1.5}, {MinP: 1}, {RepeatLastN: -1}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: unexpected %v", c, err)
		}
	}
	for _, tc := range []struct {
		c      Config
		logits []float32
	}{
		{Config{}, nil},
		{Config{Temperature: 1}, []float32{}},
		{Config{}, []float32{-inf, nan}},
		{Config{Temperature: 1, TopK: 1}, []float32{nan, -inf, nan}},
		{Config{Temperature: 1, ExcludeFrom: 2}, []float32{-inf, nan, 3}},
	} {
		if id, err := mustNew(t, tc.c).Sample(tc.logits, nil); err == nil {
			t.Errorf("%+v %v: got %d, want error", tc.c, tc.logits, id)
		}
	}
}

func BenchmarkSample(b *testing.B) {
	logits := randLogits(1, 262144, 3)
	history := make([]int, 512)
	for i := range history {
		history[i] = i * 97 % 262144
	}
	for _, bc := range []struct {
		name string
		c    Config
	}{
		{"greedy", Config{}},
		{"topk40", Config{Temperature: 1, TopK: 40}},
		{"topp0.95", Config{Temperature: 1, TopP: 0.95}},
		{"temp-only", Config{Temperature: 1}},
		{"gemma-default", Config{Temperature: 1, TopK: 64, TopP: 0.95, RepeatPenalty: 1.1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := mustNew(b, bc.c)
			for b.Loop() {
				if _, err := s.Sample(logits, history); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
