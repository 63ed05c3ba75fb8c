package sample

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// DefaultRepeatLastN is the penalty window used when Config.RepeatLastN is 0.
const DefaultRepeatLastN = 64

// Config holds the sampling parameters; the zero value (Temperature 0) is
// greedy.
//
// The stages run in this order: repetition penalty, greedy argmax (when
// Temperature <= 0, which ends the chain), top-k, softmax with temperature,
// min-p, top-p, renormalisation and a random draw. Min-p compares against the
// largest probability after top-k; top-p accumulates probabilities
// renormalised over the tokens that survived top-k and min-p.
type Config struct {
	Temperature   float64 // <= 0: greedy argmax (ties → lowest id)
	TopK          int     // 0: off; keep the TopK highest logits (ties → lowest ids)
	TopP          float64 // 0 or >= 1: off; keep the smallest most-likely set with cumulative prob >= TopP
	MinP          float64 // 0: off; keep tokens with p >= MinP * p_max
	RepeatPenalty float64 // 1 or 0: off; for each distinct recent id, logit > 0 → logit / penalty, else logit * penalty
	RepeatLastN   int     // penalty window in tokens (DefaultRepeatLastN when 0; -1 = whole history)
	Seed          uint64  // fixed seed → identical output for identical inputs
	ExcludeFrom   int     // if > 0, ids >= ExcludeFrom are never sampled
}

// Validate reports the first invalid field of c. A Temperature <= 0 is valid
// and means greedy decoding.
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("sample: %s = %v, want %s", field, v, want)
	}
	switch {
	case math.IsNaN(c.Temperature) || math.IsInf(c.Temperature, 1):
		return bad("Temperature", c.Temperature, "a finite number")
	case c.TopK < 0:
		return bad("TopK", c.TopK, ">= 0")
	case math.IsNaN(c.TopP) || c.TopP < 0:
		return bad("TopP", c.TopP, ">= 0")
	case math.IsNaN(c.MinP) || c.MinP < 0 || c.MinP > 1:
		return bad("MinP", c.MinP, "in [0, 1]")
	case math.IsNaN(c.RepeatPenalty) || c.RepeatPenalty < 0:
		return bad("RepeatPenalty", c.RepeatPenalty, ">= 0")
	case c.RepeatLastN < -1:
		return bad("RepeatLastN", c.RepeatLastN, ">= -1")
	case c.ExcludeFrom < 0:
		return bad("ExcludeFrom", c.ExcludeFrom, ">= 0")
	}
	return nil
}

// cand is a surviving token with its unnormalised probability
// e = exp((logit - maxLogit) / temperature), so the most likely token has e = 1.
type cand struct {
	id int
	e  float64
}

// Sampler draws token ids from logits according to a Config. It owns its
// random generator and scratch buffers; it is not safe for concurrent use.
type Sampler struct {
	cfg   Config
	rng   *rand.Rand
	work  []float32 // penalised copy of the logits
	exp   []float64 // e per token, full-vocabulary paths only
	heap  []int     // top-k selection
	cands []cand
	stamp []uint32 // penalty de-duplication, indexed by id
	gen   uint32
}

// New validates c and returns a Sampler whose generator is a PCG seeded from
// c.Seed.
func New(c Config) (*Sampler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Sampler{cfg: c, rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))}, nil
}

// ErrNoCandidate is what Sample returns when every candidate logit is -Inf
// or NaN: there is no token to pick. A generation whose sampler runs on the
// GPU fails with it too.
var ErrNoCandidate = errors.New("sample: every candidate logit is -Inf or NaN")

// Sample returns the next token id for one row of logits, running the chain
// described on [Config]. history holds every token id so far (prompt and
// generated); only the repetition penalty reads it. logits is not modified:
// NaN reads as -Inf and +Inf as the largest float32. Sample fails on empty logits or when no
// candidate (below ExcludeFrom) has a logit other than -Inf or NaN.
func (s *Sampler) Sample(logits []float32, history []int) (int, error) {
	if len(logits) == 0 {
		return 0, errors.New("sample: empty logits")
	}
	c := &s.cfg
	n := len(logits)
	if c.ExcludeFrom > 0 && c.ExcludeFrom < n {
		n = c.ExcludeFrom
	}
	w := grow(s.work, n)
	s.work = w
	copy(w, logits)
	s.penalise(w, history)
	negInf := float32(math.Inf(-1))
	best, bestV := 0, negInf
	for i, v := range w {
		if v != v || v > math.MaxFloat32 { // NaN → -Inf; +Inf → MaxFloat32 keeps logit - max finite
			v = negInf
			if w[i] == w[i] {
				v = math.MaxFloat32
			}
			w[i] = v
		}
		if v > bestV {
			best, bestV = i, v
		}
	}
	if math.IsInf(float64(bestV), -1) {
		return 0, ErrNoCandidate
	}
	if c.Temperature <= 0 {
		return best, nil
	}
	maxL, t := float64(bestV), c.Temperature
	topP := c.TopP > 0 && c.TopP < 1
	if c.TopK > 0 && c.TopK < n {
		cs := s.cands[:0]
		var z float64
		for _, id := range s.topK(w, c.TopK) {
			if e := math.Exp((float64(w[id]) - maxL) / t); e > 0 && e >= c.MinP {
				cs = append(cs, cand{id, e})
				z += e
			}
		}
		s.cands = cs
		if topP {
			cs = nucleus(cs, c.TopP*z)
		}
		return s.draw(cs), nil
	}
	// Full vocabulary. Logits below lowL fail min-p and skip the exp; with
	// top-p, tokens with e >= firstCut are collected on the way.
	ex := grow(s.exp, n)
	s.exp = ex
	const firstCut = 1e-3
	lowL, invT := math.Inf(-1), 1/t
	if c.MinP > 0 {
		lowL = maxL + t*math.Log(c.MinP)
	}
	cs, z, mass := s.cands[:0], 0.0, 0.0
	for i, v := range w {
		e := 0.0
		if float64(v) >= lowL {
			if e = math.Exp((float64(v) - maxL) * invT); e < c.MinP {
				e = 0
			}
		}
		ex[i] = e
		z += e
		if topP && e >= firstCut {
			cs = append(cs, cand{i, e})
			mass += e
		}
	}
	if !topP {
		r, acc, last := s.rng.Float64()*z, 0.0, best
		for i, e := range ex {
			if e > 0 {
				if acc += e; acc > r {
					return i, nil
				}
				last = i
			}
		}
		return last, nil
	}
	// Tokens with e < cut weigh less than n*cut in total, so with
	// cut = (1-TopP)*z/n the tokens with e >= cut hold the whole nucleus.
	// The tight first cut usually suffices; otherwise collect again.
	floor, target := (1-c.TopP)*z/float64(n), c.TopP*z
	if mass < target && floor < firstCut {
		cs = cs[:0]
		for i, e := range ex {
			if e >= floor && e > 0 {
				cs = append(cs, cand{i, e})
			}
		}
	}
	s.cands = cs
	return s.draw(nucleus(cs, target)), nil
}

