package tokenizer

import (
	"math"
	"unicode/utf8"
)

// spaceMark is U+2581 "▁", SentencePiece's visible space.
const spaceMark = "\u2581"

// Encode converts text to token ids. It never adds <bos> (or <eos>).
//
// With parseSpecial, control pieces written in the text (<bos>,
// <start_of_turn>, <start_of_image>, …) become their single ids; use it for
// prompts rendered by RenderChat. Without it only user-defined pieces (for
// Gemma: runs of newlines, tabs and spaces, a few HTML tags, [multimodal])
// are matched whole, and control text is encoded as ordinary characters, as
// llama.cpp does for untrusted user text.
func (t *Tokenizer) Encode(text string, parseSpecial bool) []int {
	out := make([]int, 0, len(text)/3+4)
	var st encoder
	prevSpecial := true
	t.special.split(text, parseSpecial, func(raw string, id int32) {
		if id >= 0 {
			out = append(out, int(id))
			prevSpecial = true
			return
		}
		out = st.encode(t, raw, t.addSpacePrefix && prevSpecial, out)
		prevSpecial = false
	})
	return out
}

// symbol is a run of bytes of the normalised fragment during merging.
type symbol struct {
	start, end int32 // byte range in encoder.buf; start == end once merged away
	prev, next int32 // neighbours, -1 at the ends
	id         int32 // token id of the text, -1 if it is not a piece
}

// candidate is a pair of adjacent symbols whose merge is a vocabulary piece.
type candidate struct {
	score       float32 // higher merges first
	left, right int32   // symbol indices
	size        int32   // byte length of the merged text
	id          int32   // resulting piece
}

// better orders candidates: higher score first, then the leftmost pair.
func (a candidate) better(b candidate) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

// encoder holds the scratch buffers of one Encode call.
type encoder struct {
	buf  []byte
	syms []symbol
	heap []candidate
}

// encode appends the ids of one raw fragment (FORMATS.md §4.4 steps 3–4).
func (e *encoder) encode(t *Tokenizer, raw string, spacePrefix bool, out []int) []int {
	// Normalise: optional leading space, then every ASCII space → "▁".
	e.buf = e.buf[:0]
	if spacePrefix {
		e.buf = append(e.buf, spaceMark...)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] == ' ' {
			e.buf = append(e.buf, spaceMark...)
		} else {
			e.buf = append(e.buf, raw[i])
		}
	}
	if len(e.buf) == 0 {
		return out
	}
	buf := e.buf

	// Initial symbols: one per UTF-8 character (an invalid byte is a
	// character of its own and falls back to its byte piece).
	e.syms = e.syms[:0]
	for i := 0; i < len(buf); {
		var id int32
		n := 1
		if c := buf[i]; c < utf8.RuneSelf {
			id = t.ascii[c]
		} else {
			_, n = utf8.DecodeRune(buf[i:])
			var ok bool
			if id, ok = t.ids[string(buf[i:i+n])]; !ok {
				id = -1
			}
		}
		idx := int32(len(e.syms))
		e.syms = append(e.syms, symbol{start: int32(i), end: int32(i + n), prev: idx - 1, next: idx + 1, id: id})
		i += n
	}
	syms := e.syms
	syms[len(syms)-1].next = -1

	e.heap = e.heap[:0]
	for i := 1; i < len(syms); i++ {
		e.tryPair(t, int32(i-1), int32(i))
	}
	for len(e.heap) > 0 {
		c := e.pop()
		l, r := &syms[c.left], &syms[c.right]
		// Skip stale candidates: either side merged away or grown since.
		if l.start == l.end || r.start == r.end || l.next != c.right || r.end-l.start != c.size {
			continue
		}
		l.end = r.end
		l.id = c.id
		l.next = r.next
		r.start = r.end
		if r.next >= 0 {
			syms[r.next].prev = c.left
		}
		if l.prev >= 0 {
			e.tryPair(t, l.prev, c.left)
		}
		if l.next >= 0 {
			e.tryPair(t, c.left, l.next)
		}
	}

	for i := int32(0); i >= 0; i = syms[i].next {
		s := syms[i]
		if s.id >= 0 {
			out = append(out, int(s.id))
			continue
		}
		// A character missing from the vocabulary: one piece per byte.
		for _, b := range buf[s.start:s.end] {
			switch {
			case t.byteIDs[b] >= 0:
				out = append(out, int(t.byteIDs[b]))
			case t.unk >= 0:
				out = append(out, t.unk)
			}
		}
	}
	return out
}

// tryPair queues the merge of adjacent symbols l and r when it forms a piece:
// by merge-rule rank for a BPE model, else by the merged piece's score.
func (e *encoder) tryPair(t *Tokenizer, l, r int32) {
	ls, rs := e.syms[l], e.syms[r]
	var c candidate
	if t.merges != nil {
		if ls.id < 0 || rs.id < 0 {
			return
		}
		m, ok := t.merges[pairKey(ls.id, rs.id)]
		if !ok {
			return
		}
		c = candidate{score: -float32(m.rank), id: m.result}
	} else {
		id, ok := t.ids[string(e.buf[ls.start:rs.end])]
		if !ok {
			return
		}
		s := t.scores[id]
		if math.IsInf(float64(s), -1) {
			return
		}
		c = candidate{score: s, id: id}
	}
	c.left, c.right, c.size = l, r, rs.end-ls.start
	e.push(c)
}

func pairKey(l, r int32) uint64 { return uint64(uint32(l))<<32 | uint64(uint32(r)) }

func (e *encoder) push(c candidate) {
	h := append(e.heap, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].better(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	e.heap = h
}

func (e *encoder) pop() candidate {
	h := e.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		best := l
		if r := l + 1; r < len(h) && h[r].better(h[l]) {
			best = r
		}
		if !h[best].better(h[i]) {
			break
		}
		h[i], h[best] = h[best], h[i]
		i = best
	}
	e.heap = h
	return top
}
