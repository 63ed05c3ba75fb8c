package quant

import "encoding/binary"

// Reference quantizers of the 32-element blocks (quantize_row_q*_ref in
// ggml-quants.c). Every product that feeds an addition is wrapped in
// float32(...) so that no fused multiply-add is formed: llama.cpp's reference
// code, gguf-py and this package then agree bit for bit. (A llama.cpp build
// that lets the C compiler contract x·id + 8.5 into an FMA can differ in rare
// ties by one quant step.)

// legacyEncoder returns the block encoder of a 32-element type.
func legacyEncoder(t Type) func(x *[32]float32, y []byte) {
	switch t {
	case Q4_0:
		return encodeQ4_0
	case Q4_1:
		return encodeQ4_1
	case Q5_0:
		return encodeQ5_0
	case Q5_1:
		return encodeQ5_1
	case Q8_0:
		return encodeQ8_0
	}
	return nil
}

// signedAbsMax returns the element of x with the largest magnitude, keeping
// its sign; the first one wins on ties and 0 is returned for an all-zero
// block.
func signedAbsMax(x *[32]float32) float32 {
	var amax, max float32
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, max = a, v
		}
	}
	return max
}

// minMax returns the smallest and largest element of x.
func minMax(x *[32]float32) (lo, hi float32) {
	lo, hi = x[0], x[0]
	for _, v := range x[1:] {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

// inverse returns 1/d, or 0 when d is 0.
func inverse(d float32) float32 {
	if d == 0 {
		return 0
	}
	return 1 / d
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// encodeQ4_0: d = max/−8 where max is the signed absolute maximum;
// q = min(15, trunc(x/d + 8.5)); byte j = q_j | q_{j+16}<<4.
func encodeQ4_0(x *[32]float32, y []byte) {
	d := signedAbsMax(x) / -8
	id := inverse(d)
	putF16(y, 0, d)
	qs := (*[16]byte)(y[2:18])
	for j := range qs {
		q0 := min(15, int(int8(float32(x[j]*id)+8.5)))
		q1 := min(15, int(int8(float32(x[j+16]*id)+8.5)))
		qs[j] = byte(q0) | byte(q1)<<4
	}
}

// encodeQ4_1: d = (max−min)/15, m = min; q = min(15, trunc((x−min)/d + 0.5)).
func encodeQ4_1(x *[32]float32, y []byte) {
	lo, hi := minMax(x)
	d := (hi - lo) / 15
	id := inverse(d)
	putF16(y, 0, d)
	putF16(y, 2, lo)
	qs := (*[16]byte)(y[4:20])
	for j := range qs {
		q0 := min(15, int(int8(float32((x[j]-lo)*id)+0.5)))
		q1 := min(15, int(int8(float32((x[j+16]-lo)*id)+0.5)))
		qs[j] = byte(q0) | byte(q1)<<4
	}
}

// encodeQ5_0: d = max/−16 (signed absolute maximum); q = min(31,
// trunc(x/d + 16.5)); the low 4 bits go to qs like Q4_0, bit 4 of element k
// to bit k of qh.
func encodeQ5_0(x *[32]float32, y []byte) {
	d := signedAbsMax(x) / -16
	id := inverse(d)
	putF16(y, 0, d)
	var qh uint32
	qs := (*[16]byte)(y[6:22])
	for j := range qs {
		q0 := byte(min(31, int(int8(float32(x[j]*id)+16.5))))
		q1 := byte(min(31, int(int8(float32(x[j+16]*id)+16.5))))
		qs[j] = q0&0xF | (q1&0xF)<<4
		qh |= uint32(q0>>4) << j
		qh |= uint32(q1>>4) << (j + 16)
	}
	binary.LittleEndian.PutUint32(y[2:6], qh)
}

// encodeQ5_1: d = (max−min)/31, m = min; q = trunc((x−min)/d + 0.5) (no
// clamp, as in the C code); nibbles and fifth bits as Q5_0.
func encodeQ5_1(x *[32]float32, y []byte) {
	lo, hi := minMax(x)
	d := (hi - lo) / 31
	id := inverse(d)
	putF16(y, 0, d)
	putF16(y, 2, lo)
	var qh uint32
	qs := (*[16]byte)(y[8:24])
	for j := range qs {
		q0 := uint8(float32((x[j]-lo)*id) + 0.5)
		q1 := uint8(float32((x[j+16]-lo)*id) + 0.5)
		qs[j] = q0&0xF | (q1&0xF)<<4
		qh |= uint32(q0>>4&1) << j
		qh |= uint32(q1>>4&1) << (j + 16)
	}
	binary.LittleEndian.PutUint32(y[4:8], qh)
}

// encodeQ8_0: d = max|x|/127; q = roundf(x/d) (half away from zero).
func encodeQ8_0(x *[32]float32, y []byte) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	id := inverse(d)
	putF16(y, 0, d)
	qs := (*[32]byte)(y[2:34])
	for j, v := range x {
		qs[j] = byte(int8(roundAway(v * id)))
	}
}
