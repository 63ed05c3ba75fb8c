package kernels

import (
	"fmt"
	"math"

	"gemmavk/kernels/quant"
)

// Attn describes one attention layer's geometry and mask.
type Attn struct {
	Heads   int     // nH query heads
	KVHeads int     // nKV key/value heads; query head h reads h / (nH/nKV)
	HeadDim int     // D
	Scale   float32 // multiplies q·k (query_pre_attn_scalar^-1/2)
	Window  int     // sliding window W in tokens; 0 means global (causal only)
	Slots   int     // cache rows; position p lives in row p % Slots
}

// KeyRange returns the first and one-past-last key positions the query at
// position p may see (GEMMA3.md §3): j <= p, and j > p - W on sliding layers.
func (a Attn) KeyRange(p int) (lo, hi int) {
	lo = 0
	if a.Window > 0 && p-a.Window+1 > 0 {
		lo = p - a.Window + 1
	}
	return lo, p + 1
}

// CheckCache reports whether the cache can serve a chunk starting at p0:
// every key the chunk needs before p0 must still be in its ring.
func (a Attn) CheckCache(p0 int) error {
	lo, _ := a.KeyRange(p0)
	if p0-lo > a.Slots {
		return fmt.Errorf("kernels: attention: chunk at position %d needs %d cached keys, cache holds %d", p0, p0-lo, a.Slots)
	}
	return nil
}

// Attention computes scaled dot-product attention for a chunk of T query
// tokens at consecutive positions pos[0], pos[0]+1, … (GEMMA3.md §1.4):
//
//	S[h,t,j] = Scale · <q[t,h], k[j,g(h)]>   over allowed j (KeyRange)
//	out[t,h] = Σ_j softmax_j(S)[h,t,j] · v[j,g(h)]
//
// Keys and values of the chunk itself come from k and v ([T, nKV*D]); keys
// before pos[0] come from the ring-buffer cache ck, cv ([Slots, nKV*D]),
// which must not yet hold this chunk (attend, then write: see CacheWrite).
// q and out are [T, nH*D]. Work items i = t*nH + h in [i0, i1) are computed;
// scores is scratch of at least pos[T-1]+1 (or Window) floats. It is
// AttentionSpans without image spans.
func Attention(out, q, k, v, ck, cv []float32, pos []int32, a Attn, scores []float32, i0, i1 int) {
	AttentionSpans(out, q, k, v, ck, cv, pos, nil, a, scores, i0, i1)
}

// AttentionSpans is Attention with bidirectional spans (GEMMA3.md §3,
// images): the chunk token t also sees every later chunk token u with
// spans[u] == spans[t] != 0, and the sliding window still bounds what it
// sees (j > p - W), since transformers ORs the image rule onto the causal
// mask and applies the window overlay after it (its outputs for the
// vlm-tiny fixture, whose 16-token image is longer than the window of 6,
// show it). For the released models (W >= 512 > 256 tokens per image) this
// is the same as an OR onto the windowed mask. spans ([T] span ids, 0 for
// text) may be nil: plain causal attention. Spans concern the chunk only,
// as an image never straddles two chunks. scores is scratch of at least
// pos[T-1]+1 floats (or Window+T on sliding layers).
func AttentionSpans(out, q, k, v, ck, cv []float32, pos, spans []int32, a Attn, scores []float32, i0, i1 int) {
	d, kvw := a.HeadDim, a.KVHeads*a.HeadDim
	group := a.Heads / a.KVHeads
	p0 := int(pos[0])
	for i := i0; i < i1; i++ {
		t, h := i/a.Heads, i%a.Heads
		g := h / group
		p := p0 + t
		lo, hi := a.KeyRange(p)
		var span int32
		if spans != nil {
			span = spans[t]
		}
		if span != 0 {
			// Widen the range to the later chunk tokens of the same span;
			// the earlier ones are in it or outside the window.
			for u, s := range spans {
				if s == span {
					hi = max(hi, p0+u+1)
				}
			}
		}
		allowed := func(j int) bool {
			if a.Window > 0 && j <= p-a.Window {
				return false
			}
			return j <= p || (span != 0 && j >= p0 && spans[j-p0] == span)
		}
		qh := q[(t*a.Heads+h)*d : (t*a.Heads+h+1)*d]
		key := func(j int) ([]float32, []float32) {
			if j >= p0 {
				r := (j - p0) * kvw
				return k[r+g*d : r+(g+1)*d], v[r+g*d : r+(g+1)*d]
			}
			r := (j % a.Slots) * kvw
			return ck[r+g*d : r+(g+1)*d], cv[r+g*d : r+(g+1)*d]
		}
		s := scores[:hi-lo]
		maxS := float32(math.Inf(-1))
		for j := lo; j < hi; j++ {
			if !allowed(j) {
				s[j-lo] = float32(math.Inf(-1)) // exp gives 0
				continue
			}
			kj, _ := key(j)
			sc := quant.DotF32(qh, kj) * a.Scale
			s[j-lo] = sc
			if sc > maxS {
				maxS = sc
			}
		}
		var sum float64
		for j := range s {
			e := math.Exp(float64(s[j] - maxS))
			s[j] = float32(e)
			sum += e
		}
		o := out[(t*a.Heads+h)*d : (t*a.Heads+h+1)*d]
		for c := range o {
			o[c] = 0
		}
		inv := float32(1 / sum)
		for j := lo; j < hi; j++ {
			if !allowed(j) {
				continue
			}
			_, vj := key(j)
			quant.AddScaledF32(o, s[j-lo]*inv, vj)
		}
	}
}

// AttentionFull is unmasked attention without a cache (the SigLIP vision
// encoder, GEMMA3.md §6.1): every one of the n tokens sees all n,
//
//	out[t,h] = Σ_j softmax_j(scale · <q[t,h], k[j,h]>) · v[j,h]
//
// q, k, v and out are [n, heads*dim]. Work items i = t*heads + h in
// [i0, i1) are computed. It is AttentionSpans with one span over the chunk.
func AttentionFull(out, q, k, v []float32, n, heads, dim int, scale float32, i0, i1 int) {
	spans := make([]int32, n)
	for i := range spans {
		spans[i] = 1
	}
	a := Attn{Heads: heads, KVHeads: heads, HeadDim: dim, Scale: scale, Slots: 1}
	AttentionSpans(out, q, k, v, nil, nil, []int32{0}, spans, a, make([]float32, n), i0, i1)
}

// CacheWrite stores the chunk's keys and values (k, v: [T, nKV*D]) into the
// ring-buffer cache at rows pos[t] % Slots, for tokens t in [t0, t1). It
// runs after the chunk's Attention, which still reads the older entries.
func CacheWrite(ck, cv, k, v []float32, pos []int32, a Attn, t0, t1 int) {
	kvw := a.KVHeads * a.HeadDim
	for t := t0; t < t1; t++ {
		r := int(pos[t]) % a.Slots
		copy(ck[r*kvw:(r+1)*kvw], k[t*kvw:(t+1)*kvw])
		copy(cv[r*kvw:(r+1)*kvw], v[t*kvw:(t+1)*kvw])
	}
}
