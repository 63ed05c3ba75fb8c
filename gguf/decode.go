package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Error classes. Every error returned by Parse and Open for a malformed file
// wraps exactly one of these, so callers can test the class with errors.Is;
// the message itself says what is wrong and where.
var (
	// ErrNotGGUF reports input that does not start with the "GGUF" magic.
	ErrNotGGUF = errors.New("gguf: not a GGUF file")
	// ErrVersion reports a GGUF version this package does not read
	// (0, 1, greater than 3, or a byte-swapped big-endian file).
	ErrVersion = errors.New("gguf: unsupported version")
	// ErrTruncated reports input that ends before a field, string, array or
	// tensor it declares, including lengths and offsets that point past the
	// end of the file.
	ErrTruncated = errors.New("gguf: truncated file or out-of-range length")
	// ErrInvalid reports structurally complete input that breaks a GGUF rule
	// (bad type id, duplicate key, misaligned offset, and so on).
	ErrInvalid = errors.New("gguf: invalid file")
)

// formatError is a leaf error: its message is self-contained and it unwraps
// to one of the error classes above without repeating that class's text.
type formatError struct {
	msg   string
	class error
}

func (e *formatError) Error() string { return e.msg }
func (e *formatError) Unwrap() error { return e.class }

func errf(class error, format string, args ...any) error {
	return &formatError{msg: fmt.Sprintf(format, args...), class: class}
}

// cursor reads little-endian fields from an in-memory image, checking every
// read against the bytes that remain. off never exceeds len(b).
type cursor struct {
	b   []byte
	off uint64
}

func (c *cursor) rem() uint64 { return uint64(len(c.b)) - c.off }

// take returns the next n bytes.
func (c *cursor) take(n uint64) ([]byte, error) {
	if n > c.rem() {
		return nil, errf(ErrTruncated, "need %d bytes at offset %d, only %d remain", n, c.off, c.rem())
	}
	s := c.b[c.off : c.off+n : c.off+n]
	c.off += n
	return s, nil
}

func (c *cursor) u8() (uint8, error) {
	s, err := c.take(1)
	if err != nil {
		return 0, err
	}
	return s[0], nil
}

