package kernels

import (
	"math"
	"slices"
)

// Token selection: the CPU references of shaders/argmax.comp and
// shaders/sample.comp. Logits are ranked by (value descending, index
// ascending) with NaN below -Inf and -0 equal to +0: see orderKey.

// SampleKMax is the largest TopK the GPU sampler takes (a compile-time
// bound of shaders/sample.comp: the candidate list of each workgroup has
// this many slots). Larger TopK, or TopK off, needs the CPU sampler.
const SampleKMax = 64

// SampleParams are the knobs of SampleTopK and SampleVk, with the meaning of
// gemma3/sample.Config's fields of the same names.
type SampleParams struct {
	Temperature float32 // <= 0: greedy argmax; the other fields are then ignored
	TopK        int     // candidates kept: 1..SampleKMax on the GPU
	TopP        float32 // in (0, 1): nucleus; otherwise off
	MinP        float32 // in [0, 1]: keep p >= MinP * p_max; 0 is off
}

// orderKey maps a float to a uint32 whose order is the float order: b | 1<<31
// for a sign bit of 0, ^b for 1, with -0 read as +0. NaN maps to 1, below
// every number; 0 is left for "no element".
func orderKey(v float32) uint32 {
	b := math.Float32bits(v)
	switch {
	case b&0x7fffffff > 0x7f800000:
		return 1
	case b&0x7fffffff == 0:
		b = 0
	}
	if b&0x80000000 != 0 {
		return ^b
	}
	return b | 0x80000000
}

// Argmax returns the index of the largest value of x, ties to the lowest
// index; NaN never wins over a number (an all-NaN row gives 0). Empty x
// gives -1.
func Argmax(x []float32) int {
	best, bestK := -1, uint32(0)
	for i, v := range x {
		if k := orderKey(v); k > bestK {
			best, bestK = i, k
		}
	}
	return best
}

// pcgHash is the PCG-based integer hash of Jarzynski and Olano, "Hash
// Functions for GPU Rendering" (JCGT 2020), as in shaders/sample.comp.
func pcgHash(v uint32) uint32 {
	s := v*747796405 + 2891336453
	w := ((s >> ((s >> 28) + 4)) ^ s) * 277803737
	return (w >> 22) ^ w
}

// SampleU is the uniform number in [0, 1) that the GPU sampler draws for a
// seed and step: the top 24 bits of pcgHash(pcgHash(seed) + step), times
// 2^-24, so it is exact in float32 on both sides.
func SampleU(seed, step uint32) float32 {
	return float32(pcgHash(pcgHash(seed)+step)>>8) * (1.0 / (1 << 24))
}

// SampleTopK picks a token from logits with the draw u in [0, 1), in
// float32, in this order:
//
//  1. candidates: the TopK largest logits (all of them when TopK <= 0 or
//     TopK >= len(logits)), descending, ties to the lowest index;
//  2. Temperature <= 0 (or NaN): the first candidate (Argmax);
//  3. e_j = exp((min(l_j, MaxFloat32) - min(l_0, MaxFloat32)) * (1/Temperature)),
//     with e_j = 1 when the difference is 0, and 0 for -Inf or NaN logits
//     or below the smallest normal float32 (GPUs flush denormals);
//  4. min-p: keep e_j > 0 with e_j >= MinP * e_0; z = their sum;
//  5. top-p (0 < TopP < 1): keep the shortest prefix of those whose running
//     sum reaches TopP * z; zc = its sum (else zc = z);
//  6. the pick is the first kept candidate whose running sum exceeds u * zc,
//     else the last kept one.
//
// Sums run in candidate order. If every logit is -Inf or NaN there is no
// token to pick, and empty logits have none: both give -1.
//
// Against gemma3/sample's Sampler (which also offers a repetition penalty
// and ExcludeFrom, which here is passing logits[:ExcludeFrom]): the stages
// are the same in the same order and draw from the same distribution, but
// the Sampler works in float64 and walks its top-k candidates in heap order,
// so a given u maps to a different token; its nucleus orders candidates by
// probability, which differs from logit order only when distinct logits
// round to the same probability.
func SampleTopK(logits []float32, p SampleParams, u float32) int {
	return sampleTopK(logits, p, u).pick
}

