package quant

import "encoding/binary"

// Fused dot-product kernels: each walks one block's quants and the matching
// x, with four independent float32 accumulators, and applies the block (or
// sub-block) factors once per group instead of once per element. Small
// constant tables map a quant to its float value, which is cheaper than an
// integer-to-float conversion per element.

// q4Values[q] = q − 8 (Q4_0), q5Values[q] = q − 16 (Q5_0), q6Values[q] = q − 32
// (Q6_K) and nibValues[q] = q (Q4_K, Q5_K) as float32. Read-only tables.
var (
	q4Values  = [16]float32{-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7}
	nibValues = [32]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}
	q5Values  = [32]float32{-16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	q6Values  = [64]float32{-32, -31, -30, -29, -28, -27, -26, -25, -24, -23, -22, -21, -20, -19, -18, -17, -16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}
)

// dotQ4_0: Σ_blocks d·Σ_j ((q_j − 8)·x_j).
func dotQ4_0(row []byte, x []float32) float32 {
	var sum float64
	for i, o := 0, 0; i+32 <= len(x); i, o = i+32, o+18 {
		b := (*[18]byte)(row[o : o+18])
		xb := (*[32]float32)(x[i : i+32])
		var s0, s1, s2, s3 float32
		for j := 0; j < 16; j += 2 {
			q0, q1 := b[2+j], b[3+j]
			s0 += q4Values[q0&0xF] * xb[j]
			s1 += q4Values[q0>>4] * xb[j+16]
			s2 += q4Values[q1&0xF] * xb[j+1]
			s3 += q4Values[q1>>4] * xb[j+17]
		}
		d := F16ToF32(binary.LittleEndian.Uint16(b[0:2]))
		sum += float64(d * ((s0 + s1) + (s2 + s3)))
	}
	return float32(sum)
}

// dotQ5_0: Σ_blocks d·Σ_j ((q_j − 16)·x_j), q_j's fifth bit from qh.
func dotQ5_0(row []byte, x []float32) float32 {
	var sum float64
	for i, o := 0, 0; i+32 <= len(x); i, o = i+32, o+22 {
		b := (*[22]byte)(row[o : o+22])
		xb := (*[32]float32)(x[i : i+32])
		qh := binary.LittleEndian.Uint32(b[2:6])
		lo, hi := qh, qh>>16 // fifth bits of elements j and j+16, consumed two at a time
		var s0, s1, s2, s3 float32
		for j := 0; j < 16; j += 2 {
			q0, q1 := uint32(b[6+j]), uint32(b[7+j])
			s0 += q5Values[(q0&0xF|(lo&1)<<4)&31] * xb[j]
			s1 += q5Values[(q0>>4|(hi&1)<<4)&31] * xb[j+16]
			s2 += q5Values[(q1&0xF|(lo&2)<<3)&31] * xb[j+1]
			s3 += q5Values[(q1>>4|(hi&2)<<3)&31] * xb[j+17]
			lo >>= 2
			hi >>= 2
		}
		d := F16ToF32(binary.LittleEndian.Uint16(b[0:2]))
		sum += float64(d * ((s0 + s1) + (s2 + s3)))
	}
	return float32(sum)
}

// dotQ8_0: Σ_blocks d·Σ_k (qs_k·x_k).
func dotQ8_0(row []byte, x []float32) float32 {
	var sum float64
	for i, o := 0, 0; i+32 <= len(x); i, o = i+32, o+34 {
		b := (*[34]byte)(row[o : o+34])
		xb := (*[32]float32)(x[i : i+32])
		var s0, s1, s2, s3 float32
		for k := 0; k < 32; k += 4 {
			s0 += float32(int8(b[2+k])) * xb[k]
			s1 += float32(int8(b[3+k])) * xb[k+1]
			s2 += float32(int8(b[4+k])) * xb[k+2]
			s3 += float32(int8(b[5+k])) * xb[k+3]
		}
		d := F16ToF32(binary.LittleEndian.Uint16(b[0:2]))
		sum += float64(d * ((s0 + s1) + (s2 + s3)))
	}
	return float32(sum)
}