func (c *cursor) u16() (uint16, error) {
	s, err := c.take(2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(s), nil
}

func (c *cursor) u32() (uint32, error) {
	s, err := c.take(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(s), nil
}

func (c *cursor) u64() (uint64, error) {
	s, err := c.take(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(s), nil
}

// str reads a u64-length-prefixed string, checking the length against the
// remaining bytes before copying.
func (c *cursor) str() (string, error) {
	at := c.off
	n, err := c.u64()
	if err != nil {
		return "", fmt.Errorf("string length: %w", err)
	}
	if n > c.rem() {
		return "", errf(ErrTruncated, "string length %d at offset %d exceeds the %d remaining bytes", n, at, c.rem())
	}
	s, _ := c.take(n)
	return string(s), nil
}

// count reads an element count and rejects one that cannot fit in the
// remaining bytes at minSize bytes per element.
func (c *cursor) count(what string, minSize uint64) (uint64, error) {
	at := c.off
	n, err := c.u64()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if minSize > 0 && n > c.rem()/minSize {
		return 0, errf(ErrTruncated, "%s %d at offset %d cannot fit in the %d remaining bytes (at least %d bytes each)",
			what, n, at, c.rem(), minSize)
	}
	return n, nil
}

// valueType reads a value-type tag and rejects undefined ids.
func (c *cursor) valueType() (ValueType, error) {
	at := c.off
	t, err := c.u32()
	if err != nil {
		return 0, fmt.Errorf("value type: %w", err)
	}
	if !ValueType(t).Valid() {
		return 0, errf(ErrInvalid, "unknown value type %d at offset %d", t, at)
	}
	return ValueType(t), nil
}

// value reads one value of type t (the tag already consumed).
func (c *cursor) value(t ValueType) (Value, error) {
	if t == TypeArray {
		return c.array()
	}
	v, err := c.scalar(t)
	if err != nil {
		return Value{}, fmt.Errorf("%s value: %w", t, err)
	}
	return Value{Type: t, V: v}, nil
}

func (c *cursor) scalar(t ValueType) (any, error) {
	switch t {
	case TypeUint8:
		return c.u8()
	case TypeInt8:
		x, err := c.u8()
		return int8(x), err
	case TypeUint16:
		return c.u16()
	case TypeInt16:
		x, err := c.u16()
		return int16(x), err
	case TypeUint32:
		return c.u32()
	case TypeInt32:
		x, err := c.u32()
		return int32(x), err
	case TypeFloat32:
		x, err := c.u32()
		return math.Float32frombits(x), err
	case TypeBool:
		at := c.off
		x, err := c.u8()
		if err != nil {
			return false, err
		}
		if x > 1 {
			return false, errf(ErrInvalid, "invalid bool byte %d at offset %d (want 0 or 1)", x, at)
		}
		return x == 1, nil
	case TypeString:
		return c.str()
	case TypeUint64:
		return c.u64()
	case TypeInt64:
		x, err := c.u64()
		return int64(x), err
	case TypeFloat64:
		x, err := c.u64()
		return math.Float64frombits(x), err
	}
	return nil, errf(ErrInvalid, "unknown value type %d", uint32(t))
}

// array reads an array value (its ARRAY tag already consumed).
func (c *cursor) array() (Value, error) {
	at := c.off
	et, err := c.valueType()
	if err != nil {
		return Value{}, fmt.Errorf("array element type: %w", err)
	}
	if et == TypeArray {
		return Value{}, errf(ErrInvalid, "array of arrays at offset %d is not supported", at)
	}
	n, err := c.count("array count", et.minSize())
	if err != nil {
		return Value{}, fmt.Errorf("array of %s: %w", et, err)
	}
	v, err := c.elements(et, n)
	if err != nil {
		return Value{}, fmt.Errorf("array of %s[%d]: %w", et, n, err)
	}
	return Value{Type: TypeArray, ArrayType: et, V: v}, nil
}

// elements decodes n elements of type et; n has been checked against the
// remaining bytes, so fixed-size payloads are taken in one bounded read.
func (c *cursor) elements(et ValueType, n uint64) (any, error) {
	le := binary.LittleEndian
	if et == TypeString {
		out := make([]string, n)
		for i := range out {
			s, err := c.str()
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = s
		}
		return out, nil
	}
	size := et.fixedSize()
	raw, err := c.take(n * size) // n <= rem/size, so no overflow
	if err != nil {
		return nil, err
	}
	switch et {
	case TypeUint8:
		out := make([]uint8, len(raw))
		copy(out, raw)
		return out, nil
	case TypeInt8:
		return decodeEach(raw, 1, func(b []byte) int8 { return int8(b[0]) }), nil
	case TypeUint16:
		return decodeEach(raw, 2, le.Uint16), nil
	case TypeInt16:
		return decodeEach(raw, 2, func(b []byte) int16 { return int16(le.Uint16(b)) }), nil
	case TypeUint32:
		return decodeEach(raw, 4, le.Uint32), nil
	case TypeInt32:
		return decodeEach(raw, 4, func(b []byte) int32 { return int32(le.Uint32(b)) }), nil
	case TypeFloat32:
		return decodeEach(raw, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) }), nil
	case TypeUint64:
		return decodeEach(raw, 8, le.Uint64), nil
	case TypeInt64:
		return decodeEach(raw, 8, func(b []byte) int64 { return int64(le.Uint64(b)) }), nil
	case TypeFloat64:
		return decodeEach(raw, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) }), nil
	case TypeBool:
		out := make([]bool, len(raw))
		for i, x := range raw {
			if x > 1 {
				return nil, errf(ErrInvalid, "element %d: invalid bool byte %d at offset %d (want 0 or 1)",
					i, x, c.off-uint64(len(raw))+uint64(i))
			}
			out[i] = x == 1
		}
		return out, nil
	}
	return nil, errf(ErrInvalid, "unknown array element type %d", uint32(et))
}

func decodeEach[T any](raw []byte, size int, dec func([]byte) T) []T {
	out := make([]T, len(raw)/size)
	for i := range out {
		out[i] = dec(raw[i*size : i*size+size])
	}
	return out
}
