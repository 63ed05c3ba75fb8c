package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// ValueType is the type tag of a GGUF metadata value (FORMATS.md §1.3).
type ValueType uint32

// The GGUF metadata value types, numbered as in the file format.
const (
	TypeUint8   ValueType = 0  // TypeUint8 is an unsigned 8-bit integer (Go uint8).
	TypeInt8    ValueType = 1  // TypeInt8 is a signed 8-bit integer (Go int8).
	TypeUint16  ValueType = 2  // TypeUint16 is an unsigned 16-bit integer (Go uint16).
	TypeInt16   ValueType = 3  // TypeInt16 is a signed 16-bit integer (Go int16).
	TypeUint32  ValueType = 4  // TypeUint32 is an unsigned 32-bit integer (Go uint32).
	TypeInt32   ValueType = 5  // TypeInt32 is a signed 32-bit integer (Go int32).
	TypeFloat32 ValueType = 6  // TypeFloat32 is an IEEE binary32 float (Go float32).
	TypeBool    ValueType = 7  // TypeBool is a one-byte boolean, 0 or 1 (Go bool).
	TypeString  ValueType = 8  // TypeString is a u64-length-prefixed UTF-8 string (Go string).
	TypeArray   ValueType = 9  // TypeArray is a typed array; see Value.ArrayType.
	TypeUint64  ValueType = 10 // TypeUint64 is an unsigned 64-bit integer (Go uint64).
	TypeInt64   ValueType = 11 // TypeInt64 is a signed 64-bit integer (Go int64).
	TypeFloat64 ValueType = 12 // TypeFloat64 is an IEEE binary64 float (Go float64).
)

var valueTypeNames = [...]string{
	"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
	"BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
}