// dotQ4_K: per 32-element sub-block j, a 16-entry table of its weights
// d·sc_j·q − dmin·mn_j (the dequantized values, bit for bit) is built once
// and then Σ table[q]·x costs one lookup and one multiply-add per element.
func dotQ4_K(row []byte, x []float32) float32 {
	var sum float64
	var tlo, thi [16]float32
	for i, o := 0, 0; i+256 <= len(x); i, o = i+256, o+144 {
		b := (*[144]byte)(row[o : o+144])
		xb := (*[256]float32)(x[i : i+256])
		d := F16ToF32(binary.LittleEndian.Uint16(b[0:2]))
		dmin := F16ToF32(binary.LittleEndian.Uint16(b[2:4]))
		scales := (*[12]byte)(b[4:16])
		var acc float32
		for c := 0; c < 4; c++ {
			sc1, m1 := scaleMinK4(2*c, scales)
			sc2, m2 := scaleMinK4(2*c+1, scales)
			d1, dm1 := d*float32(sc1), dmin*float32(m1)
			d2, dm2 := d*float32(sc2), dmin*float32(m2)
			for q := range tlo {
				tlo[q] = float32(d1*nibValues[q]) - dm1
				thi[q] = float32(d2*nibValues[q]) - dm2
			}
			qs := (*[32]byte)(b[16+32*c : 48+32*c])
			lo := (*[32]float32)(xb[64*c : 64*c+32])
			hi := (*[32]float32)(xb[64*c+32 : 64*c+64])
			var s0, s1, s2, s3 float32
			for l := 0; l < 32; l += 2 {
				q0, q1 := qs[l], qs[l+1]
				s0 += tlo[q0&0xF] * lo[l]
				s1 += tlo[q1&0xF] * lo[l+1]
				s2 += thi[q0>>4] * hi[l]
				s3 += thi[q1>>4] * hi[l+1]
			}
			acc += (s0 + s1) + (s2 + s3)
		}
		sum += float64(acc)
	}
	return float32(sum)
}

// dotQ5_K: as dotQ4_K with the fifth bit of each quant from qh.
func dotQ5_K(row []byte, x []float32) float32 {
	var sum float64
	for i, o := 0, 0; i+256 <= len(x); i, o = i+256, o+176 {
		b := (*[176]byte)(row[o : o+176])
		xb := (*[256]float32)(x[i : i+256])
		scales := (*[12]byte)(b[4:16])
		qh := (*[32]byte)(b[16:48])
		var qx, mx float32
		for c := 0; c < 4; c++ {
			qs := (*[32]byte)(b[48+32*c : 80+32*c])
			lo := (*[32]float32)(xb[64*c : 64*c+32])
			hi := (*[32]float32)(xb[64*c+32 : 64*c+64])
			s1, s2 := uint(2*c), uint(2*c+1)
			var a0, a1, b0, b1, sl, sh float32
			for l := 0; l < 32; l += 2 {
				q0, q1 := qs[l], qs[l+1]
				h0, h1 := qh[l], qh[l+1]
				// "&7" on the shift counts spares the compiler's oversized-shift checks.
				a0 += nibValues[(q0&0xF|(h0>>(s1&7)&1)<<4)&31] * lo[l]
				a1 += nibValues[(q1&0xF|(h1>>(s1&7)&1)<<4)&31] * lo[l+1]
				b0 += nibValues[(q0>>4|(h0>>(s2&7)&1)<<4)&31] * hi[l]
				b1 += nibValues[(q1>>4|(h1>>(s2&7)&1)<<4)&31] * hi[l+1]
				sl += lo[l] + lo[l+1]
				sh += hi[l] + hi[l+1]
			}
			sc1, m1 := scaleMinK4(2*c, scales)
			sc2, m2 := scaleMinK4(2*c+1, scales)
			qx += float32(sc1)*(a0+a1) + float32(sc2)*(b0+b1)
			mx += float32(m1)*sl + float32(m2)*sh
		}
		d := F16ToF32(binary.LittleEndian.Uint16(b[0:2]))
		dmin := F16ToF32(binary.LittleEndian.Uint16(b[2:4]))
		sum += float64(d*qx) - float64(dmin*mx)
	}
	return float32(sum)
}

// dotQ6_K: per 16-element group g, d·scales[g]·Σ(q − 32)·x.
func dotQ6_K(row []byte, x []float32) float32 {
	var sum float64
	for i, o := 0, 0; i+256 <= len(x); i, o = i+256, o+210 {
		b := (*[210]byte)(row[o : o+210])
		xb := (*[256]float32)(x[i : i+256])
		var acc float32 // Σ scale·Σq·x over the 16 groups
		for n := 0; n < 2; n++ {
			ql := (*[64]byte)(b[64*n : 64*n+64])
			qh := (*[32]byte)(b[128+32*n : 160+32*n])
			sc := (*[8]byte)(b[192+8*n : 200+8*n])
			xn := (*[128]float32)(xb[128*n : 128*n+128])
			for h := 0; h < 2; h++ {
				var s1, s2, s3, s4 float32
				for l := 16 * h; l < 16*h+16; l++ {
					lo, hi, qb := ql[l], ql[l+32], qh[l]
					s1 += q6Values[(lo&0xF|(qb&3)<<4)&63] * xn[l]
					s2 += q6Values[(hi&0xF|(qb>>2&3)<<4)&63] * xn[l+32]
					s3 += q6Values[(lo>>4|(qb>>4&3)<<4)&63] * xn[l+64]
					s4 += q6Values[(hi>>4|(qb>>6&3)<<4)&63] * xn[l+96]
				}
				acc += float32(int8(sc[h]))*s1 + float32(int8(sc[h+2]))*s2 +
					float32(int8(sc[h+4]))*s3 + float32(int8(sc[h+6]))*s4
			}
		}
		d := F16ToF32(binary.LittleEndian.Uint16(b[208:210]))
		sum += float64(d * acc)
	}
	return float32(sum)
}
