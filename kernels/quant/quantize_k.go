package quant

import "math"

// Reference quantizers of the K-quant super-blocks (quantize_row_q*_K_ref in
// ggml-quants.c, no importance matrix). See quantize_search.go for the scale
// searches. Each encoder writes one whole block, every byte of it.

// kEncoder returns the block encoder of a 256-element type.
func kEncoder(t Type) func(x *[256]float32, y []byte) {
	switch t {
	case Q2_K:
		return encodeQ2_K
	case Q3_K:
		return encodeQ3_K
	case Q4_K:
		return encodeQ4_K
	case Q5_K:
		return encodeQ5_K
	case Q6_K:
		return encodeQ6_K
	}
	return nil
}

// pack2bit stores 2-bit quants L[0..256) into qs[64]: qs[32n + l] holds
// elements 128n + l + 32k at bits 2k (the Q2_K/Q3_K layout).
func pack2bit(L *[256]uint8, qs []byte) {
	for n := 0; n < 2; n++ {
		for l := 0; l < 32; l++ {
			j := 128*n + l
			qs[32*n+l] = L[j] | L[j+32]<<2 | L[j+64]<<4 | L[j+96]<<6
		}
	}
}

// encodeQ2_K: per 16 elements make_qkx2(nmax 3, w = |x|, rmin −0.5, rdelta 0.1,
// 15 steps, absolute error); 4-bit scales and mins relative to
// d = max_scale/15 and dmin = max_min/15; then every element is requantized
// with the stored values: q = clamp(nearest((x + dmin·mn)/(d·sc)), 0, 3).
func encodeQ2_K(x *[256]float32, y []byte) {
	var L [256]uint8
	var laux [16]uint8
	var w [16]float32
	var scales, mins [16]float32
	var maxScale, maxMin float32
	for j := 0; j < 16; j++ {
		xs := x[16*j : 16*j+16]
		for l, v := range xs {
			w[l] = abs32(v)
		}
		scales[j], mins[j] = makeQKX2(xs, w[:], L[16*j:16*j+16], laux[:], 3, -0.5, 0.1, 15, true)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	sc := (*[16]byte)(y[0:16])
	clear(sc[:])
	if maxScale > 0 {
		iscale := 15 / maxScale
		for j := range sc {
			sc[j] = uint8(nearestInt(iscale * scales[j]))
		}
		putF16(y, 80, maxScale/15)
	} else {
		putF16(y, 80, 0)
	}
	if maxMin > 0 {
		iscale := 15 / maxMin
		for j := range sc {
			sc[j] |= uint8(nearestInt(iscale*mins[j]) << 4)
		}
		putF16(y, 82, maxMin/15)
	} else {
		putF16(y, 82, 0)
	}
	dAll, dminAll := f16At(y, 80), f16At(y, 82)
	for j := 0; j < 16; j++ {
		d := dAll * float32(sc[j]&0xF)
		if d == 0 {
			continue
		}
		dm := float32(dminAll * float32(sc[j]>>4)) // float32(): no FMA with the add below (GOAMD64=v3)
		for i := 16 * j; i < 16*j+16; i++ {
			L[i] = uint8(max(0, min(3, nearestInt((x[i]+dm)/d))))
		}
	}
	pack2bit(&L, y[16:80])
}

// encodeQ3_K: per 16 elements make_q3 (nmax 4, weights x²); signed 6-bit
// scales relative to the sub-scale of largest magnitude ms: iscale = −32/ms,
// sc = clamp(nearest(iscale·s), −32, 31) + 32, d = 1/iscale; requantize
// q = clamp(nearest(x/(d·(sc−32))), −4, 3) + 4; bit 2 of q goes to hmask
// (byte e%32, bit e/32), the low 2 bits to qs.
func encodeQ3_K(x *[256]float32, y []byte) {
	var Ls [256]int8
	var scales [16]float32
	var maxScale, amax float32
	for j := 0; j < 16; j++ {
		scales[j] = makeQ3(x[16*j:16*j+16], Ls[16*j:16*j+16], 4)
		if a := abs32(scales[j]); a > amax {
			amax, maxScale = a, scales[j]
		}
	}
	sc := (*[12]byte)(y[96:108])
	clear(sc[:])
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := 0; j < 16; j++ {
			l := byte(max(-32, min(31, int(int8(nearestInt(iscale*scales[j]))))) + 32)
			if j < 8 {
				sc[j] = l & 0xF
			} else {
				sc[j-8] |= (l & 0xF) << 4
			}
			sc[8+j%4] |= (l >> 4) << (2 * (j / 4))
		}
		putF16(y, 108, 1/iscale)
	} else {
		putF16(y, 108, 0)
	}
	dAll := f16At(y, 108)
	for j := 0; j < 16; j++ {
		d := dAll * float32(q3Scale(j, sc))
		if d == 0 {
			continue
		}
		for i := 16 * j; i < 16*j+16; i++ {
			Ls[i] = int8(max(-4, min(3, nearestInt(x[i]/d))) + 4)
		}
	}
	hmask := (*[32]byte)(y[0:32])
	clear(hmask[:])
	var L [256]uint8
	for j, l := range Ls {
		if l > 3 {
			hmask[j%32] |= 1 << (j / 32)
			l -= 4
		}
		L[j] = uint8(l)
	}
	pack2bit(&L, y[32:96])
}