// penalise applies the repetition penalty once per distinct id among the
// last RepeatLastN entries of history; ids outside w are ignored.
func (s *Sampler) penalise(w []float32, history []int) {
	p := s.cfg.RepeatPenalty
	if p == 0 || p == 1 || len(history) == 0 {
		return
	}
	last := s.cfg.RepeatLastN
	if last == 0 {
		last = DefaultRepeatLastN
	}
	if last > 0 && last < len(history) {
		history = history[len(history)-last:]
	}
	if len(s.stamp) < len(w) {
		s.stamp = make([]uint32, len(w))
		s.gen = 0
	}
	if s.gen++; s.gen == 0 {
		clear(s.stamp)
		s.gen = 1
	}
	for _, id := range history {
		if id < 0 || id >= len(w) || s.stamp[id] == s.gen {
			continue
		}
		s.stamp[id] = s.gen
		if v := float64(w[id]); v > 0 {
			w[id] = float32(v / p)
		} else {
			w[id] = float32(v * p)
		}
	}
}

// topK returns the ids of the k largest finite logits (ties → lowest ids) in
// no particular order, using a min-heap of size k keyed on (logit, -id).
func (s *Sampler) topK(w []float32, k int) []int {
	h := s.heap[:0]
	worse := func(a, b int) bool { return w[a] < w[b] || (w[a] == w[b] && a > b) }
	down := func(i int) {
		for {
			m, l, r := i, 2*i+1, 2*i+2
			if l < len(h) && worse(h[l], h[m]) {
				m = l
			}
			if r < len(h) && worse(h[r], h[m]) {
				m = r
			}
			if m == i {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	rootL := float32(math.Inf(-1)) // stays -Inf until the heap is full
	for i, v := range w {
		switch {
		case v <= rootL: // -Inf, or a later id that is not strictly larger
		case len(h) < k:
			h = append(h, i)
			for j := len(h) - 1; j > 0 && worse(h[j], h[(j-1)/2]); j = (j - 1) / 2 {
				h[j], h[(j-1)/2] = h[(j-1)/2], h[j]
			}
			if len(h) == k {
				rootL = w[h[0]]
			}
		default:
			h[0] = i
			down(0)
			rootL = w[h[0]]
		}
	}
	s.heap = h
	return h
}

// before orders candidates by probability, ties → lowest id: a strict total
// order, so the nucleus is unique.
func before(a, b cand) bool { return a.e > b.e || (a.e == b.e && a.id < b.id) }

// nucleus reorders cs and returns the nucleus as a prefix: the shortest run,
// in descending-probability order, whose mass reaches target (at least one
// candidate). A weighted quickselect finds it in expected linear time; only
// the final few candidates get sorted.
func nucleus(cs []cand, target float64) []cand {
	lo, hi, acc := 0, len(cs), 0.0 // cs[:lo] is in the nucleus with mass acc
	for hi-lo > 16 {
		m, b := lo+(hi-lo)/2, hi-1 // middle pivot, moved to b
		cs[m], cs[b] = cs[b], cs[m]
		piv, i, mass := cs[b], lo, 0.0
		for j := lo; j < b; j++ {
			if before(cs[j], piv) {
				mass += cs[j].e
				cs[i], cs[j] = cs[j], cs[i]
				i++
			}
		}
		cs[i], cs[b] = cs[b], cs[i]
		switch {
		case acc+mass >= target:
			hi = i
		case acc+mass+piv.e >= target:
			return cs[:i+1]
		default:
			acc += mass + piv.e
			lo = i + 1
		}
	}
	tail := cs[lo:hi]
	slices.SortFunc(tail, func(a, b cand) int {
		if before(a, b) {
			return -1
		}
		return 1
	})
	for i, c := range tail {
		if acc += c.e; acc >= target {
			return cs[:lo+i+1]
		}
	}
	return cs[:max(hi, 1)]
}

// draw picks one candidate with probability proportional to e.
func (s *Sampler) draw(cs []cand) int {
	var z float64
	for _, c := range cs {
		z += c.e
	}
	r, acc := s.rng.Float64()*z, 0.0
	for _, c := range cs {
		if acc += c.e; acc > r {
			return c.id
		}
	}
	return cs[len(cs)-1].id
}

func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}
