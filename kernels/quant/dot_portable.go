package quant

import (
	"encoding/binary"
	"math"
)

// The portable implementation of the canonical dot product (see dot.go). It
// is the reference the SIMD kernels are tested against, the only
// implementation in builds without GOEXPERIMENT=simd or off amd64, and the
// fallback on CPUs without AVX2. It decodes each block with the scalar
// decoders DequantizeRow uses, so its weights are DequantizeRow's by
// construction.

// lanes holds the 16 running sums of the canonical dot product.
type lanes [16]float32

// addBlock adds the len(w) products w[k]·x[k] (len(w) a multiple of 16, x at
// least as long) to lanes k mod 16, in increasing order of k. Lanes are
// independent, so it runs lanes 0-7 over the whole of w, then lanes 8-15:
// eight running sums fit in registers, sixteen do not. float32(w*x) rounds
// the product before the add: the explicit conversion forbids the compiler
// to fuse the two into an FMA.
func (a *lanes) addBlock(w, x []float32) {
	x = x[:len(w)]
	for h := 0; h < 16; h += 8 {
		s := (*[8]float32)(a[h : h+8])
		s0, s1, s2, s3, s4, s5, s6, s7 := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
		for k := h; k+8 <= len(w); k += 16 {
			wk, xk := (*[8]float32)(w[k:k+8]), (*[8]float32)(x[k:k+8])
			s0 += float32(wk[0] * xk[0])
			s1 += float32(wk[1] * xk[1])
			s2 += float32(wk[2] * xk[2])
			s3 += float32(wk[3] * xk[3])
			s4 += float32(wk[4] * xk[4])
			s5 += float32(wk[5] * xk[5])
			s6 += float32(wk[6] * xk[6])
			s7 += float32(wk[7] * xk[7])
		}
		s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7] = s0, s1, s2, s3, s4, s5, s6, s7
	}
}

// sum reduces the lanes in the canonical tree order.
func (a *lanes) sum() float32 {
	var s8 [8]float32
	for l := range s8 {
		s8[l] = a[l] + a[l+8]
	}
	s4 := [4]float32{s8[0] + s8[4], s8[1] + s8[5], s8[2] + s8[6], s8[3] + s8[7]}
	return (s4[0] + s4[2]) + (s4[1] + s4[3])
}

// dotF32Portable is DotF32 in portable Go (len(b) ≥ len(a)).
func dotF32Portable(a, b []float32) float32 {
	var acc lanes
	n := len(a) &^ 15
	acc.addBlock(a[:n], b[:n])
	for i := n; i < len(a); i++ {
		acc[i-n] += float32(a[i] * b[i]) // unfused, as in addBlock
	}
	return acc.sum()
}

// dotRowPortable is DotRow in portable Go: each block (16 elements of the
// plain float types) is decoded into a stack buffer and added to the lanes.
func dotRowPortable(t Type, row []byte, x []float32) float32 {
	var acc lanes
	switch t {
	case F32, F16, BF16:
		return dotPlainPortable(t, row, x)
	case Q8_0:
		return dotQ8_0Portable(row, x)
	case Q5_0:
		return dotQ5_0Portable(row, x)
	case Q4_0:
		return dotQ4_0Portable(row, x)
	case Q4_1, Q5_1, IQ4_NL:
		bb := t.BlockBytes()
		var buf [32]float32
		for i, o := 0, 0; i+32 <= len(x); i, o = i+32, o+bb {
			decodeBlock32(t, row[o:o+bb], &buf)
			acc.addBlock(buf[:], x[i:i+32])
		}
	case Q4_K:
		return dotQ4_KPortable(row, x)
	case Q6_K:
		return dotQ6_KPortable(row, x)
	default: // the other 256-element types
		bb := t.BlockBytes()
		var buf [256]float32
		for i, o := 0, 0; i+256 <= len(x); i, o = i+256, o+bb {
			decodeBlock256(t, row[o:o+bb], &buf)
			acc.addBlock(buf[:], x[i:i+256])
		}
	}
	return acc.sum()
}

