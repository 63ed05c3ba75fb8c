//go:build goexperiment.simd && amd64

package quant

import (
	"encoding/binary"
	"simd/archsimd"
)

// The AVX2 kernels of the canonical dot product (see dot.go and
// dot_simd_amd64.go): the 16 lanes are two Float32x8, lanes 0-7 and 8-15.

// dotRow256 is DotRow with AVX2.
func dotRow256(t Type, row []byte, x []float32) float32 {
	var acc lanes
	switch t {
	case F32, F16, BF16:
		return dotRowPlain(false, t, row, x)
	case Q4_0, Q4_1, Q5_0, Q5_1, Q8_0:
		var f [2 * chunkElems / 32]uint32
		bb := t.BlockBytes()
		for i, o := 0, 0; i+32 <= len(x); {
			nb := min(chunkElems, len(x)-i) / 32
			r, xc := row[o:o+nb*bb], x[i:i+nb*32]
			prep32(t, r, f[:2*nb])
			switch t {
			case Q8_0:
				q8_0Vec256(&acc, r, xc, &f)
			case Q5_0, Q5_1:
				q5Vec256(t, &acc, r, xc, &f)
			default:
				q4Vec256(t, &acc, r, xc, &f)
			}
			i, o = i+nb*32, o+nb*bb
		}
	case Q4_K, Q5_K, Q6_K:
		var f [16 * chunkElems / 256]uint32
		bb := t.BlockBytes()
		for i, o := 0, 0; i+256 <= len(x); {
			nb := min(chunkElems, len(x)-i) / 256
			r, xc := row[o:o+nb*bb], x[i:i+nb*256]
			switch t {
			case Q4_K:
				prepK45(t, r, f[:16*nb])
				q4_KVec256(&acc, r, xc, &f)
			case Q5_K:
				prepK45(t, r, f[:16*nb])
				q5_KVec256(&acc, r, xc, &f)
			default:
				prepQ6_K(r, f[:16*nb])
				q6_KVec256(&acc, r, xc, &f)
			}
			i, o = i+nb*256, o+nb*bb
		}
	default: // Q2_K, Q3_K, IQ4_NL, IQ4_XS
		return dotDecoded(false, t, row, x)
	}
	return acc.sum()
}

// load256 loads the lanes, done256 stores them and cleans the vector state.
func load256(acc *lanes) (f32x8, f32x8) {
	return archsimd.LoadFloat32x8((*[8]float32)(acc[0:8])), archsimd.LoadFloat32x8((*[8]float32)(acc[8:16]))
}

func done256(acc *lanes, s0, s1 f32x8) {
	s0.Store((*[8]float32)(acc[0:8]))
	s1.Store((*[8]float32)(acc[8:16]))
	archsimd.ClearAVXUpperBits()
}

//go:noinline
func f32Vec256(acc *lanes, a, b []float32) {
	s0, s1 := load256(acc)
	b = b[:len(a)]
	for i := 0; i+16 <= len(a); i += 16 {
		s0 = s0.Add(ld8(a[i:]).Mul(ld8(b[i:])))
		s1 = s1.Add(ld8(a[i+8:]).Mul(ld8(b[i+8:])))
	}
	done256(acc, s0, s1)
}

//go:noinline
func plainVec256(t Type, acc *lanes, row []byte, x []float32) {
	s0, s1 := load256(acc)
	switch t {
	case F32:
		for i := 0; i+16 <= len(x); i += 16 {
			w0 := archsimd.LoadUint8x32((*[32]byte)(row[4*i : 4*i+32])).AsFloat32x8()
			w1 := archsimd.LoadUint8x32((*[32]byte)(row[4*i+32 : 4*i+64])).AsFloat32x8()
			s0 = s0.Add(w0.Mul(ld8(x[i:])))
			s1 = s1.Add(w1.Mul(ld8(x[i+8:])))
		}
	case BF16, F16:
		for i := 0; i+16 <= len(x); i += 16 {
			h0 := archsimd.LoadUint8x16((*[16]byte)(row[2*i : 2*i+16])).AsUint16x8().ExtendToUint32()
			h1 := archsimd.LoadUint8x16((*[16]byte)(row[2*i+16 : 2*i+32])).AsUint16x8().ExtendToUint32()
			var w0, w1 f32x8
			if t == BF16 {
				w0, w1 = h0.ShiftAllLeft(16).AsFloat32x8(), h1.ShiftAllLeft(16).AsFloat32x8()
			} else {
				w0, w1 = f16x8(h0), f16x8(h1)
			}
			s0 = s0.Add(w0.Mul(ld8(x[i:])))
			s1 = s1.Add(w1.Mul(ld8(x[i+8:])))
		}
	}
	done256(acc, s0, s1)
}

