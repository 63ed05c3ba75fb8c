package quant

import "encoding/binary"

// The 256-element K-quant super-blocks and IQ4_XS (FORMATS.md §2.3). The
// decoders mirror ggml's dequantize_row_* operation by operation: a sub-block
// factor such as d·sc is rounded to float32 first, then multiplied by the
// quant, then the min term is subtracted (no fused multiply-add).

// decodeBlock256 decodes one block b of the 256-element type t into y (a
// switch rather than a function value, so that y can stay on the stack).
func decodeBlock256(t Type, b []byte, y *[256]float32) {
	switch t {
	case Q2_K:
		decodeQ2_K(b, y)
	case Q3_K:
		decodeQ3_K(b, y)
	case Q4_K:
		decodeQ4_K(b, y)
	case Q5_K:
		decodeQ5_K(b, y)
	case Q6_K:
		decodeQ6_K(b, y)
	case IQ4_XS:
		decodeIQ4_XS(b, y)
	}
}

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j ∈ [0,8) from the
// 12 packed bytes s of a Q4_K/Q5_K block (get_scale_min_k4 in ggml):
// j < 4: sc = s[j]&63, mn = s[j+4]&63; j ≥ 4: sc = (s[j+4]&0xF)|(s[j−4]>>6)<<4,
// mn = (s[j+4]>>4)|(s[j]>>6)<<4.
func scaleMinK4(j int, s *[12]byte) (sc, mn uint8) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&0xF | (s[j-4]>>6)<<4, s[j+4]>>4 | (s[j]>>6)<<4
}

// decodeQ2_K decodes an 84-byte Q2_K block: scales[16] at 0 (low nibble scale,
// high nibble min, one per 16 elements), qs[64] at 16, d f16 at 80, dmin f16
// at 82. Element e = 128n + 32k + l has q = (qs[32n+l] >> 2k) & 3 and value
// d·(sc&0xF)·q − dmin·(sc>>4) with sc = scales[e/16].
func decodeQ2_K(b []byte, y *[256]float32) {
	scales := (*[16]byte)(b[0:16])
	d, dmin := f16At(b, 80), f16At(b, 82)
	for n := 0; n < 2; n++ {
		qs := (*[32]byte)(b[16+32*n : 48+32*n])
		for k := 0; k < 4; k++ {
			shift := uint(2 * k)
			out := (*[32]float32)(y[128*n+32*k : 128*n+32*k+32])
			for h := 0; h < 2; h++ {
				sc := scales[8*n+2*k+h]
				dl := d * float32(sc&0xF)
				ml := dmin * float32(sc>>4)
				for l := 0; l < 16; l++ {
					q := float32(qs[16*h+l] >> (shift & 7) & 3) // &7: no oversized-shift check
					out[16*h+l] = float32(dl*q) - ml
				}
			}
		}
	}
}

// q3Scale returns the signed 6-bit scale j ∈ [0,16) of a Q3_K block from its
// 12 packed bytes s: low 4 bits from s[j] (j < 8) or s[j−8]>>4, high 2 bits
// (s[8 + j%4] >> 2·(j/4)) & 3, minus 32.
func q3Scale(j int, s *[12]byte) int {
	var lo byte
	if j < 8 {
		lo = s[j] & 0xF
	} else {
		lo = s[j-8] >> 4
	}
	hi := (s[8+j%4] >> (2 * (j / 4))) & 3
	return int(lo|hi<<4) - 32
}

// decodeQ3_K decodes a 110-byte Q3_K block: hmask[32] at 0, qs[64] at 32,
// scales[12] at 96, d f16 at 108. Element e = 128n + 32k + l has
// q = ((qs[32n+l] >> 2k) & 3) − 4·(1 − hmask bit (4n+k) of byte l) ∈ [−4, 3]
// and value d·scale_{e/16}·q.
func decodeQ3_K(b []byte, y *[256]float32) {
	hmask := (*[32]byte)(b[0:32])
	scales := (*[12]byte)(b[96:108])
	d := f16At(b, 108)
	for n := 0; n < 2; n++ {
		qs := (*[32]byte)(b[32+32*n : 64+32*n])
		for k := 0; k < 4; k++ {
			shift := uint(2 * k)
			m := byte(1) << uint(4*n+k)
			out := (*[32]float32)(y[128*n+32*k : 128*n+32*k+32])
			for h := 0; h < 2; h++ {
				dl := d * float32(q3Scale(8*n+2*k+h, scales))
				for l := 16 * h; l < 16*h+16; l++ {
					q := int(qs[l] >> (shift & 7) & 3)
					if hmask[l]&m == 0 {
						q -= 4
					}
					out[l] = dl * float32(q)
				}
			}
		}
	}
}

