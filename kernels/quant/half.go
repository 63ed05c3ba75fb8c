package quant

import "math"

// F16ToF32 decodes an IEEE 754 binary16 value (1 sign bit, 5 exponent bits
// with bias 15, 10 mantissa bits). Subnormals, infinities and NaNs (payload
// kept in the top mantissa bits) decode exactly; every half is representable
// as a float32, so the conversion is lossless.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	em := uint32(h & 0x7fff) // exponent and mantissa
	switch {
	case em >= 0x7c00: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | (em&0x3ff)<<13)
	case em >= 0x0400: // normal: move the fields up and rebias 15 -> 127
		return math.Float32frombits(sign | (em+112<<10)<<13)
	}
	// Zero or subnormal: em·2^-24, exact in float32 (a normal float32).
	return math.Float32frombits(sign | math.Float32bits(float32(em)*0x1p-24))
}

// F32ToF16 encodes f as IEEE binary16 with round-to-nearest, ties-to-even (the
// rounding of x86 F16C, ARM FCVT and numpy's astype(float16)). Values past
// the largest half (65504, after rounding) become ±Inf, tiny values become
// subnormals or ±0, and a NaN stays a NaN: it is quietened (bit 9 set) and
// keeps the top 9 bits of its payload.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13)
	}
	e := exp - 127 + 15 // biased half exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal half (or zero): the result counts units of 2^-24. The
		// 24-bit significand m of f is worth m·2^(e-14) such units.
		if e < -10 {
			return sign // below half the smallest subnormal
		}
		m := mant | 0x800000
		shift := uint(14 - e)
		q := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && q&1 == 1) {
			q++ // may carry into the smallest normal, which is correct
		}
		return sign | uint16(q)
	}
	q := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && q&1 == 1) {
		q++ // a carry out of the mantissa bumps the exponent, up to Inf
	}
	return sign | uint16(q)
}

// BF16ToF32 decodes a bfloat16: the value is the float32 whose upper 16 bits
// are b and whose lower 16 bits are zero.
func BF16ToF32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}

// F32ToBF16 encodes f as bfloat16 the way ggml does (ggml_compute_fp32_to_bf16):
// a NaN u becomes (u>>16)|0x40, a quiet NaN; every other value is rounded to
// nearest, ties to even: (u + 0x7FFF + ((u>>16)&1)) >> 16, which also rounds
// large finite values up to ±Inf.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + ((u >> 16) & 1)) >> 16)
}