// sampleTrace is SampleTopK's working: what the parity test needs to judge
// a disagreement that comes from the GPU's exp.
type sampleTrace struct {
	ids  []int     // candidates, best first
	e    []float32 // their weights (step 3); nil when greedy
	thr  float32   // min-p threshold
	kept []bool    // survived min-p; nil when greedy or nothing has weight
	cut  int       // the nucleus is ids[:cut]
	z    float32   // sum of kept weights
	zc   float32   // sum of kept weights in the nucleus
	r    float32   // u * zc
	pick int
}

func sampleTopK(logits []float32, p SampleParams, u float32) sampleTrace {
	var t sampleTrace
	t.ids = topCandidates(logits, p.TopK)
	if len(t.ids) == 0 {
		t.pick = -1
		return t
	}
	if top := float64(logits[t.ids[0]]); math.IsNaN(top) || math.IsInf(top, -1) {
		t.pick = -1 // the best is -Inf or NaN: so is every logit
		return t
	}
	t.pick, t.cut = t.ids[0], 1 // greedy, or nothing has weight
	if !(p.Temperature > 0) {
		return t
	}
	invT := 1 / p.Temperature
	top := logits[t.ids[0]]
	t.e = make([]float32, len(t.ids))
	for j, id := range t.ids {
		t.e[j] = sampleWeight(logits[id], top, invT)
	}
	if t.e[0] == 0 {
		return t
	}
	t.thr = p.MinP * t.e[0]
	t.kept = make([]bool, len(t.ids))
	for j, e := range t.e {
		if e > 0 && e >= t.thr {
			t.kept[j] = true
			t.z += e
		}
	}
	t.cut, t.zc = len(t.ids), t.z
	if p.TopP > 0 && p.TopP < 1 {
		target := p.TopP * t.z
		var acc float32
		for j, e := range t.e {
			if !t.kept[j] {
				continue
			}
			if acc += e; acc >= target {
				t.cut, t.zc = j+1, acc
				break
			}
		}
	}
	t.r = u * t.zc
	var acc float32
	for j, e := range t.e[:t.cut] {
		if !t.kept[j] {
			continue
		}
		acc += e
		t.pick = t.ids[j]
		if acc > t.r {
			break
		}
	}
	return t
}

// sampleWeight is step 3 of SampleTopK for logit v against the top logit m.
func sampleWeight(v, m, invT float32) float32 {
	if v != v || v < -math.MaxFloat32 {
		return 0
	}
	d := min(v, math.MaxFloat32) - min(m, math.MaxFloat32)
	if d == 0 {
		return 1
	}
	e := float32(math.Exp(float64(d * invT)))
	if e < math.SmallestNonzeroFloat32*(1<<23) { // below the smallest normal
		return 0
	}
	return e
}

// topCandidates returns the indices of the k highest-ranked logits (all of
// them when k <= 0 or k >= len(logits)), best first.
func topCandidates(logits []float32, k int) []int {
	rankCmp := func(a, b int) int {
		ka, kb := orderKey(logits[a]), orderKey(logits[b])
		switch {
		case ka > kb || ka == kb && a < b:
			return -1
		case ka == kb && a == b:
			return 0
		}
		return 1
	}
	if k <= 0 || k > len(logits) {
		k = len(logits)
	}
	if k > SampleKMax { // long lists: sort everything
		ids := make([]int, len(logits))
		for i := range ids {
			ids[i] = i
		}
		slices.SortFunc(ids, rankCmp)
		return ids[:k]
	}
	// Insertion into a sorted list of at most k; indices rise, so an equal
	// key ranks below everything already held.
	ids := make([]int, 0, k)
	for i, v := range logits {
		key := orderKey(v)
		if len(ids) == k && key <= orderKey(logits[ids[k-1]]) {
			continue
		}
		at := len(ids)
		for at > 0 && orderKey(logits[ids[at-1]]) < key {
			at--
		}
		if len(ids) < k {
			ids = append(ids, 0)
		}
		copy(ids[at+1:], ids[at:len(ids)-1])
		ids[at] = i
	}
	return ids
}