// plainAt decodes element i of a row of F32, F16 or BF16 values.
func plainAt(t Type, row []byte, i int) float32 {
	switch t {
	case F32:
		return math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:]))
	case F16:
		return F16ToF32(binary.LittleEndian.Uint16(row[2*i:]))
	}
	return BF16ToF32(binary.LittleEndian.Uint16(row[2*i:]))
}

// Fused portable kernels for the types of Gemma 3 Q4_K_M files (Q8_0: the
// embedding / output matrix; Q5_0: most projections; Q4_K, Q6_K: the rest). They compute each weight with the decoder's expression and
// run the lanes in two passes over the row like addBlock, lanes 0-7 then
// 8-15, so that the eight running sums stay in registers. Each product is
// float32(w·x) with w the decoded float32 weight: the decoder's rounding,
// then the canonical one.

// dotQ8_0Portable: w = float32(qs[k])·d (decodeQ8_0).
func dotQ8_0Portable(row []byte, x []float32) float32 {
	var acc lanes
	nb := len(x) / 32
	for h := 0; h < 16; h += 8 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		for k := 0; k < nb; k++ {
			b := (*[34]byte)(row[34*k : 34*k+34])
			xb := (*[32]float32)(x[32*k : 32*k+32])
			d := F16ToF32(binary.LittleEndian.Uint16(b[0:2]))
			for c := h; c < 32; c += 16 {
				q := (*[8]byte)(b[2+c : 10+c])
				xc := (*[8]float32)(xb[c : c+8])
				s0 += float32(float32(int8(q[0])) * d * xc[0])
				s1 += float32(float32(int8(q[1])) * d * xc[1])
				s2 += float32(float32(int8(q[2])) * d * xc[2])
				s3 += float32(float32(int8(q[3])) * d * xc[3])
				s4 += float32(float32(int8(q[4])) * d * xc[4])
				s5 += float32(float32(int8(q[5])) * d * xc[5])
				s6 += float32(float32(int8(q[6])) * d * xc[6])
				s7 += float32(float32(int8(q[7])) * d * xc[7])
			}
		}
		acc[h], acc[h+1], acc[h+2], acc[h+3], acc[h+4], acc[h+5], acc[h+6], acc[h+7] = s0, s1, s2, s3, s4, s5, s6, s7
	}
	return acc.sum()
}

// q5Values[q] = q − 16 as float32, for q < 32 (q5Values[q+8] = q − 8 for Q4_0).
var q5Values = [32]float32{-16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1,
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// dotQ5_0Portable: w = float32(q − 16)·d (decodeQ5_0); element j < 16 is the
// low nibble of qs[j] with bit j of qh, element 16 + j the high nibble with
// bit 16 + j.
func dotQ5_0Portable(row []byte, x []float32) float32 {
	var acc lanes
	nb := len(x) / 32
	for h := 0; h < 16; h += 8 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		for k := 0; k < nb; k++ {
			b := (*[22]byte)(row[22*k : 22*k+22])
			xb := (*[32]float32)(x[32*k : 32*k+32])
			d := F16ToF32(binary.LittleEndian.Uint16(b[0:2]))
			qh := binary.LittleEndian.Uint32(b[2:6])
			qs := (*[8]byte)(b[6+h : 14+h])
			for c := 0; c < 2; c++ {
				// c = 0: low nibbles, bits h..h+7; c = 1: high nibbles,
				// bits 16+h..16+h+7.
				hb := qh >> uint(16*c+h) & 0xff
				sh := uint(4 * c)
				xc := (*[8]float32)(xb[16*c+h : 16*c+h+8])
				s0 += float32(q5Values[(qs[0]>>sh&0xF|byte(hb&1)<<4)&31] * d * xc[0])
				s1 += float32(q5Values[(qs[1]>>sh&0xF|byte(hb>>1&1)<<4)&31] * d * xc[1])
				s2 += float32(q5Values[(qs[2]>>sh&0xF|byte(hb>>2&1)<<4)&31] * d * xc[2])
				s3 += float32(q5Values[(qs[3]>>sh&0xF|byte(hb>>3&1)<<4)&31] * d * xc[3])
				s4 += float32(q5Values[(qs[4]>>sh&0xF|byte(hb>>4&1)<<4)&31] * d * xc[4])
				s5 += float32(q5Values[(qs[5]>>sh&0xF|byte(hb>>5&1)<<4)&31] * d * xc[5])
				s6 += float32(q5Values[(qs[6]>>sh&0xF|byte(hb>>6&1)<<4)&31] * d * xc[6])
				s7 += float32(q5Values[(qs[7]>>sh&0xF|byte(hb>>7&1)<<4)&31] * d * xc[7])
			}
		}
		acc[h], acc[h+1], acc[h+2], acc[h+3], acc[h+4], acc[h+5], acc[h+6], acc[h+7] = s0, s1, s2, s3, s4, s5, s6, s7
	}
	return acc.sum()
}