//go:noinline
func q8_0Vec256(acc *lanes, row []byte, x []float32, f *[2 * chunkElems / 32]uint32) {
	s0, s1 := load256(acc)
	for k, i, o := 0, 0, 0; i+32 <= len(x); k, i, o = k+1, i+32, o+34 {
		b := (*[34]byte)(row[o : o+34])
		xb := (*[32]float32)(x[i : i+32])
		d := bcb8(f[2*k&(len(f)-1)])
		q0, q1 := sx8x2(b[2:18])
		q2, q3 := sx8x2(b[18:34])
		s0 = s0.Add(q0.Mul(d).Mul(ld8(xb[0:8])))
		s1 = s1.Add(q1.Mul(d).Mul(ld8(xb[8:16])))
		s0 = s0.Add(q2.Mul(d).Mul(ld8(xb[16:24])))
		s1 = s1.Add(q3.Mul(d).Mul(ld8(xb[24:32])))
	}
	done256(acc, s0, s1)
}

// q4Vec256: Q4_0 float32(q−8)·d (q − 8 is exact), Q4_1 float32(q·d) + m.
//
//go:noinline
func q4Vec256(t Type, acc *lanes, row []byte, x []float32, f *[2 * chunkElems / 32]uint32) {
	s0, s1 := load256(acc)
	bb, qo := 18, 2
	if t == Q4_1 {
		bb, qo = 20, 4
	}
	bias := bc8(8)
	low4 := archsimd.BroadcastUint32x8(0xF)
	for k, i, o := 0, 0, 0; i+32 <= len(x); k, i, o = k+1, i+32, o+bb {
		b := row[o : o+bb]
		xb := (*[32]float32)(x[i : i+32])
		d := bcb8(f[2*k&(len(f)-1)])
		v0, v1 := zx8x2(b[qo:])
		w0, w1 := cvt8(v0.And(low4)), cvt8(v1.And(low4))
		w2, w3 := cvt8(srl8(v0, 4)), cvt8(srl8(v1, 4))
		if t == Q4_1 {
			m := bcb8(f[(2*k+1)&(len(f)-1)])
			w0, w1, w2, w3 = w0.Mul(d).Add(m), w1.Mul(d).Add(m), w2.Mul(d).Add(m), w3.Mul(d).Add(m)
		} else {
			w0, w1, w2, w3 = w0.Sub(bias).Mul(d), w1.Sub(bias).Mul(d), w2.Sub(bias).Mul(d), w3.Sub(bias).Mul(d)
		}
		s0 = s0.Add(w0.Mul(ld8(xb[0:8])))
		s1 = s1.Add(w1.Mul(ld8(xb[8:16])))
		s0 = s0.Add(w2.Mul(ld8(xb[16:24])))
		s1 = s1.Add(w3.Mul(ld8(xb[24:32])))
	}
	done256(acc, s0, s1)
}

// q5Vec256: Q5_0 float32(q−16)·d, Q5_1 float32(q·d) + m.
//
//go:noinline
func q5Vec256(t Type, acc *lanes, row []byte, x []float32, f *[2 * chunkElems / 32]uint32) {
	s0, s1 := load256(acc)
	bb, ho := 22, 2
	if t == Q5_1 {
		bb, ho = 24, 4
	}
	bias := bc8(16)
	lane0 := archsimd.LoadUint32x8((*[8]uint32)(laneU[0:8]))
	lane8 := archsimd.LoadUint32x8((*[8]uint32)(laneU[8:16]))
	lane16 := archsimd.LoadUint32x8((*[8]uint32)(laneU[16:24]))
	lane24 := archsimd.LoadUint32x8((*[8]uint32)(laneU[24:32]))
	low4 := archsimd.BroadcastUint32x8(0xF)
	bit4 := archsimd.BroadcastUint32x8(0x10)
	for k, i, o := 0, 0, 0; i+32 <= len(x); k, i, o = k+1, i+32, o+bb {
		b := row[o : o+bb]
		xb := (*[32]float32)(x[i : i+32])
		d := bcb8(f[2*k&(len(f)-1)])
		qh := archsimd.BroadcastUint32x8(binary.LittleEndian.Uint32(b[ho : ho+4]))
		v0, v1 := zx8x2(b[ho+4:])
		q0 := v0.And(low4).Or(qh.ShiftRight(lane0).ShiftAllLeft(4).And(bit4))
		q1 := v1.And(low4).Or(qh.ShiftRight(lane8).ShiftAllLeft(4).And(bit4))
		q2 := srl8(v0, 4).Or(qh.ShiftRight(lane16).ShiftAllLeft(4).And(bit4))
		q3 := srl8(v1, 4).Or(qh.ShiftRight(lane24).ShiftAllLeft(4).And(bit4))
		w0, w1, w2, w3 := cvt8(q0), cvt8(q1), cvt8(q2), cvt8(q3)
		if t == Q5_1 {
			m := bcb8(f[(2*k+1)&(len(f)-1)])
			w0, w1, w2, w3 = w0.Mul(d).Add(m), w1.Mul(d).Add(m), w2.Mul(d).Add(m), w3.Mul(d).Add(m)
		} else {
			w0, w1, w2, w3 = w0.Sub(bias).Mul(d), w1.Sub(bias).Mul(d), w2.Sub(bias).Mul(d), w3.Sub(bias).Mul(d)
		}
		s0 = s0.Add(w0.Mul(ld8(xb[0:8])))
		s1 = s1.Add(w1.Mul(ld8(xb[8:16])))
		s0 = s0.Add(w2.Mul(ld8(xb[16:24])))
		s1 = s1.Add(w3.Mul(ld8(xb[24:32])))
	}
	done256(acc, s0, s1)
}

