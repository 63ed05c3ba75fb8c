package gguf

import (
	"math"
	"math/bits"

	"gemmavk/kernels/quant"
)

// MaxDims is the largest number of dimensions a tensor may have
// (GGML_MAX_DIMS).
const MaxDims = 4

// MaxNameLen is the longest tensor name ggml accepts, in bytes
// (GGML_MAX_NAME minus the terminating NUL).
const MaxNameLen = 63

// DefaultAlignment is the data alignment used when a file has no
// general.alignment key (GGUF_DEFAULT_ALIGNMENT).
const DefaultAlignment = 32

// AlignmentKey is the metadata key that overrides DefaultAlignment.
const AlignmentKey = "general.alignment"

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	// Name is the tensor's unique name, 1 to MaxNameLen bytes.
	Name string
	// Dims holds the n_dims (1..4) extents in ggml ne order: Dims[0] is
	// the fastest-varying (contiguous) dimension. Missing dims count as 1.
	Dims []uint64
	// Type is the ggml element type.
	Type quant.Type
	// Offset is the byte offset of the data relative to File.DataOffset;
	// it is a multiple of the file's alignment.
	Offset uint64
	// Size is the exact byte size of the data, without padding.
	Size uint64
}

// Elements returns the number of elements in the tensor (the product of its
// dims; validated not to overflow when the TensorInfo came from Parse).
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Dim returns extent i in ne order, 1 for i beyond the tensor's n_dims.
func (t TensorInfo) Dim(i int) uint64 {
	if i < 0 || i >= len(t.Dims) {
		return 1
	}
	return t.Dims[i]
}

// checkTensorName applies ggml's tensor-name rules.
func checkTensorName(name string) error {
	if name == "" {
		return errf(ErrInvalid, "empty tensor name")
	}
	if len(name) > MaxNameLen {
		return errf(ErrInvalid, "name length %d exceeds ggml's limit of %d bytes", len(name), MaxNameLen)
	}
	return nil
}

// removedType reports ggml type ids that once existed but may no longer
// appear in files.
func removedType(t quant.Type) bool {
	switch {
	case t == 4, t == 5:
		return true
	case t >= 31 && t <= 33, t >= 36 && t <= 38:
		return true
	}
	return false
}

// tensorSize validates a tensor's type and shape and returns its data size
// in bytes, computed without overflow: the row size of Dims[0] elements times
// the remaining dims. Element counts and byte sizes must fit in an int64, as
// in ggml.
func tensorSize(t quant.Type, dims []uint64) (uint64, error) {
	if !t.Known() {
		if removedType(t) {
			return 0, errf(ErrInvalid, "unsupported/invalid tensor type id %d (removed from ggml)", uint32(t))
		}
		return 0, errf(ErrInvalid, "unsupported/invalid tensor type id %d", uint32(t))
	}
	if len(dims) < 1 || len(dims) > MaxDims {
		return 0, errf(ErrInvalid, "n_dims %d out of range 1..%d", len(dims), MaxDims)
	}
	zero := false
	for i, d := range dims {
		if d > math.MaxInt64 {
			return 0, errf(ErrInvalid, "ne[%d] = %d is negative as a signed 64-bit extent", i, d)
		}
		zero = zero || d == 0
	}
	if !zero {
		n := uint64(1)
		for i, d := range dims {
			hi, lo := bits.Mul64(n, d)
			if hi != 0 || lo > math.MaxInt64 {
				return 0, errf(ErrInvalid, "element count overflows at ne[%d] (dims %v)", i, dims)
			}
			n = lo
		}
	}
	be, bb := uint64(t.BlockElems()), uint64(t.BlockBytes())
	ne0 := dims[0]
	if ne0%be != 0 {
		return 0, errf(ErrInvalid, "ne[0] = %d is not a multiple of the %s block size %d", ne0, t, be)
	}
	hi, rowBytes := bits.Mul64(ne0/be, bb)
	if hi != 0 || rowBytes > math.MaxInt64 || ne0 > math.MaxInt || rowBytes > math.MaxInt {
		return 0, errf(ErrInvalid, "row of %d %s elements is too large", ne0, t)
	}
	rb, err := quant.RowBytes(t, int(ne0))
	if err != nil {
		return 0, errf(ErrInvalid, "row size of %d %s elements: %v", ne0, t, err)
	}
	if uint64(rb) != rowBytes {
		return 0, errf(ErrInvalid, "row size of %d %s elements: table gives %d bytes, block geometry %d", ne0, t, rb, rowBytes)
	}
	size := rowBytes
	for i := 1; i < len(dims); i++ {
		hi, lo := bits.Mul64(size, dims[i])
		if hi != 0 || lo > math.MaxInt64 {
			return 0, errf(ErrInvalid, "byte size overflows at ne[%d] (dims %v, type %s)", i, dims, t)
		}
		size = lo
	}
	return size, nil
}

// alignUp rounds x up to a multiple of a (a power of two), reporting false
// on overflow.
func alignUp(x, a uint64) (uint64, bool) {
	r := x % a
	if r == 0 {
		return x, true
	}
	y := x + (a - r)
	return y, y > x
}

// validAlignment reports whether a is a usable alignment: a non-zero power
// of two.
func validAlignment(a uint64) bool { return a != 0 && a&(a-1) == 0 }
