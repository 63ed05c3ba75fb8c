package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// appendPiece appends the detokenised bytes of one id (FORMATS.md §4.5).
// Ordinary pieces have "▁" turned into spaces, byte pieces give their raw
// byte, user-defined pieces are copied verbatim, and control, unknown and
// unused pieces give nothing unless special is set, in which case their text
// is copied verbatim. Out-of-range ids give nothing.
func (t *Tokenizer) appendPiece(dst []byte, id int, special bool) []byte {
	if id < 0 || id >= len(t.pieces) {
		return dst
	}
	p := t.pieces[id]
	switch t.types[id] {
	case TypeNormal, TypeUndefined:
		for {
			i := strings.Index(p, spaceMark)
			if i < 0 {
				return append(dst, p...)
			}
			dst = append(dst, p[:i]...)
			dst = append(dst, ' ')
			p = p[i+len(spaceMark):]
		}
	case TypeByte:
		b, _ := parseBytePiece(p) // validated by New
		return append(dst, b)
	case TypeUserDefined:
		return append(dst, p...)
	default: // control, unknown, unused
		if special {
			return append(dst, p...)
		}
		return dst
	}
}

// Decode converts ids to text as llama.cpp does (special pieces are not
// rendered): "▁" becomes a space in ordinary pieces, byte pieces are
// concatenated as raw bytes, user-defined pieces such as "\n\n" are copied,
// and control (<bos>, <start_of_turn>, …), unknown and unused pieces give
// nothing. Bytes that do not form valid UTF-8 become U+FFFD, one per byte.
// With AddSpacePrefix the single leading space added at encode time is
// removed.
//
// Hugging Face's tokenizer.decode without skip_special_tokens renders
// control pieces as their text; DecodeSpecial does that.
func (t *Tokenizer) Decode(ids []int) string { return t.decode(ids, false) }

// DecodeSpecial is Decode with control, unknown and unused pieces rendered
// as their text (for example "<start_of_turn>"), which is what Hugging Face
// tokenizers' decode gives without skip_special_tokens. Useful for
// debugging prompts.
func (t *Tokenizer) DecodeSpecial(ids []int) string { return t.decode(ids, true) }

func (t *Tokenizer) decode(ids []int, special bool) string {
	var buf []byte
	for i, id := range ids {
		n := len(buf)
		buf = t.appendPiece(buf, id, special)
		if i == 0 {
			buf = t.stripSpacePrefix(buf, n, id)
		}
	}
	return toValidUTF8(buf)
}

// stripSpacePrefix removes the leading space of the first ordinary piece
// (appended at buf[n:]) when the vocabulary adds a space prefix.
func (t *Tokenizer) stripSpacePrefix(buf []byte, n, id int) []byte {
	if !t.addSpacePrefix || len(buf) == n || buf[n] != ' ' {
		return buf
	}
	if ty := t.Type(id); ty != TypeNormal && ty != TypeUndefined {
		return buf
	}
	return append(buf[:n], buf[n+1:]...)
}

// toValidUTF8 converts b to a string, replacing each byte that does not
// start a valid UTF-8 sequence with U+FFFD (the rule Go's range loop uses).
func toValidUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[i : i+n])
		}
		i += n
	}
	return sb.String()
}

// StreamDecoder decodes generated ids one at a time. Text is released only
// once it is complete UTF-8: the bytes of a character split over several
// byte-fallback pieces are held back until the character is complete. The
// concatenation of everything Push and Flush return equals Decode of the
// same ids. A StreamDecoder is not safe for concurrent use.
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte
	special bool
	started bool
}

// NewStreamDecoder returns a decoder that renders ids like Decode.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t}
}

// NewStreamDecoderSpecial returns a decoder that renders ids like
// DecodeSpecial (control pieces as their text).
func (t *Tokenizer) NewStreamDecoderSpecial() *StreamDecoder {
	return &StreamDecoder{t: t, special: true}
}

// Push adds one id and returns the text that became complete, possibly
// empty. The result is always valid UTF-8; a byte that can no longer be part
// of a valid sequence is returned as U+FFFD.
func (d *StreamDecoder) Push(id int) string {
	n := len(d.pending)
	d.pending = d.t.appendPiece(d.pending, id, d.special)
	if !d.started {
		d.started = true
		d.pending = d.t.stripSpacePrefix(d.pending, n, id)
	}
	return d.drain(false)
}

// Flush returns whatever is held back, each byte of an unfinished sequence
// as U+FFFD, and resets the decoder to its initial state.
func (d *StreamDecoder) Flush() string {
	s := d.drain(true)
	d.started = false
	return s
}

// drain returns the decodable prefix of pending (all of it when final) and
// keeps the incomplete tail.
func (d *StreamDecoder) drain(final bool) string {
	p := d.pending
	i := 0
	var sb strings.Builder
	for i < len(p) {
		if !final && !utf8.FullRune(p[i:]) {
			break
		}
		r, n := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(p[i : i+n])
		}
		i += n
	}
	d.pending = append(d.pending[:0], p[i:]...)
	return sb.String()
}