// q4_KVec256: float32(d_j·q) − m_j per element.
//
//go:noinline
func q4_KVec256(acc *lanes, row []byte, x []float32, f *[16 * chunkElems / 256]uint32) {
	s0, s1 := load256(acc)
	low4 := archsimd.BroadcastUint32x8(0xF)
	for k, i, o := 0, 0, 0; i+256 <= len(x); k, i, o = k+1, i+256, o+144 {
		b := (*[144]byte)(row[o : o+144])
		xb := (*[256]float32)(x[i : i+256])
		fk := (*[16]uint32)(f[16*k&(len(f)-1):])
		fd, fm := facts8(fk[0:8]), facts8(fk[8:16])
		for c := 0; c < 4; c++ {
			d1, dm1 := lane8(fd, 2*c), lane8(fm, 2*c)
			d2, dm2 := lane8(fd, 2*c+1), lane8(fm, 2*c+1)
			qs := b[16+32*c : 48+32*c]
			xc := xb[64*c : 64*c+64]
			v0, v1 := zx8x2(qs[0:16])
			v2, v3 := zx8x2(qs[16:32])
			s0 = s0.Add(cvt8(v0.And(low4)).Mul(d1).Sub(dm1).Mul(ld8(xc[0:8])))
			s1 = s1.Add(cvt8(v1.And(low4)).Mul(d1).Sub(dm1).Mul(ld8(xc[8:16])))
			s0 = s0.Add(cvt8(v2.And(low4)).Mul(d1).Sub(dm1).Mul(ld8(xc[16:24])))
			s1 = s1.Add(cvt8(v3.And(low4)).Mul(d1).Sub(dm1).Mul(ld8(xc[24:32])))
			s0 = s0.Add(cvt8(srl8(v0, 4)).Mul(d2).Sub(dm2).Mul(ld8(xc[32:40])))
			s1 = s1.Add(cvt8(srl8(v1, 4)).Mul(d2).Sub(dm2).Mul(ld8(xc[40:48])))
			s0 = s0.Add(cvt8(srl8(v2, 4)).Mul(d2).Sub(dm2).Mul(ld8(xc[48:56])))
			s1 = s1.Add(cvt8(srl8(v3, 4)).Mul(d2).Sub(dm2).Mul(ld8(xc[56:64])))
		}
	}
	done256(acc, s0, s1)
}

