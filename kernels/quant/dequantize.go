package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Supported reports whether this package can decode tensors of type t, i.e.
// whether Dequantize, DequantizeRow and DotRow accept it: F32, F16, BF16,
// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL and IQ4_XS.
func Supported(t Type) bool {
	switch t {
	case F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
		Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS:
		return true
	}
	return false
}

// checkSizes validates that n elements of type t are a whole number of blocks
// encoded in exactly nbytes bytes.
func checkSizes(op string, t Type, n, nbytes int) error {
	be := t.BlockElems()
	if n%be != 0 {
		return fmt.Errorf("quant: %s: %d elements is not a multiple of the %s block size %d", op, n, t, be)
	}
	if want := n / be * t.BlockBytes(); nbytes != want {
		return fmt.Errorf("quant: %s: %d %s elements need %d bytes, got %d", op, n, t, want, nbytes)
	}
	return nil
}

// Dequantize decodes the len(dst) elements of type t stored in src into dst.
// len(dst) must be a multiple of t.BlockElems() and len(src) must be exactly
// len(dst)/BlockElems·BlockBytes; otherwise, or when t is not Supported, it
// returns an error and leaves dst untouched. Values are bit-identical to
// ggml's dequantize_row_* (each element is computed as the formulas of
// FORMATS.md §2 with float32 products, no fused multiply-add).
func Dequantize(t Type, src []byte, dst []float32) error {
	if !Supported(t) {
		return fmt.Errorf("quant: dequantize: type %s not supported", t)
	}
	if err := checkSizes("dequantize", t, len(dst), len(src)); err != nil {
		return err
	}
	DequantizeRow(t, src, dst)
	return nil
}

// DequantizeRow is Dequantize without checks, for hot paths: the caller
// guarantees that t is Supported, that len(dst) is a multiple of the block
// size and that row holds at least the matching number of bytes. With such
// input it never panics; with other input it may panic (short row,
// unsupported type) or leave a trailing partial block of dst unwritten.
func DequantizeRow(t Type, row []byte, dst []float32) {
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(row[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(row[2*i:]))
		}
	case Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL:
		bb := t.BlockBytes()
		for i, o := 0, 0; i+32 <= len(dst); i, o = i+32, o+bb {
			decodeBlock32(t, row[o:o+bb], (*[32]float32)(dst[i:i+32]))
		}
	case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS:
		bb := t.BlockBytes()
		for i, o := 0, 0; i+256 <= len(dst); i, o = i+256, o+bb {
			decodeBlock256(t, row[o:o+bb], (*[256]float32)(dst[i:i+256]))
		}
	default:
		panic(fmt.Sprintf("quant: DequantizeRow: type %s not supported", t))
	}
}

// f16At reads the little-endian binary16 at b[off:] as a float32.
func f16At(b []byte, off int) float32 {
	return F16ToF32(binary.LittleEndian.Uint16(b[off:]))
}
