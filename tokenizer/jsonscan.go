package tokenizer

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScanner is a small pull parser for tokenizer.json. encoding/json spends
// most of a second on a 33 MB Gemma file (half a million merge rules); this
// reads the few fields needed without building intermediate values and skips
// the rest.
type jsonScanner struct {
	data    []byte
	pos     int
	scratch []byte // reused by skip
}

func (s *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("json offset %d: %s", s.pos, fmt.Sprintf(format, args...))
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it (0 at the end).
func (s *jsonScanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

func (s *jsonScanner) expect(c byte) error {
	if s.peek() != c {
		if s.pos >= len(s.data) {
			return s.errorf("unexpected end of input, want %q", c)
		}
		return s.errorf("found %q, want %q", s.data[s.pos], c)
	}
	s.pos++
	return nil
}

// appendString reads a JSON string and appends its unescaped contents to dst.
func (s *jsonScanner) appendString(dst []byte) ([]byte, error) {
	if err := s.expect('"'); err != nil {
		return dst, err
	}
	for {
		start := s.pos
		for s.pos < len(s.data) && s.data[s.pos] != '"' && s.data[s.pos] != '\\' && s.data[s.pos] >= 0x20 {
			s.pos++
		}
		dst = append(dst, s.data[start:s.pos]...)
		if s.pos >= len(s.data) {
			return dst, s.errorf("unterminated string")
		}
		c := s.data[s.pos]
		s.pos++
		switch {
		case c == '"':
			return dst, nil
		case c < 0x20:
			return dst, s.errorf("control character %#x in string", c)
		}
		// Escape sequence.
		if s.pos >= len(s.data) {
			return dst, s.errorf("unterminated escape")
		}
		e := s.data[s.pos]
		s.pos++
		switch e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, err := s.hex4()
			if err != nil {
				return dst, err
			}
			if utf16.IsSurrogate(r) {
				// A high surrogate must be followed by \u and a low one;
				// otherwise it is an error rune, as in encoding/json.
				r2 := utf8.RuneError
				if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
					save := s.pos
					s.pos += 2
					lo, err := s.hex4()
					if err != nil {
						return dst, err
					}
					if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
						r2 = d
					} else {
						s.pos = save
					}
				}
				r = r2
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, s.errorf("invalid escape \\%c", e)
		}
	}
}

func (s *jsonScanner) hex4() (rune, error) {
	if s.pos+4 > len(s.data) {
		return 0, s.errorf("short \\u escape")
	}
	v, err := strconv.ParseUint(string(s.data[s.pos:s.pos+4]), 16, 16)
	if err != nil {
		return 0, s.errorf("invalid \\u escape %q", s.data[s.pos:s.pos+4])
	}
	s.pos += 4
	return rune(v), nil
}

// str reads a JSON string.
func (s *jsonScanner) str() (string, error) {
	b, err := s.appendString(nil)
	return string(b), err
}

// literal consumes the literal word w (true, false, null).
func (s *jsonScanner) literal(w string) bool {
	s.skipSpace()
	if s.pos+len(w) <= len(s.data) && string(s.data[s.pos:s.pos+len(w)]) == w {
		s.pos += len(w)
		return true
	}
	return false
}

func (s *jsonScanner) boolean() (bool, error) {
	switch {
	case s.literal("true"):
		return true, nil
	case s.literal("false"):
		return false, nil
	}
	return false, s.errorf("want true or false")
}

// number reads a JSON number token and returns its text.
func (s *jsonScanner) number() ([]byte, error) {
	s.skipSpace()
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.pos++
			continue
		}
		break
	}
	if start == s.pos {
		return nil, s.errorf("want a number")
	}
	return s.data[start:s.pos], nil
}

func (s *jsonScanner) integer() (int, error) {
	b, err := s.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, s.errorf("want an integer, found %q", b)
	}
	return v, nil
}

// object reads an object, calling field for each key; field must consume the
// value. key is only valid until field reads further.
func (s *jsonScanner) object(field func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	var key []byte
	for {
		var err error
		if key, err = s.appendString(key[:0]); err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.errorf("want ',' or '}' in object")
		}
	}
}

// array reads an array, calling elem for each element; elem must consume it.
func (s *jsonScanner) array(elem func(i int) error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		if err := elem(i); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.errorf("want ',' or ']' in array")
		}
	}
}

// skip consumes any value and returns its raw text.
func (s *jsonScanner) skip() ([]byte, error) {
	c := s.peek()
	start := s.pos
	var err error
	switch {
	case c == '{':
		err = s.object(func([]byte) error { _, err := s.skip(); return err })
	case c == '[':
		err = s.array(func(int) error { _, err := s.skip(); return err })
	case c == '"':
		s.scratch, err = s.appendString(s.scratch[:0])
	case c == 't' || c == 'f':
		_, err = s.boolean()
	case c == 'n':
		if !s.literal("null") {
			err = s.errorf("invalid literal")
		}
	case c == '-' || (c >= '0' && c <= '9'):
		_, err = s.number()
	case c == 0:
		err = s.errorf("unexpected end of input")
	default:
		err = s.errorf("unexpected %q", c)
	}
	return s.data[start:s.pos], err
}

// end checks that only white space follows.
func (s *jsonScanner) end() error {
	if s.peek() != 0 {
		return s.errorf("trailing data after the top-level value")
	}
	return nil
}