// String returns the GGUF name of the type (for example "UINT32"), or
// "ValueType(N)" for an undefined id.
func (t ValueType) String() string {
	if t.Valid() {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// Valid reports whether t is one of the thirteen defined value types.
func (t ValueType) Valid() bool { return t <= TypeFloat64 }

// fixedSize is the encoded size of one scalar of type t, or 0 for STRING,
// ARRAY and undefined types.
func (t ValueType) fixedSize() uint64 {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// minSize is the smallest number of bytes one encoded value of type t can
// occupy; it bounds element counts before anything is allocated.
func (t ValueType) minSize() uint64 {
	switch t {
	case TypeString:
		return 8 // length prefix of an empty string
	case TypeArray:
		return 12 // element type + count of an empty array
	}
	return t.fixedSize()
}

// Value is one typed metadata value.
//
// V holds, according to Type: uint8, int8, uint16, int16, uint32, int32,
// float32, bool, string, uint64, int64 or float64. When Type is TypeArray,
// ArrayType is the element type and V is the matching slice: []uint8, []int8,
// []uint16, []int16, []uint32, []int32, []float32, []bool, []string,
// []uint64, []int64 or []float64. Arrays of arrays are not supported.
// ArrayType is zero (and meaningless) for scalars.
type Value struct {
	Type      ValueType
	ArrayType ValueType
	V         any
}

// String formats the value for diagnostics; arrays are summarized by element
// type and length.
func (v Value) String() string {
	if v.Type == TypeArray {
		return fmt.Sprintf("%s[%d]", v.ArrayType, arrayLen(v.V))
	}
	if s, ok := v.V.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v.V)
}

// KV is one metadata key/value pair, in file order.
type KV struct {
	Key   string
	Value Value
}

// arrayLen is the length of an array payload, or -1 if v is not one.
func arrayLen(v any) int {
	switch s := v.(type) {
	case []uint8:
		return len(s)
	case []int8:
		return len(s)
	case []uint16:
		return len(s)
	case []int16:
		return len(s)
	case []uint32:
		return len(s)
	case []int32:
		return len(s)
	case []float32:
		return len(s)
	case []bool:
		return len(s)
	case []string:
		return len(s)
	case []uint64:
		return len(s)
	case []int64:
		return len(s)
	case []float64:
		return len(s)
	}
	return -1
}

// valueOf maps a Go value to the GGUF value it encodes as. It accepts the
// twelve scalar types listed on Value, slices of them, and a Value (which is
// checked and returned as is).
func valueOf(v any) (Value, error) {
	scalar := func(t ValueType) (Value, error) { return Value{Type: t, V: v}, nil }
	array := func(t ValueType) (Value, error) { return Value{Type: TypeArray, ArrayType: t, V: v}, nil }
	switch x := v.(type) {
	case Value:
		return x, checkValue(x)
	case uint8:
		return scalar(TypeUint8)
	case int8:
		return scalar(TypeInt8)
	case uint16:
		return scalar(TypeUint16)
	case int16:
		return scalar(TypeInt16)
	case uint32:
		return scalar(TypeUint32)
	case int32:
		return scalar(TypeInt32)
	case float32:
		return scalar(TypeFloat32)
	case bool:
		return scalar(TypeBool)
	case string:
		return scalar(TypeString)
	case uint64:
		return scalar(TypeUint64)
	case int64:
		return scalar(TypeInt64)
	case float64:
		return scalar(TypeFloat64)
	case []uint8:
		return array(TypeUint8)
	case []int8:
		return array(TypeInt8)
	case []uint16:
		return array(TypeUint16)
	case []int16:
		return array(TypeInt16)
	case []uint32:
		return array(TypeUint32)
	case []int32:
		return array(TypeInt32)
	case []float32:
		return array(TypeFloat32)
	case []bool:
		return array(TypeBool)
	case []string:
		return array(TypeString)
	case []uint64:
		return array(TypeUint64)
	case []int64:
		return array(TypeInt64)
	case []float64:
		return array(TypeFloat64)
	case int, uint:
		return Value{}, fmt.Errorf("unsupported Go type %T: use a sized integer type such as int32 or uint32", v)
	}
	return Value{}, fmt.Errorf("unsupported Go type %T", v)
}

// checkValue verifies that v.V has the Go type its Type and ArrayType call for.
func checkValue(v Value) error {
	if !v.Type.Valid() {
		return fmt.Errorf("unknown value type %d", uint32(v.Type))
	}
	if v.Type == TypeArray {
		if v.ArrayType == TypeArray {
			return fmt.Errorf("arrays of arrays are not supported")
		}
		if !v.ArrayType.Valid() {
			return fmt.Errorf("unknown array element type %d", uint32(v.ArrayType))
		}
	}
	if _, isValue := v.V.(Value); isValue {
		return fmt.Errorf("value of type %s holds a nested Value", v.Type)
	}
	got, err := valueOf(v.V)
	if err != nil {
		return fmt.Errorf("value of type %s: %w", v.Type, err)
	}
	if got.Type != v.Type || (v.Type == TypeArray && got.ArrayType != v.ArrayType) {
		want := v.Type.String()
		if v.Type == TypeArray {
			want = "ARRAY of " + v.ArrayType.String()
		}
		return fmt.Errorf("value declared %s holds Go type %T", want, v.V)
	}
	return nil
}

// appendValue appends the encoding of a checked value (without its type tag,
// which the caller writes) to b.
func appendValue(b []byte, v Value) []byte {
	le := binary.LittleEndian
	switch x := v.V.(type) {
	case uint8:
		return append(b, x)
	case int8:
		return append(b, byte(x))
	case uint16:
		return le.AppendUint16(b, x)
	case int16:
		return le.AppendUint16(b, uint16(x))
	case uint32:
		return le.AppendUint32(b, x)
	case int32:
		return le.AppendUint32(b, uint32(x))
	case float32:
		return le.AppendUint32(b, math.Float32bits(x))
	case bool:
		if x {
			return append(b, 1)
		}
		return append(b, 0)
	case string:
		return append(le.AppendUint64(b, uint64(len(x))), x...)
	case uint64:
		return le.AppendUint64(b, x)
	case int64:
		return le.AppendUint64(b, uint64(x))
	case float64:
		return le.AppendUint64(b, math.Float64bits(x))
	}
	// An array: element type, count, then the elements.
	b = le.AppendUint32(b, uint32(v.ArrayType))
	b = le.AppendUint64(b, uint64(arrayLen(v.V)))
	switch s := v.V.(type) {
	case []uint8:
		return append(b, s...)
	case []int8:
		return appendEach(b, s, func(b []byte, x int8) []byte { return append(b, byte(x)) })
	case []uint16:
		return appendEach(b, s, le.AppendUint16)
	case []int16:
		return appendEach(b, s, func(b []byte, x int16) []byte { return le.AppendUint16(b, uint16(x)) })
	case []uint32:
		return appendEach(b, s, le.AppendUint32)
	case []int32:
		return appendEach(b, s, func(b []byte, x int32) []byte { return le.AppendUint32(b, uint32(x)) })
	case []float32:
		return appendEach(b, s, func(b []byte, x float32) []byte { return le.AppendUint32(b, math.Float32bits(x)) })
	case []bool:
		return appendEach(b, s, func(b []byte, x bool) []byte {
			if x {
				return append(b, 1)
			}
			return append(b, 0)
		})
	case []string:
		return appendEach(b, s, func(b []byte, x string) []byte { return append(le.AppendUint64(b, uint64(len(x))), x...) })
	case []uint64:
		return appendEach(b, s, le.AppendUint64)
	case []int64:
		return appendEach(b, s, func(b []byte, x int64) []byte { return le.AppendUint64(b, uint64(x)) })
	case []float64:
		return appendEach(b, s, func(b []byte, x float64) []byte { return le.AppendUint64(b, math.Float64bits(x)) })
	}
	return b
}

func appendEach[T any](b []byte, s []T, enc func([]byte, T) []byte) []byte {
	for _, x := range s {
		b = enc(b, x)
	}
	return b
}