// packScalesK4 stores eight 6-bit scales and mins in the 12-byte Q4_K/Q5_K
// layout read by scaleMinK4.
func packScalesK4(ls, lm *[8]uint8, s []byte) {
	for j := 0; j < 8; j++ {
		if j < 4 {
			s[j] = ls[j]
			s[j+4] = lm[j]
		} else {
			s[j+4] = ls[j]&0xF | (lm[j]&0xF)<<4
			s[j-4] |= (ls[j] >> 4) << 6
			s[j] |= (lm[j] >> 4) << 6
		}
	}
}

// quantizeQxK is the shared part of the Q4_K and Q5_K reference quantizers:
// per 32 elements make_qkx2 with weights av + |x| (av = rms of the
// sub-block), 6-bit scales and mins relative to d = max_scale/63 and
// dmin = max_min/63 (stored at y[0:2], y[2:4], y[4:16]), then requantization
// of every element with the stored values: q = clamp(nearest((x +
// dmin·mn)/(d·sc)), 0, nmax). It returns the quants.
func quantizeQxK(x *[256]float32, y []byte, nmax int, rmin float32, nstep int) [256]uint8 {
	var L [256]uint8
	var laux [32]uint8
	var w [32]float32
	var scales, mins [8]float32
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		av := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range xs {
			w[l] = av + abs32(v)
		}
		scales[j], mins[j] = makeQKX2(xs, w[:], L[32*j:32*j+32], laux[:], nmax, rmin, 0.1, nstep, false)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	var ls, lm [8]uint8
	for j := 0; j < 8; j++ {
		ls[j] = min(63, uint8(nearestInt(invScale*scales[j])))
		lm[j] = min(63, uint8(nearestInt(invMin*mins[j])))
	}
	s := (*[12]byte)(y[4:16])
	clear(s[:])
	packScalesK4(&ls, &lm, s[:])
	putF16(y, 0, maxScale/63)
	putF16(y, 2, maxMin/63)
	dAll, dminAll := f16At(y, 0), f16At(y, 2)
	for j := 0; j < 8; j++ {
		sc, m := scaleMinK4(j, s)
		d := dAll * float32(sc)
		if d == 0 {
			continue
		}
		dm := float32(dminAll * float32(m)) // float32(): no FMA with the add below (GOAMD64=v3)
		for i := 32 * j; i < 32*j+32; i++ {
			L[i] = uint8(max(0, min(nmax, nearestInt((x[i]+dm)/d))))
		}
	}
	return L
}

// encodeQ4_K: quantizeQxK with nmax 15, rmin −1, rdelta 0.1, 20 steps; qs[128]
// at 16 holds, per 64 elements, the first 32 in the low nibbles and the next
// 32 in the high nibbles.
func encodeQ4_K(x *[256]float32, y []byte) {
	L := quantizeQxK(x, y, 15, -1, 20)
	qs := y[16:144]
	for c := 0; c < 4; c++ {
		for l := 0; l < 32; l++ {
			qs[32*c+l] = L[64*c+l] | L[64*c+32+l]<<4
		}
	}
}

// encodeQ5_K: quantizeQxK with nmax 31, rmin −0.5, rdelta 0.1, 15 steps; the
// low 4 bits are packed as Q4_K into qs[128] at 48 and bit 4 of element e goes
// to bit e/32 of qh[e%32] (qh at 16).
func encodeQ5_K(x *[256]float32, y []byte) {
	L := quantizeQxK(x, y, 31, -0.5, 15)
	qh := (*[32]byte)(y[16:48])
	clear(qh[:])
	qs := y[48:176]
	for c := 0; c < 4; c++ {
		for l := 0; l < 32; l++ {
			l1, l2 := L[64*c+l], L[64*c+32+l]
			qh[l] |= (l1>>4)<<(2*c) | (l2>>4)<<(2*c+1)
			qs[32*c+l] = l1&0xF | (l2&0xF)<<4
		}
	}
}

// encodeQ6_K: per 16 elements make_qx (nmax 32, weights x²); the sub-scale of
// largest magnitude ms gives iscale = −128/ms, d = 1/iscale and int8 scales
// min(127, nearest(iscale·s)); requantize q = clamp(nearest(x/(d·sc)), −32, 31)
// + 32. A block whose sub-scales are all below 1e−15 is all zero bytes.
func encodeQ6_K(x *[256]float32, y []byte) {
	var L [256]int8
	var scales [16]float32
	var maxScale, maxAbs float32
	for ib := 0; ib < 16; ib++ {
		scales[ib] = makeQX(x[16*ib:16*ib+16], L[16*ib:16*ib+16], 32)
		if a := abs32(scales[ib]); a > maxAbs {
			maxAbs, maxScale = a, scales[ib]
		}
	}
	if maxAbs < groupMaxEps {
		clear(y[:210])
		return
	}
	iscale := -128 / maxScale
	putF16(y, 208, 1/iscale)
	sc := (*[16]byte)(y[192:208])
	for ib := range sc {
		sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	dAll := f16At(y, 208)
	for j := 0; j < 16; j++ {
		d := dAll * float32(int8(sc[j]))
		if d == 0 {
			continue
		}
		for i := 16 * j; i < 16*j+16; i++ {
			L[i] = int8(max(-32, min(31, nearestInt(x[i]/d))) + 32)
		}
	}
	for n := 0; n < 2; n++ {
		ql := y[64*n : 64*n+64]
		qh := y[128+32*n : 160+32*n]
		for l := 0; l < 32; l++ {
			j := 128*n + l
			q1, q2, q3, q4 := uint8(L[j]), uint8(L[j+32]), uint8(L[j+64]), uint8(L[j+96])
			ql[l] = q1&0xF | (q3&0xF)<<4
			ql[l+32] = q2&0xF | (q4&0xF)<<4
			qh[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}
