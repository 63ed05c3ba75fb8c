package quant

import "encoding/binary"

// The 32-element "legacy" blocks (FORMATS.md §2.2). In every 4- and 5-bit
// layout the low nibbles of qs[0..15] are elements 0..15 and the high nibbles
// are elements 16..31. Products are written as float32(a*b) so that no fused
// multiply-add can change a rounding: the results are bit-identical to ggml's
// dequantize_row_* compiled without contraction, and to gguf-py.

// iq4nlValues is the non-linear 4-bit codebook of IQ4_NL and IQ4_XS
// (kvalues_iq4nl in ggml-common.h).
var iq4nlValues = [16]float32{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// decodeBlock32 decodes one block b of the 32-element type t into y. It
// switches on t instead of returning a function value so that y can stay on
// the caller's stack.
func decodeBlock32(t Type, b []byte, y *[32]float32) {
	switch t {
	case Q4_0:
		decodeQ4_0(b, y)
	case Q4_1:
		decodeQ4_1(b, y)
	case Q5_0:
		decodeQ5_0(b, y)
	case Q5_1:
		decodeQ5_1(b, y)
	case Q8_0:
		decodeQ8_0(b, y)
	case IQ4_NL:
		decodeIQ4_NL(b, y)
	}
}

// decodeQ4_0 decodes an 18-byte Q4_0 block: d f16 at 0, qs[16] at 2;
// y[j] = d·((qs[j]&0xF) − 8), y[j+16] = d·((qs[j]>>4) − 8).
func decodeQ4_0(b []byte, y *[32]float32) {
	d := f16At(b, 0)
	qs := (*[16]byte)(b[2:18])
	for j, q := range qs {
		y[j] = float32(int(q&0xF)-8) * d
		y[j+16] = float32(int(q>>4)-8) * d
	}
}

// decodeQ4_1 decodes a 20-byte Q4_1 block: d f16 at 0, m f16 at 2, qs[16] at
// 4; y[j] = d·(qs[j]&0xF) + m, y[j+16] = d·(qs[j]>>4) + m.
func decodeQ4_1(b []byte, y *[32]float32) {
	d, m := f16At(b, 0), f16At(b, 2)
	qs := (*[16]byte)(b[4:20])
	for j, q := range qs {
		y[j] = float32(float32(q&0xF)*d) + m
		y[j+16] = float32(float32(q>>4)*d) + m
	}
}

// decodeQ5_0 decodes a 22-byte Q5_0 block: d f16 at 0, qh u32 at 2, qs[16] at
// 6; element k's fifth bit is bit k of qh; y = d·(q − 16).
func decodeQ5_0(b []byte, y *[32]float32) {
	d := f16At(b, 0)
	qh := binary.LittleEndian.Uint32(b[2:6])
	qs := (*[16]byte)(b[6:22])
	for j, q := range qs {
		lo := int(q&0xF) | int(qh>>(j&15)&1)<<4
		hi := int(q>>4) | int(qh>>(j&15+16)&1)<<4
		y[j] = float32(lo-16) * d
		y[j+16] = float32(hi-16) * d
	}
}

// decodeQ5_1 decodes a 24-byte Q5_1 block: d f16 at 0, m f16 at 2, qh u32 at
// 4, qs[16] at 8; y = d·q + m with q ∈ [0, 31].
func decodeQ5_1(b []byte, y *[32]float32) {
	d, m := f16At(b, 0), f16At(b, 2)
	qh := binary.LittleEndian.Uint32(b[4:8])
	qs := (*[16]byte)(b[8:24])
	for j, q := range qs {
		lo := uint32(q&0xF) | (qh>>(j&15)&1)<<4
		hi := uint32(q>>4) | (qh>>(j&15+16)&1)<<4
		y[j] = float32(float32(lo)*d) + m
		y[j+16] = float32(float32(hi)*d) + m
	}
}

// decodeQ8_0 decodes a 34-byte Q8_0 block: d f16 at 0, qs int8[32] at 2;
// y[k] = d·qs[k].
func decodeQ8_0(b []byte, y *[32]float32) {
	d := f16At(b, 0)
	qs := (*[32]byte)(b[2:34])
	for k, q := range qs {
		y[k] = float32(int8(q)) * d
	}
}

// decodeIQ4_NL decodes an 18-byte IQ4_NL block: d f16 at 0, qs[16] at 2;
// y[j] = d·T[qs[j]&0xF], y[j+16] = d·T[qs[j]>>4] with T = iq4nlValues.
func decodeIQ4_NL(b []byte, y *[32]float32) {
	d := f16At(b, 0)
	qs := (*[16]byte)(b[2:18])
	for j, q := range qs {
		y[j] = iq4nlValues[q&0xF] * d
		y[j+16] = iq4nlValues[q>>4] * d
	}
}