// decodeQ4_K decodes a 144-byte Q4_K block: d f16 at 0, dmin f16 at 2,
// scales[12] at 4 (eight 6-bit scales and mins, see scaleMinK4), qs[128] at
// 16. Each 32-byte run of qs holds 64 elements, low nibbles first; value =
// d·sc_j·q − dmin·mn_j for sub-block j = e/32.
func decodeQ4_K(b []byte, y *[256]float32) {
	d, dmin := f16At(b, 0), f16At(b, 2)
	scales := (*[12]byte)(b[4:16])
	for c := 0; c < 4; c++ {
		qs := (*[32]byte)(b[16+32*c : 48+32*c])
		sc1, m1 := scaleMinK4(2*c, scales)
		sc2, m2 := scaleMinK4(2*c+1, scales)
		d1, dm1 := d*float32(sc1), dmin*float32(m1)
		d2, dm2 := d*float32(sc2), dmin*float32(m2)
		lo := (*[32]float32)(y[64*c : 64*c+32])
		hi := (*[32]float32)(y[64*c+32 : 64*c+64])
		for l, q := range qs {
			lo[l] = float32(d1*float32(q&0xF)) - dm1
			hi[l] = float32(d2*float32(q>>4)) - dm2
		}
	}
}

// decodeQ5_K decodes a 176-byte Q5_K block: as Q4_K (d at 0, dmin at 2,
// scales[12] at 4) with qh[32] at 16 and qs[128] at 48; element e gains
// 16·((qh[e%32] >> (e/32)) & 1), so q ∈ [0, 31].
func decodeQ5_K(b []byte, y *[256]float32) {
	d, dmin := f16At(b, 0), f16At(b, 2)
	scales := (*[12]byte)(b[4:16])
	qh := (*[32]byte)(b[16:48])
	for c := 0; c < 4; c++ {
		qs := (*[32]byte)(b[48+32*c : 80+32*c])
		sc1, m1 := scaleMinK4(2*c, scales)
		sc2, m2 := scaleMinK4(2*c+1, scales)
		d1, dm1 := d*float32(sc1), dmin*float32(m1)
		d2, dm2 := d*float32(sc2), dmin*float32(m2)
		lo := (*[32]float32)(y[64*c : 64*c+32])
		hi := (*[32]float32)(y[64*c+32 : 64*c+64])
		s1, s2 := uint(2*c), uint(2*c+1)
		for l, q := range qs {
			q1 := q&0xF | (qh[l]>>(s1&7)&1)<<4
			q2 := q>>4 | (qh[l]>>(s2&7)&1)<<4
			lo[l] = float32(d1*float32(q1)) - dm1
			hi[l] = float32(d2*float32(q2)) - dm2
		}
	}
}

// decodeQ6_K decodes a 210-byte Q6_K block: ql[128] at 0, qh[64] at 128,
// scales int8[16] at 192, d f16 at 208. Element e = 128n + 32k + l takes its
// low 4 bits from ql[64n + l + 32(k&1)] (low nibble for k < 2, high for k ≥ 2)
// and its high 2 bits from (qh[32n+l] >> 2k) & 3; value = d·scales[e/16]·(q−32).
func decodeQ6_K(b []byte, y *[256]float32) {
	d := f16At(b, 208)
	for n := 0; n < 2; n++ {
		ql := (*[64]byte)(b[64*n : 64*n+64])
		qh := (*[32]byte)(b[128+32*n : 160+32*n])
		sc := (*[8]byte)(b[192+8*n : 200+8*n])
		out := (*[128]float32)(y[128*n : 128*n+128])
		for l := 0; l < 32; l++ {
			is := l / 16
			h := qh[l]
			q1 := int(ql[l]&0xF|(h&3)<<4) - 32
			q2 := int(ql[l+32]&0xF|(h>>2&3)<<4) - 32
			q3 := int(ql[l]>>4|(h>>4&3)<<4) - 32
			q4 := int(ql[l+32]>>4|(h>>6&3)<<4) - 32
			out[l] = d * float32(int8(sc[is])) * float32(q1)
			out[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			out[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			out[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
	}
}

// iq4xsScale returns the 6-bit scale minus 32 of IQ4_XS sub-block ib ∈ [0,8):
// low 4 bits (scales_l[ib/2] >> 4·(ib%2)) & 0xF, high 2 bits
// (scales_h >> 2·ib) & 3.
func iq4xsScale(ib int, scalesH uint16, scalesL *[4]byte) int {
	lo := int(scalesL[ib/2]>>(4*(ib%2))) & 0xF
	hi := int(scalesH>>(2*ib)) & 3
	return (lo | hi<<4) - 32
}

// decodeIQ4_XS decodes a 136-byte IQ4_XS block: d f16 at 0, scales_h u16 at 2,
// scales_l[4] at 4, qs[128] at 8. Sub-block ib (32 elements) uses
// dl = d·(ls−32) and its 16 bytes qs[16ib…] like IQ4_NL: value = dl·T[nibble].
func decodeIQ4_XS(b []byte, y *[256]float32) {
	d := f16At(b, 0)
	scalesH := binary.LittleEndian.Uint16(b[2:4])
	scalesL := (*[4]byte)(b[4:8])
	for ib := 0; ib < 8; ib++ {
		dl := d * float32(iq4xsScale(ib, scalesH, scalesL))
		qs := (*[16]byte)(b[8+16*ib : 24+16*ib])
		out := (*[32]float32)(y[32*ib : 32*ib+32])
		for j, q := range qs {
			out[j] = dl * iq4nlValues[q&0xF]
			out[j+16] = dl * iq4nlValues[q>>4]
		}
	}
}