// q5_KVec256: as q4_KVec256 with the fifth bit of each quant from qh.
//
//go:noinline
func q5_KVec256(acc *lanes, row []byte, x []float32, f *[16 * chunkElems / 256]uint32) {
	s0, s1 := load256(acc)
	low4 := archsimd.BroadcastUint32x8(0xF)
	bit4 := archsimd.BroadcastUint32x8(0x10)
	for k, i, o := 0, 0, 0; i+256 <= len(x); k, i, o = k+1, i+256, o+176 {
		b := (*[176]byte)(row[o : o+176])
		xb := (*[256]float32)(x[i : i+256])
		fk := (*[16]uint32)(f[16*k&(len(f)-1):])
		h0, h1 := zx8x2(b[16:32])
		h2, h3 := zx8x2(b[32:48])
		h0, h1, h2, h3 = h0.ShiftAllLeft(4), h1.ShiftAllLeft(4), h2.ShiftAllLeft(4), h3.ShiftAllLeft(4) // as in q5_KVec512
		fd, fm := facts8(fk[0:8]), facts8(fk[8:16])
		for c := 0; c < 4; c++ {
			d1, dm1 := lane8(fd, 2*c), lane8(fm, 2*c)
			d2, dm2 := lane8(fd, 2*c+1), lane8(fm, 2*c+1)
			qs := b[48+32*c : 80+32*c]
			xc := xb[64*c : 64*c+64]
			v0, v1 := zx8x2(qs[0:16])
			v2, v3 := zx8x2(qs[16:32])
			s0 = s0.Add(cvt8(v0.And(low4).Or(h0.And(bit4))).Mul(d1).Sub(dm1).Mul(ld8(xc[0:8])))
			s1 = s1.Add(cvt8(v1.And(low4).Or(h1.And(bit4))).Mul(d1).Sub(dm1).Mul(ld8(xc[8:16])))
			s0 = s0.Add(cvt8(v2.And(low4).Or(h2.And(bit4))).Mul(d1).Sub(dm1).Mul(ld8(xc[16:24])))
			s1 = s1.Add(cvt8(v3.And(low4).Or(h3.And(bit4))).Mul(d1).Sub(dm1).Mul(ld8(xc[24:32])))
			s0 = s0.Add(cvt8(srl8(v0, 4).Or(srl8(h0, 1).And(bit4))).Mul(d2).Sub(dm2).Mul(ld8(xc[32:40])))
			s1 = s1.Add(cvt8(srl8(v1, 4).Or(srl8(h1, 1).And(bit4))).Mul(d2).Sub(dm2).Mul(ld8(xc[40:48])))
			s0 = s0.Add(cvt8(srl8(v2, 4).Or(srl8(h2, 1).And(bit4))).Mul(d2).Sub(dm2).Mul(ld8(xc[48:56])))
			s1 = s1.Add(cvt8(srl8(v3, 4).Or(srl8(h3, 1).And(bit4))).Mul(d2).Sub(dm2).Mul(ld8(xc[56:64])))
			h0, h1, h2, h3 = srl8(h0, 2), srl8(h1, 2), srl8(h2, 2), srl8(h3, 2)
		}
	}
	done256(acc, s0, s1)
}

// q6_KVec256: (d·scale)·float32(q − 32) per element, as q6_KVec512.
//
//go:noinline
func q6_KVec256(acc *lanes, row []byte, x []float32, f *[16 * chunkElems / 256]uint32) {
	s0, s1 := load256(acc)
	low4 := archsimd.BroadcastUint32x8(0xF)
	bits45 := archsimd.BroadcastUint32x8(0x30)
	off := archsimd.BroadcastInt32x8(32)
	for k, i, o := 0, 0, 0; i+256 <= len(x); k, i, o = k+1, i+256, o+210 {
		b := (*[210]byte)(row[o : o+210])
		xb := (*[256]float32)(x[i : i+256])
		fk := (*[16]uint32)(f[16*k&(len(f)-1):])
		for n := 0; n < 2; n++ {
			ql := b[64*n : 64*n+64]
			qh := b[128+32*n : 160+32*n]
			xn := xb[128*n : 128*n+128]
			// Element 128n + 32q + 16h + l, in this order; a, b and c are
			// ql[16h+l], ql[32+16h+l] and qh[16h+l].
			for q := 0; q < 4; q++ {
				for h := 0; h < 2; h++ {
					var lq []byte
					if q&1 == 0 {
						lq = ql[16*h : 16*h+16]
					} else {
						lq = ql[32+16*h : 48+16*h]
					}
					a0, a1 := zx8x2(lq)
					c0, c1 := zx8x2(qh[16*h : 16*h+16])
					var q0, q1 u32x8
					switch q {
					case 0:
						q0, q1 = a0.And(low4).Or(c0.ShiftAllLeft(4).And(bits45)), a1.And(low4).Or(c1.ShiftAllLeft(4).And(bits45))
					case 1:
						q0, q1 = a0.And(low4).Or(c0.ShiftAllLeft(2).And(bits45)), a1.And(low4).Or(c1.ShiftAllLeft(2).And(bits45))
					case 2:
						q0, q1 = srl8(a0, 4).Or(c0.And(bits45)), srl8(a1, 4).Or(c1.And(bits45))
					default:
						q0, q1 = srl8(a0, 4).Or(srl8(c0, 2).And(bits45)), srl8(a1, 4).Or(srl8(c1, 2).And(bits45))
					}
					ds := lane8(facts8(fk[8*n:8*n+8]), 2*q+h)
					xc := xn[32*q+16*h : 32*q+16*h+16]
					s0 = s0.Add(q0.AsInt32x8().Sub(off).ConvertToFloat32().Mul(ds).Mul(ld8(xc[0:8])))
					s1 = s1.Add(q1.AsInt32x8().Sub(off).ConvertToFloat32().Mul(ds).Mul(ld8(xc[8:16])))
				}
			}
		}
	}
	done256(acc, s0, s1)
}