// nibValues[q] = q and q6Values[q] = q − 32 as float32.
var (
	nibValues = [16]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	q6Values  = [64]float32{-32, -31, -30, -29, -28, -27, -26, -25, -24, -23, -22, -21, -20, -19, -18, -17,
		-16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1,
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}
)

// dotQ4_KPortable: w = float32(d_j·q) − m_j (decodeQ4_K). Element 64c + l
// (l < 32) is the low nibble of qs[32c + l] in sub-block 2c, element
// 64c + 32 + l its high nibble in sub-block 2c + 1.
func dotQ4_KPortable(row []byte, x []float32) float32 {
	var acc lanes
	nb := len(x) / 256
	for h := 0; h < 16; h += 8 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		for k := 0; k < nb; k++ {
			b := (*[144]byte)(row[144*k : 144*k+144])
			xb := (*[256]float32)(x[256*k : 256*k+256])
			d := F16ToF32(binary.LittleEndian.Uint16(b[0:2]))
			dmin := F16ToF32(binary.LittleEndian.Uint16(b[2:4]))
			scales := (*[12]byte)(b[4:16])
			for j := 0; j < 8; j++ { // sub-block j = 2c + (nibble)
				sc, mn := scaleMinK4(j, scales)
				dj, mj := d*float32(sc), dmin*float32(mn)
				c, sh := j>>1, uint(4*(j&1))
				for l := h; l < 32; l += 16 {
					q := (*[8]byte)(b[16+32*c+l : 24+32*c+l])
					xc := (*[8]float32)(xb[64*c+32*(j&1)+l : 64*c+32*(j&1)+l+8])
					s0 += float32((float32(dj*nibValues[q[0]>>sh&0xF]) - mj) * xc[0])
					s1 += float32((float32(dj*nibValues[q[1]>>sh&0xF]) - mj) * xc[1])
					s2 += float32((float32(dj*nibValues[q[2]>>sh&0xF]) - mj) * xc[2])
					s3 += float32((float32(dj*nibValues[q[3]>>sh&0xF]) - mj) * xc[3])
					s4 += float32((float32(dj*nibValues[q[4]>>sh&0xF]) - mj) * xc[4])
					s5 += float32((float32(dj*nibValues[q[5]>>sh&0xF]) - mj) * xc[5])
					s6 += float32((float32(dj*nibValues[q[6]>>sh&0xF]) - mj) * xc[6])
					s7 += float32((float32(dj*nibValues[q[7]>>sh&0xF]) - mj) * xc[7])
				}
			}
		}
		acc[h], acc[h+1], acc[h+2], acc[h+3], acc[h+4], acc[h+5], acc[h+6], acc[h+7] = s0, s1, s2, s3, s4, s5, s6, s7
	}
	return acc.sum()
}

