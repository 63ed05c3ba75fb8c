package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DotRow returns Σ_i w_i·x_i where w = the len(x) elements of type t encoded
// in row (len(x)/BlockElems blocks). It equals the dot product of
// DequantizeRow's output with x up to float32 rounding: products are summed
// in float32 within a block, the block sums in float64. F32, BF16, Q4_0,
// Q5_0, Q8_0, Q4_K, Q5_K and Q6_K have fused kernels that never store the
// weights: they factor the (sub-)block scales out of the sums (for factors
// a, b the sub-block sum is a·Σq·x − b·Σx), or, for Q4_K, look each quant
// up in a 16-entry table of its sub-block's weights. The other types decode
// one block at a time into a stack buffer. It does not allocate. The caller guarantees that t is Supported, len(x) is a
// multiple of the block size and row holds the matching bytes; for other
// input the result is meaningless and it may panic.
func DotRow(t Type, row []byte, x []float32) float32 {
	switch t {
	case F32:
		return dotF32(row, x)
	case F16, BF16:
		return dotHalf(t, row, x)
	case Q4_0:
		return dotQ4_0(row, x)
	case Q5_0:
		return dotQ5_0(row, x)
	case Q8_0:
		return dotQ8_0(row, x)
	case Q4_K:
		return dotQ4_K(row, x)
	case Q5_K:
		return dotQ5_K(row, x)
	case Q6_K:
		return dotQ6_K(row, x)
	case Q4_1, Q5_1, IQ4_NL:
		return dotDecoded32(t, row, x)
	case Q2_K, Q3_K, IQ4_XS:
		return dotDecoded256(t, row, x)
	}
	panic(fmt.Sprintf("quant: DotRow: type %s not supported", t))
}

// dot32 is Σ a_i·b_i over 32 elements with four accumulators.
func dot32(a, b *[32]float32) float32 {
	var s0, s1, s2, s3 float32
	for i := 0; i < 32; i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	return (s0 + s1) + (s2 + s3)
}

// dotDecoded32 decodes each 32-element block into a stack buffer and dots it.
func dotDecoded32(t Type, row []byte, x []float32) float32 {
	bb := t.BlockBytes()
	var buf [32]float32
	var sum float64
	for i, o := 0, 0; i+32 <= len(x); i, o = i+32, o+bb {
		decodeBlock32(t, row[o:o+bb], &buf)
		sum += float64(dot32(&buf, (*[32]float32)(x[i:i+32])))
	}
	return float32(sum)
}

// dotDecoded256 decodes each 256-element block into a stack buffer and dots it.
func dotDecoded256(t Type, row []byte, x []float32) float32 {
	bb := t.BlockBytes()
	var buf [256]float32
	var sum float64
	for i, o := 0, 0; i+256 <= len(x); i, o = i+256, o+bb {
		decodeBlock256(t, row[o:o+bb], &buf)
		xb := (*[256]float32)(x[i : i+256])
		var s float32
		for c := 0; c < 8; c++ {
			s += dot32((*[32]float32)(buf[32*c:32*c+32]), (*[32]float32)(xb[32*c:32*c+32]))
		}
		sum += float64(s)
	}
	return float32(sum)
}

// dotF32 dots little-endian float32 weights with x, 32 at a time.
func dotF32(row []byte, x []float32) float32 {
	var sum float64
	i := 0
	for ; i+32 <= len(x); i += 32 {
		b := (*[128]byte)(row[4*i : 4*i+128])
		xb := (*[32]float32)(x[i : i+32])
		var s0, s1, s2, s3 float32
		for k := 0; k < 32; k += 4 {
			s0 += math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:])) * xb[k]
			s1 += math.Float32frombits(binary.LittleEndian.Uint32(b[4*k+4:])) * xb[k+1]
			s2 += math.Float32frombits(binary.LittleEndian.Uint32(b[4*k+8:])) * xb[k+2]
			s3 += math.Float32frombits(binary.LittleEndian.Uint32(b[4*k+12:])) * xb[k+3]
		}
		sum += float64((s0 + s1) + (s2 + s3))
	}
	var s float32
	for ; i < len(x); i++ {
		s += math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:])) * x[i]
	}
	return float32(sum + float64(s))
}

// dotHalf dots F16 or BF16 weights with x, 32 at a time.
func dotHalf(t Type, row []byte, x []float32) float32 {
	var sum float64
	var buf [32]float32
	i := 0
	for ; i+32 <= len(x); i += 32 {
		b := (*[64]byte)(row[2*i : 2*i+64])
		xb := (*[32]float32)(x[i : i+32])
		if t == BF16 { // fused: the conversion is a shift
			var s0, s1, s2, s3 float32
			for k := 0; k < 32; k += 4 {
				s0 += BF16ToF32(binary.LittleEndian.Uint16(b[2*k:])) * xb[k]
				s1 += BF16ToF32(binary.LittleEndian.Uint16(b[2*k+2:])) * xb[k+1]
				s2 += BF16ToF32(binary.LittleEndian.Uint16(b[2*k+4:])) * xb[k+2]
				s3 += BF16ToF32(binary.LittleEndian.Uint16(b[2*k+6:])) * xb[k+3]
			}
			sum += float64((s0 + s1) + (s2 + s3))
			continue
		}
		for k := range buf {
			buf[k] = F16ToF32(binary.LittleEndian.Uint16(b[2*k:]))
		}
		sum += float64(dot32(&buf, xb))
	}
	var s float32
	for ; i < len(x); i++ {
		h := binary.LittleEndian.Uint16(row[2*i:])
		if t == BF16 {
			s += BF16ToF32(h) * x[i]
		} else {
			s += F16ToF32(h) * x[i]
		}
	}
	return float32(sum + float64(s))
}
