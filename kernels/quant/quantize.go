package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// QuantizeSupported reports whether Quantize can encode type t: F32, F16,
// BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K.
func QuantizeSupported(t Type) bool {
	switch t {
	case F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
		Q2_K, Q3_K, Q4_K, Q5_K, Q6_K:
		return true
	}
	return false
}

// Quantize encodes src as type t and returns the blocks, len(src)/BlockElems·
// BlockBytes bytes. len(src) must be a multiple of t.BlockElems(). The block
// types follow llama.cpp's reference quantizers quantize_row_*_ref (what
// llama-quantize does without an importance matrix, FORMATS.md §2.4): scales
// from the block's signed absolute maximum for Q4_0/Q5_0/Q8_0, from min/max
// for Q4_1/Q5_1, and the make_qkx2 / make_qx / make_q3 searches for the
// K-quants. Arithmetic is float32 without fused multiply-add, so the bytes
// equal those of the C code compiled without contraction (and of gguf-py
// where it has a quantizer). F16 rounds to nearest even (F32ToF16), BF16
// uses ggml's rule (F32ToBF16), F32 stores the values verbatim. All
// multi-byte fields are little-endian.
func Quantize(t Type, src []float32) ([]byte, error) {
	if !QuantizeSupported(t) {
		return nil, fmt.Errorf("quant: quantize: type %s not supported", t)
	}
	be := t.BlockElems()
	if len(src)%be != 0 {
		return nil, fmt.Errorf("quant: quantize: %d elements is not a multiple of the %s block size %d", len(src), t, be)
	}
	bb := t.BlockBytes()
	out := make([]byte, len(src)/be*bb)
	switch t {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToF16(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToBF16(v))
		}
	case Q4_0, Q4_1, Q5_0, Q5_1, Q8_0:
		enc := legacyEncoder(t)
		for i, o := 0, 0; i < len(src); i, o = i+32, o+bb {
			enc((*[32]float32)(src[i:i+32]), out[o:o+bb])
		}
	default: // K-quants
		enc := kEncoder(t)
		for i, o := 0, 0; i < len(src); i, o = i+256, o+bb {
			enc((*[256]float32)(src[i:i+256]), out[o:o+bb])
		}
	}
	return out, nil
}

// nearestInt is ggml's nearest_int: it adds 1.5·2^23 in float32 and reads the
// mantissa, which rounds to nearest with ties to even for |f| ≤ 4194303.
// Outside that range it returns the same (meaningless) value as the C code.
func nearestInt(f float32) int {
	v := float32(f) + 12582912 // the conversion keeps a caller's f = a*b from fusing into this add
	return int(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// roundAway is C's roundf: round to nearest, ties away from zero.
func roundAway(f float32) float32 {
	return float32(math.Round(float64(f)))
}

// putF16 stores f rounded to binary16 at b[off:].
func putF16(b []byte, off int, f float32) {
	binary.LittleEndian.PutUint16(b[off:], F32ToF16(f))
}