// dotQ6_KPortable: w = (d·scales[g])·float32(q − 32) (decodeQ6_K) for element
// e = 128n + 32k + l, g = 8n + 2k + l/16.
func dotQ6_KPortable(row []byte, x []float32) float32 {
	var acc lanes
	nb := len(x) / 256
	for h := 0; h < 16; h += 8 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		for k := 0; k < nb; k++ {
			b := (*[210]byte)(row[210*k : 210*k+210])
			xb := (*[256]float32)(x[256*k : 256*k+256])
			d := F16ToF32(binary.LittleEndian.Uint16(b[208:210]))
			for n := 0; n < 2; n++ {
				ql := (*[64]byte)(b[64*n : 64*n+64])
				qh := (*[32]byte)(b[128+32*n : 160+32*n])
				sc := (*[8]byte)(b[192+8*n : 200+8*n])
				for kk := 0; kk < 4; kk++ {
					lo, lsh, hsh := 32*(kk&1), uint(4*(kk>>1)), uint(2*kk)
					for l := h; l < 32; l += 16 {
						ds := d * float32(int8(sc[2*kk+l/16]))
						a := (*[8]byte)(ql[lo+l : lo+l+8])
						c := (*[8]byte)(qh[l : l+8])
						xc := (*[8]float32)(xb[128*n+32*kk+l : 128*n+32*kk+l+8])
						s0 += float32(ds * q6Values[(a[0]>>lsh&0xF|(c[0]>>hsh&3)<<4)&63] * xc[0])
						s1 += float32(ds * q6Values[(a[1]>>lsh&0xF|(c[1]>>hsh&3)<<4)&63] * xc[1])
						s2 += float32(ds * q6Values[(a[2]>>lsh&0xF|(c[2]>>hsh&3)<<4)&63] * xc[2])
						s3 += float32(ds * q6Values[(a[3]>>lsh&0xF|(c[3]>>hsh&3)<<4)&63] * xc[3])
						s4 += float32(ds * q6Values[(a[4]>>lsh&0xF|(c[4]>>hsh&3)<<4)&63] * xc[4])
						s5 += float32(ds * q6Values[(a[5]>>lsh&0xF|(c[5]>>hsh&3)<<4)&63] * xc[5])
						s6 += float32(ds * q6Values[(a[6]>>lsh&0xF|(c[6]>>hsh&3)<<4)&63] * xc[6])
						s7 += float32(ds * q6Values[(a[7]>>lsh&0xF|(c[7]>>hsh&3)<<4)&63] * xc[7])
					}
				}
			}
		}
		acc[h], acc[h+1], acc[h+2], acc[h+3], acc[h+4], acc[h+5], acc[h+6], acc[h+7] = s0, s1, s2, s3, s4, s5, s6, s7
	}
	return acc.sum()
}

