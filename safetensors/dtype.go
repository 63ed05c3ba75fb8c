package safetensors

import (
	"fmt"
	"math"
	"math/bits"
)

// DType is an element type as spelled in a safetensors header ("F32",
// "BF16", "I64", ...).
type DType string

// The element types this package knows. Files naming any other dtype are
// rejected by Parse.
const (
	F64    DType = "F64"
	F32    DType = "F32"
	F16    DType = "F16"
	BF16   DType = "BF16"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
	F8E8M0 DType = "F8_E8M0"
	I64    DType = "I64"
	I32    DType = "I32"
	I16    DType = "I16"
	I8     DType = "I8"
	U64    DType = "U64"
	U32    DType = "U32"
	U16    DType = "U16"
	U8     DType = "U8"
	Bool   DType = "BOOL"
)

var dtypeSizes = map[DType]int{
	F64: 8, F32: 4, F16: 2, BF16: 2, F8E4M3: 1, F8E5M2: 1, F8E8M0: 1,
	I64: 8, I32: 4, I16: 2, I8: 1,
	U64: 8, U32: 4, U16: 2, U8: 1,
	Bool: 1,
}

// Size returns the number of bytes of one element, or 0 when the dtype is
// unknown.
func (d DType) Size() int { return dtypeSizes[d] }

// Known reports whether this package knows the dtype's element size.
func (d DType) Known() bool { return dtypeSizes[d] != 0 }

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	// Offset is the tensor's first byte relative to the start of the data
	// buffer (data_offsets[0]); File.DataStart gives the buffer's position
	// in the file.
	Offset int64
	// Size is the tensor's length in bytes (data_offsets[1] - data_offsets[0]).
	Size int64
}

// NumElements returns the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int64 {
	n, _ := numElements(t.Shape)
	return n
}

// numElements returns the product of shape, or ok == false when a dimension
// is negative or the product overflows int64.
func numElements(shape []int) (int64, bool) {
	n := uint64(1)
	zero := false
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			zero = true
		}
	}
	if zero {
		return 0, true
	}
	for _, d := range shape {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	return int64(n), true
}

// byteSize returns the number of bytes a tensor of the given dtype and shape
// occupies, with an error when the dtype is unknown, a dimension negative or
// the size overflows int64.
func byteSize(dt DType, shape []int) (int64, error) {
	es := dt.Size()
	if es == 0 {
		return 0, fmt.Errorf("unknown dtype %q", string(dt))
	}
	n, ok := numElements(shape)
	if !ok {
		return 0, fmt.Errorf("shape %v is negative or its element count overflows", shape)
	}
	if n > math.MaxInt64/int64(es) {
		return 0, fmt.Errorf("shape %v of %s overflows the byte size", shape, dt)
	}
	return n * int64(es), nil
}
