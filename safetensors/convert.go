package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// checkData verifies that data has exactly the length info describes and
// that the description is self-consistent.
func checkData(info TensorInfo, data []byte) error {
	want, err := byteSize(info.DType, info.Shape)
	if err != nil {
		return fmt.Errorf("safetensors: tensor %q: %w", info.Name, err)
	}
	if info.Size != want || int64(len(data)) != want {
		return fmt.Errorf("safetensors: tensor %q: %s%v needs %d bytes, info says %d, data has %d",
			info.Name, info.DType, info.Shape, want, info.Size, len(data))
	}
	return nil
}

// Float32s converts the bytes of a floating-point tensor (F32, F16, BF16 or
// F64) to a new []float32. F64 values are rounded to nearest; F16 and BF16
// convert exactly. Other dtypes are an error.
func Float32s(info TensorInfo, data []byte) ([]float32, error) {
	if err := checkData(info, data); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch info.DType {
	case F32:
		out := make([]float32, len(data)/4)
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(data[4*i:]))
		}
		return out, nil
	case F16:
		out := make([]float32, len(data)/2)
		for i := range out {
			out[i] = halfToFloat32(le.Uint16(data[2*i:]))
		}
		return out, nil
	case BF16:
		out := make([]float32, len(data)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(le.Uint16(data[2*i:])) << 16)
		}
		return out, nil
	case F64:
		out := make([]float32, len(data)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(le.Uint64(data[8*i:])))
		}
		return out, nil
	}
	return nil, fmt.Errorf("safetensors: tensor %q: dtype %s is not convertible to float32", info.Name, info.DType)
}

// Int64s converts the bytes of an integer or boolean tensor (I64, I32, I16,
// I8, U64, U32, U16, U8, BOOL) to a new []int64. U64 values above the int64
// range are an error, as are float dtypes.
func Int64s(info TensorInfo, data []byte) ([]int64, error) {
	if err := checkData(info, data); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	es := info.DType.Size()
	n := len(data) / es
	var get func(b []byte) int64
	switch info.DType {
	case I64:
		get = func(b []byte) int64 { return int64(le.Uint64(b)) }
	case I32:
		get = func(b []byte) int64 { return int64(int32(le.Uint32(b))) }
	case I16:
		get = func(b []byte) int64 { return int64(int16(le.Uint16(b))) }
	case I8:
		get = func(b []byte) int64 { return int64(int8(b[0])) }
	case U32:
		get = func(b []byte) int64 { return int64(le.Uint32(b)) }
	case U16:
		get = func(b []byte) int64 { return int64(le.Uint16(b)) }
	case U8:
		get = func(b []byte) int64 { return int64(b[0]) }
	case Bool:
		get = func(b []byte) int64 {
			if b[0] != 0 {
				return 1
			}
			return 0
		}
	case U64:
		out := make([]int64, n)
		for i := range out {
			v := le.Uint64(data[8*i:])
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("safetensors: tensor %q: element %d = %d overflows int64", info.Name, i, v)
			}
			out[i] = int64(v)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("safetensors: tensor %q: dtype %s is not an integer type", info.Name, info.DType)
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = get(data[es*i:])
	}
	return out, nil
}

// halfToFloat32 converts an IEEE 754 binary16 value exactly.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0x1f: // inf or NaN, payload kept
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0:
		// zero or subnormal: mant * 2^-24, exact in float32
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