// dotPlainPortable handles F32, F16 and BF16 rows (any length; a partial
// chunk of 16 goes to lanes 0..).
func dotPlainPortable(t Type, row []byte, x []float32) float32 {
	var acc lanes
	n := len(x) &^ 15
	le := binary.LittleEndian
	for h := 0; h < 16; h += 8 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		switch t {
		case F32:
			for i := h; i < n; i += 16 {
				b := (*[32]byte)(row[4*i : 4*i+32])
				xc := (*[8]float32)(x[i : i+8])
				s0 += float32(math.Float32frombits(le.Uint32(b[0:4])) * xc[0])
				s1 += float32(math.Float32frombits(le.Uint32(b[4:8])) * xc[1])
				s2 += float32(math.Float32frombits(le.Uint32(b[8:12])) * xc[2])
				s3 += float32(math.Float32frombits(le.Uint32(b[12:16])) * xc[3])
				s4 += float32(math.Float32frombits(le.Uint32(b[16:20])) * xc[4])
				s5 += float32(math.Float32frombits(le.Uint32(b[20:24])) * xc[5])
				s6 += float32(math.Float32frombits(le.Uint32(b[24:28])) * xc[6])
				s7 += float32(math.Float32frombits(le.Uint32(b[28:32])) * xc[7])
			}
		case BF16:
			for i := h; i < n; i += 16 {
				b := (*[16]byte)(row[2*i : 2*i+16])
				xc := (*[8]float32)(x[i : i+8])
				s0 += float32(BF16ToF32(le.Uint16(b[0:2])) * xc[0])
				s1 += float32(BF16ToF32(le.Uint16(b[2:4])) * xc[1])
				s2 += float32(BF16ToF32(le.Uint16(b[4:6])) * xc[2])
				s3 += float32(BF16ToF32(le.Uint16(b[6:8])) * xc[3])
				s4 += float32(BF16ToF32(le.Uint16(b[8:10])) * xc[4])
				s5 += float32(BF16ToF32(le.Uint16(b[10:12])) * xc[5])
				s6 += float32(BF16ToF32(le.Uint16(b[12:14])) * xc[6])
				s7 += float32(BF16ToF32(le.Uint16(b[14:16])) * xc[7])
			}
		default:
			for i := h; i < n; i += 16 {
				b := (*[16]byte)(row[2*i : 2*i+16])
				xc := (*[8]float32)(x[i : i+8])
				s0 += float32(F16ToF32(le.Uint16(b[0:2])) * xc[0])
				s1 += float32(F16ToF32(le.Uint16(b[2:4])) * xc[1])
				s2 += float32(F16ToF32(le.Uint16(b[4:6])) * xc[2])
				s3 += float32(F16ToF32(le.Uint16(b[6:8])) * xc[3])
				s4 += float32(F16ToF32(le.Uint16(b[8:10])) * xc[4])
				s5 += float32(F16ToF32(le.Uint16(b[10:12])) * xc[5])
				s6 += float32(F16ToF32(le.Uint16(b[12:14])) * xc[6])
				s7 += float32(F16ToF32(le.Uint16(b[14:16])) * xc[7])
			}
		}
		acc[h], acc[h+1], acc[h+2], acc[h+3], acc[h+4], acc[h+5], acc[h+6], acc[h+7] = s0, s1, s2, s3, s4, s5, s6, s7
	}
	for i := n; i < len(x); i++ {
		acc[i-n] += float32(plainAt(t, row, i) * x[i])
	}
	return acc.sum()
}

// dotQ4_0Portable: w = float32(q − 8)·d (decodeQ4_0); element j < 16 is the
// low nibble of qs[j], element 16 + j its high nibble.
func dotQ4_0Portable(row []byte, x []float32) float32 {
	var acc lanes
	nb := len(x) / 32
	for h := 0; h < 16; h += 8 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		for k := 0; k < nb; k++ {
			b := (*[18]byte)(row[18*k : 18*k+18])
			xb := (*[32]float32)(x[32*k : 32*k+32])
			d := F16ToF32(binary.LittleEndian.Uint16(b[0:2]))
			qs := (*[8]byte)(b[2+h : 10+h])
			for c := 0; c < 2; c++ {
				sh := uint(4 * c)
				xc := (*[8]float32)(xb[16*c+h : 16*c+h+8])
				s0 += float32(q5Values[qs[0]>>sh&0xF+8] * d * xc[0])
				s1 += float32(q5Values[qs[1]>>sh&0xF+8] * d * xc[1])
				s2 += float32(q5Values[qs[2]>>sh&0xF+8] * d * xc[2])
				s3 += float32(q5Values[qs[3]>>sh&0xF+8] * d * xc[3])
				s4 += float32(q5Values[qs[4]>>sh&0xF+8] * d * xc[4])
				s5 += float32(q5Values[qs[5]>>sh&0xF+8] * d * xc[5])
				s6 += float32(q5Values[qs[6]>>sh&0xF+8] * d * xc[6])
				s7 += float32(q5Values[qs[7]>>sh&0xF+8] * d * xc[7])
			}
		}
		acc[h], acc[h+1], acc[h+2], acc[h+3], acc[h+4], acc[h+5], acc[h+6], acc[h+7] = s0, s1, s2, s3, s4, s5, s6, s7
	}
	return acc.sum()
}
