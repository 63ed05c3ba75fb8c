//go:build goexperiment.simd && amd64

package quant

import (
	"encoding/binary"
	"math"
	"math/bits"
	"simd/archsimd"
)

// Vector kernels of the canonical dot product (see dot.go), built with
// GOEXPERIMENT=simd. With AVX-512 the 16 lanes are one Float32x16; with AVX2
// they are two Float32x8, lanes 0-7 and 8-15. Both return exactly the bits
// of dotRowPortable and dotF32Portable (dot_portable.go), which they fall
// back to on CPUs without AVX2:
//
//   - each weight is the float32 value of the scalar decoder. The per-block
//     factors (d, d·sc, dmin·m, …) are the same float32 products of the same
//     operands, and the per-element operations are vector Mul/Sub/Add in the
//     decoder's order (never MulAdd). The AVX-512 kernels of the 16- and
//     32-value codes (Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, IQ4_NL, IQ4_XS)
//     build each (sub-)block's table of possible weights with those
//     operations once and look every quant up in it (VPERMPS; for 32
//     values, VPERMI2PS or two VPERMPS blended under the fifth bits);
//   - the product with x and the sum into the lane accumulator are separate
//     Mul and Add, element i of the row into lane i mod 16, in order;
//   - the lanes are stored and reduced by lanes.sum, the portable tree.
//
// No legacy SSE inside vector code. Go compiles scalar float32 arithmetic,
// and the spills of 128-bit and scalar float values, to legacy (non-VEX)
// SSE instructions, and on current Intel cores (markedly so under
// virtualisation) every such instruction executed while the upper halves of
// the vector registers are dirty costs hundreds of cycles: one scalar
// multiply per block made these kernels 50× slower. So:
//
//   - the vector loops live in out-of-line functions (*Vec512, *Vec256) that
//     load the lanes from memory, store them back and end with VZEROUPPER
//     (archsimd.ClearAVXUpperBits, ordered after the store); all scalar
//     float work happens outside them, in a clean state;
//   - the AVX-512 kernels compute the per-block factors without scalar
//     float code: halves are converted exactly with integer operations
//     (f16Bits) and broadcast from a general register, products such as
//     d·sc are vector multiplies (the 6-bit scales of Q4_K/Q5_K unpacked
//     with permutes and shifts), and a factor is spread over the lanes with
//     VPERMPS;
//   - the AVX2 kernels process a row in chunks: a scalar phase (prep*, or a
//     scalar decode into a buffer) writes the chunk's factors, as float32
//     bits, to a stack array, then the vector phase runs the chunk;
//   - constant shifts right use the arithmetic form (srl16, srl8), the only
//     one compiled to an immediate.
//
// dot_simd_amd64_test.go checks with objdump, where available, that the
// vector functions contain no legacy SSE instruction and call nothing.
//
// (Go 1.26's asynchronous preemption under GOEXPERIMENT=simd restores the
// full ZMM state, which leaves the upper halves dirty for the interrupted
// scalar code until the next VZEROUPPER: pure scalar loops elsewhere in a
// program can slow down markedly after a preemption, as GODEBUG=
// asyncpreemptoff=1 shows. These kernels clean the state on every return.)

type (
	f32x16 = archsimd.Float32x16
	f32x8  = archsimd.Float32x8
	u32x16 = archsimd.Uint32x16
	u32x8  = archsimd.Uint32x8
)

// The instruction sets the kernels can use; impl is this CPU's, fixed at
// init.
const (
	implPortable = iota
	implAVX2
	implAVX512
)

var impl = pickImpl()

func pickImpl() int {
	switch {
	case archsimd.X86.AVX512():
		return implAVX512
	case archsimd.X86.AVX2():
		return implAVX2
	}
	return implPortable
}

func dotRow(t Type, row []byte, x []float32) float32 {
	switch impl {
	case implAVX512:
		return dotRow512(t, row, x)
	case implAVX2:
		return dotRow256(t, row, x)
	}
	return dotRowPortable(t, row, x)
}

func dotF32Batch(w, x []float32, out []float32, stride int) {
	if impl != implAVX512 {
		dotF32BatchEach(w, x, out, stride)
		return
	}
	n := len(w)
	rows := len(x) / n
	m := n &^ 15
	t := 0
	for ; t+4 <= rows; t += 4 {
		var acc [4]lanes
		x0, x1, x2, x3 := x[t*n:(t+1)*n], x[(t+1)*n:(t+2)*n], x[(t+2)*n:(t+3)*n], x[(t+3)*n:(t+4)*n]
		f32x4Vec512(&acc, w[:m], x0[:m], x1[:m], x2[:m], x3[:m])
		for r, xr := range [4][]float32{x0, x1, x2, x3} {
			for i := m; i < n; i++ {
				acc[r][i-m] += float32(w[i] * xr[i]) // unfused, as dotF32SIMD
			}
			out[(t+r)*stride] = acc[r].sum()
		}
	}
	for ; t < rows; t++ {
		out[t*stride] = dotF32SIMD(true, w, x[t*n:(t+1)*n])
	}
}

func dotF32Batch4(w *[4][]float32, x []float32, out []float32, stride int) {
	if impl != implAVX512 {
		dotF32Batch4Each(w, x, out, stride)
		return
	}
	n := len(w[0])
	rows := len(x) / n
	m := n &^ 15
	t := 0
	for ; t+4 <= rows; t += 4 {
		var acc [16]lanes // acc[4*r+k]: row t+r, vector k
		xs := [4][]float32{x[t*n : (t+1)*n], x[(t+1)*n : (t+2)*n], x[(t+2)*n : (t+3)*n], x[(t+3)*n : (t+4)*n]}
		f32x4x4Vec512(&acc, w, &xs, m)
		for r, xr := range xs {
			for k, wk := range w {
				a := &acc[4*r+k]
				for i := m; i < n; i++ {
					a[i-m] += float32(wk[i] * xr[i]) // unfused, as dotF32SIMD
				}
				out[(t+r)*stride+k] = a.sum()
			}
		}
	}
	if t < rows {
		dotF32Batch4Each(w, x[t*n:], out[t*stride:], stride)
	}
}

func addScaledF32(dst []float32, a float32, x []float32) {
	n := len(dst) &^ 15
	if impl == implAVX512 && n > 0 {
		axpyVec512(dst[:n], a, x[:n])
		addScaledF32Portable(dst[n:], a, x[n:])
		return
	}
	addScaledF32Portable(dst, a, x)
}

func dotF32(a, b []float32) float32 {
	switch impl {
	case implAVX512:
		return dotF32SIMD(true, a, b)
	case implAVX2:
		return dotF32SIMD(false, a, b)
	}
	return dotF32Portable(a, b)
}

// dotF32SIMD is DotF32 with AVX-512 (wide) or AVX2 kernels.
func dotF32SIMD(wide bool, a, b []float32) float32 {
	var acc lanes
	n := len(a) &^ 15
	b = b[:len(a)]
	if wide {
		f32Vec512(&acc, a[:n], b[:n])
	} else {
		f32Vec256(&acc, a[:n], b[:n])
	}
	for i := n; i < len(a); i++ {
		acc[i-n] += float32(a[i] * b[i])
	}
	return acc.sum()
}

// dotRowPlain handles the F32, F16 and BF16 rows: whole 16-lane chunks in
// vector code, then the rest in scalar code.
func dotRowPlain(wide bool, t Type, row []byte, x []float32) float32 {
	var acc lanes
	n := len(x) &^ 15
	if wide {
		plainVec512(t, &acc, row, x[:n])
	} else {
		plainVec256(t, &acc, row, x[:n])
	}
	for i := n; i < len(x); i++ {
		acc[i-n] += float32(plainAt(t, row, i) * x[i])
	}
	return acc.sum()
}

// decodedChunk is the most elements dotDecoded decodes at a time.
const decodedChunk = 2048

// dotDecoded decodes the row a chunk at a time with the scalar decoders
// into a stack buffer and dots each chunk with the vector kernel.
func dotDecoded(wide bool, t Type, row []byte, x []float32) float32 {
	var acc lanes
	var buf [decodedChunk]float32
	be, bb := t.BlockElems(), t.BlockBytes()
	for i, o := 0, 0; i+be <= len(x); {
		m := min(len(buf), len(x)-i) / be * be
		r := row[o : o+m/be*bb]
		DequantizeRow(t, r, buf[:m])
		if wide {
			f32Vec512(&acc, buf[:m], x[i:i+m])
		} else {
			f32Vec256(&acc, buf[:m], x[i:i+m])
		}
		i, o = i+m, o+len(r)
	}
	return acc.sum()
}

// dotRow512 is DotRow with AVX-512.
func dotRow512(t Type, row []byte, x []float32) float32 {
	var acc lanes
	switch t {
	case F32, F16, BF16:
		return dotRowPlain(true, t, row, x)
	case Q8_0:
		q8_0Vec512(&acc, row, x)
	case Q5_0, Q5_1:
		q5Vec512(t, &acc, row, x)
	case Q4_0, Q4_1, IQ4_NL:
		q4Vec512(t, &acc, row, x)
	case Q4_K:
		q4_KVec512(&acc, row, x)
	case Q5_K:
		q5_KVec512(&acc, row, x)
	case Q6_K:
		q6_KVec512(&acc, row, x)
	case IQ4_XS:
		iq4_XSVec512(&acc, row, x)
	default: // Q2_K, Q3_K
		return dotDecoded(true, t, row, x)
	}
	return acc.sum()
}

// chunkElems is the most elements one scalar phase of the AVX2 kernels
// prepares factors for: a whole row for the widths of the smaller Gemma 3
// models.
const chunkElems = 4096

// Read-only value tables, loaded into vectors (with nibValues[k] = k of
// dot_portable.go): iota16F[k] = k + 16, iotaM8F[k] = k − 8, iotaM16F[k] = k − 16, laneU[k] = k;
// bcastIdx[g] is the permutation that broadcasts lane g.
var (
	iota16F  = [16]float32{16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}
	iotaM8F  = [16]float32{-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7}
	iotaM16F = [16]float32{-16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1}
	laneU    = [32]uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}
	bcastIdx = func() (t [16][16]uint32) {
		for g := range t {
			for l := range t[g] {
				t[g][l] = uint32(g)
			}
		}
		return
	}()
)

// Tables of the vector unpacking of the 12 scale bytes s = b[4:16] of a
// Q4_K/Q5_K block b (scaleMinK4) into lane 2j = sc_j and lane 2j+1 = mn_j:
// lane = ((b[selA] >> shA) & maskA) | (((b[selB] >> 6) << 4) & maskB), where
// b[4+j] = s[j]; built from scaleMinK4's formulas by k4Tables.
var k4SelA, k4SelB, k4ShA, k4MaskA, k4MaskB = k4Tables()

func k4Tables() (selA, selB, shA, maskA, maskB [16]uint32) {
	for j := uint32(0); j < 8; j++ {
		sc, mn := 2*j, 2*j+1
		if j < 4 { // sc = s[j] & 63, mn = s[j+4] & 63
			selA[sc], maskA[sc] = 4+j, 63
			selA[mn], maskA[mn] = 8+j, 63
			selB[sc], selB[mn] = 4, 4 // unused: maskB = 0
			continue
		}
		// sc = s[j+4]&0xF | (s[j−4]>>6)<<4, mn = s[j+4]>>4 | (s[j]>>6)<<4
		selA[sc], maskA[sc], selB[sc], maskB[sc] = 8+j, 0xF, j, 0x30
		selA[mn], shA[mn], maskA[mn], selB[mn], maskB[mn] = 8+j, 4, 0xF, 4+j, 0x30
	}
	return
}

// nib4Shift and nib2Shift select the 4-bit and 2-bit field ib of a word in
// lane ib.
var (
	nib4Shift = [16]uint32{0, 4, 8, 12, 16, 20, 24, 28}
	nib2Shift = [16]uint32{0, 2, 4, 6, 8, 10, 12, 14}
)

// ------------------------------------------------------------------ AVX-512

// ld16 loads x[0:16].
func ld16(x []float32) f32x16 { return archsimd.LoadFloat32x16((*[16]float32)(x[:16])) }

// ldu16 loads a table of 16 uint32s.
func ldu16(t *[16]uint32) u32x16 { return archsimd.LoadUint32x16(t) }

// zx16 loads the 16 bytes b[0:16] zero-extended to 32-bit lanes.
func zx16(b []byte) u32x16 { return archsimd.LoadUint8x16((*[16]byte)(b[:16])).ExtendToUint32() }

// bcu16 broadcasts u (a general register) to 16 lanes.
func bcu16(u uint32) u32x16 { return archsimd.BroadcastUint32x16(u) }

// srl16 shifts lanes below 2³¹ right by a constant c. It uses the arithmetic
// shift, which equals the logical one there, because only it is compiled to
// the immediate form: the logical shift loads its count with a legacy-SSE
// MOVQ.
func srl16(v u32x16, c uint64) u32x16 { return v.AsInt32x16().ShiftAllRight(c).AsUint32x16() }

// lane16 broadcasts lane g of v.
func lane16(v f32x16, g int) f32x16 {
	return v.Permute(archsimd.LoadUint32x16(&bcastIdx[g&15]))
}

// done512 stores the lanes and leaves the vector state clean.
func done512(acc *lanes, a f32x16) {
	a.Store((*[16]float32)(acc))
	archsimd.ClearAVXUpperBits()
}

// f32Vec512 adds a[i]·b[i] to the lanes (len(a) a multiple of 16).
//
//go:noinline
func f32Vec512(acc *lanes, a, b []float32) {
	s := archsimd.LoadFloat32x16((*[16]float32)(acc))
	b = b[:len(a)]
	for i := 0; i+16 <= len(a); i += 16 {
		s = s.Add(ld16(a[i:]).Mul(ld16(b[i:])))
	}
	done512(acc, s)
}

// f32x4Vec512 adds w[i]·xr[i] to the lanes acc[r] of four rows at once
// (len(w) a multiple of 16): each row's lanes see exactly the operations of
// f32Vec512, and each load of w serves all four.
//
//go:noinline
func f32x4Vec512(acc *[4]lanes, w, x0, x1, x2, x3 []float32) {
	s0, s1 := archsimd.LoadFloat32x16((*[16]float32)(&acc[0])), archsimd.LoadFloat32x16((*[16]float32)(&acc[1]))
	s2, s3 := archsimd.LoadFloat32x16((*[16]float32)(&acc[2])), archsimd.LoadFloat32x16((*[16]float32)(&acc[3]))
	n := len(w)
	x0, x1, x2, x3 = x0[:n], x1[:n], x2[:n], x3[:n]
	for i := 0; i+16 <= n; i += 16 {
		wv := ld16(w[i:])
		s0 = s0.Add(wv.Mul(ld16(x0[i:])))
		s1 = s1.Add(wv.Mul(ld16(x1[i:])))
		s2 = s2.Add(wv.Mul(ld16(x2[i:])))
		s3 = s3.Add(wv.Mul(ld16(x3[i:])))
	}
	s0.Store((*[16]float32)(&acc[0]))
	s1.Store((*[16]float32)(&acc[1]))
	s2.Store((*[16]float32)(&acc[2]))
	done512(&acc[3], s3)
}

// f32x4x4Vec512 adds w[k][i]·x[r][i] to acc[4r+k] for i < m (a multiple of
// 16): a tile of four vectors by four rows, each lane seeing exactly the
// operations of f32Vec512.
//
//go:noinline
func f32x4x4Vec512(acc *[16]lanes, w *[4][]float32, x *[4][]float32, m int) {
	// Sixteen named accumulators: an array of vectors would be zeroed with
	// legacy-SSE stores.
	s0 := archsimd.LoadFloat32x16((*[16]float32)(&acc[0]))
	s1 := archsimd.LoadFloat32x16((*[16]float32)(&acc[1]))
	s2 := archsimd.LoadFloat32x16((*[16]float32)(&acc[2]))
	s3 := archsimd.LoadFloat32x16((*[16]float32)(&acc[3]))
	s4 := archsimd.LoadFloat32x16((*[16]float32)(&acc[4]))
	s5 := archsimd.LoadFloat32x16((*[16]float32)(&acc[5]))
	s6 := archsimd.LoadFloat32x16((*[16]float32)(&acc[6]))
	s7 := archsimd.LoadFloat32x16((*[16]float32)(&acc[7]))
	s8 := archsimd.LoadFloat32x16((*[16]float32)(&acc[8]))
	s9 := archsimd.LoadFloat32x16((*[16]float32)(&acc[9]))
	s10 := archsimd.LoadFloat32x16((*[16]float32)(&acc[10]))
	s11 := archsimd.LoadFloat32x16((*[16]float32)(&acc[11]))
	s12 := archsimd.LoadFloat32x16((*[16]float32)(&acc[12]))
	s13 := archsimd.LoadFloat32x16((*[16]float32)(&acc[13]))
	s14 := archsimd.LoadFloat32x16((*[16]float32)(&acc[14]))
	s15 := archsimd.LoadFloat32x16((*[16]float32)(&acc[15]))
	w0, w1, w2, w3 := w[0][:m], w[1][:m], w[2][:m], w[3][:m]
	x0, x1, x2, x3 := x[0][:m], x[1][:m], x[2][:m], x[3][:m]
	for i := 0; i+16 <= m; i += 16 {
		a0, a1, a2, a3 := ld16(w0[i:]), ld16(w1[i:]), ld16(w2[i:]), ld16(w3[i:])
		var b f32x16
		b = ld16(x0[i:])
		s0, s1, s2, s3 = s0.Add(a0.Mul(b)), s1.Add(a1.Mul(b)), s2.Add(a2.Mul(b)), s3.Add(a3.Mul(b))
		b = ld16(x1[i:])
		s4, s5, s6, s7 = s4.Add(a0.Mul(b)), s5.Add(a1.Mul(b)), s6.Add(a2.Mul(b)), s7.Add(a3.Mul(b))
		b = ld16(x2[i:])
		s8, s9, s10, s11 = s8.Add(a0.Mul(b)), s9.Add(a1.Mul(b)), s10.Add(a2.Mul(b)), s11.Add(a3.Mul(b))
		b = ld16(x3[i:])
		s12, s13, s14, s15 = s12.Add(a0.Mul(b)), s13.Add(a1.Mul(b)), s14.Add(a2.Mul(b)), s15.Add(a3.Mul(b))
	}
	s0.Store((*[16]float32)(&acc[0]))
	s1.Store((*[16]float32)(&acc[1]))
	s2.Store((*[16]float32)(&acc[2]))
	s3.Store((*[16]float32)(&acc[3]))
	s4.Store((*[16]float32)(&acc[4]))
	s5.Store((*[16]float32)(&acc[5]))
	s6.Store((*[16]float32)(&acc[6]))
	s7.Store((*[16]float32)(&acc[7]))
	s8.Store((*[16]float32)(&acc[8]))
	s9.Store((*[16]float32)(&acc[9]))
	s10.Store((*[16]float32)(&acc[10]))
	s11.Store((*[16]float32)(&acc[11]))
	s12.Store((*[16]float32)(&acc[12]))
	s13.Store((*[16]float32)(&acc[13]))
	s14.Store((*[16]float32)(&acc[14]))
	done512(&acc[15], s15)
}

// axpyVec512 adds round32(a·x[i]) to dst[i] (len(dst) a multiple of 16).
//
//go:noinline
func axpyVec512(dst []float32, a float32, x []float32) {
	av := archsimd.BroadcastFloat32x16(a)
	x = x[:len(dst)]
	for i := 0; i+16 <= len(dst); i += 16 {
		d := (*[16]float32)(dst[i : i+16])
		archsimd.LoadFloat32x16(d).Add(av.Mul(ld16(x[i:]))).Store(d)
	}
	archsimd.ClearAVXUpperBits()
}

// plainVec512 adds the F32, F16 or BF16 row times x (len(x) a multiple of
// 16).
//
//go:noinline
func plainVec512(t Type, acc *lanes, row []byte, x []float32) {
	s := archsimd.LoadFloat32x16((*[16]float32)(acc))
	switch t {
	case F32:
		for i := 0; i+16 <= len(x); i += 16 {
			w := archsimd.LoadUint8x64((*[64]byte)(row[4*i : 4*i+64])).AsFloat32x16()
			s = s.Add(w.Mul(ld16(x[i:])))
		}
	case BF16:
		for i := 0; i+16 <= len(x); i += 16 {
			h := archsimd.LoadUint8x32((*[32]byte)(row[2*i : 2*i+32])).AsUint16x16().ExtendToUint32()
			s = s.Add(h.ShiftAllLeft(16).AsFloat32x16().Mul(ld16(x[i:])))
		}
	case F16:
		// Exactly as F16ToF32: normal halves by moving the fields and
		// rebiasing, subnormal ones as float32(em)·2⁻²⁴, Inf and NaN by
		// setting the float32 exponent.
		mag, rebias, infnan := bcu16(0x7fff), bcu16(112<<23), bcu16(0x7f800000)
		minNormal, minSpecial := bcu16(0x0400), bcu16(0x7c00)
		tiny := bcu16(0x33800000).AsFloat32x16()
		for i := 0; i+16 <= len(x); i += 16 {
			h := archsimd.LoadUint8x32((*[32]byte)(row[2*i : 2*i+32])).AsUint16x16().ExtendToUint32()
			em := h.And(mag)
			sign := h.Xor(em).ShiftAllLeft(16)
			e13 := em.ShiftAllLeft(13)
			sub := em.AsInt32x16().ConvertToFloat32().Mul(tiny).AsUint32x16()
			v := e13.Add(rebias).Merge(sub, em.GreaterEqual(minNormal))
			v = e13.Or(infnan).Merge(v, em.GreaterEqual(minSpecial))
			s = s.Add(v.Or(sign).AsFloat32x16().Mul(ld16(x[i:])))
		}
	}
	done512(acc, s)
}

// f16Bits is math.Float32bits(F16ToF32(h)) computed with integer operations
// only (F16ToF32 multiplies for subnormals, exactly, so the bits agree), for
// the per-block scales of the vector kernels: they travel in a general
// register and are broadcast from it. It must stay inlinable: a call would
// make the vector kernels spill every vector register around it.
func f16Bits(h uint16) uint32 {
	sign := uint32(h&0x8000) << 16
	em := uint32(h & 0x7fff)
	switch {
	case em-0x0400 < 0x7c00-0x0400: // normal
		return sign | (em+112<<10)<<13
	case em >= 0x7c00: // Inf, NaN
		return sign | 0x7f800000 | (em&0x3ff)<<13
	case em == 0:
		return sign
	}
	// Subnormal em·2⁻²⁴ = 2^(p−24)·(em/2^p), p the index of em's top bit.
	p := uint32(bits.Len32(em)) - 1
	return sign | (p+103)<<23 | (em<<(23-p))&0x7fffff
}

// bch16 broadcasts the half at b[0:2] converted to float32.
func bch16(b []byte) f32x16 {
	return bcu16(f16Bits(binary.LittleEndian.Uint16(b))).AsFloat32x16()
}

// q8_0Vec512: y[k] = float32(qs[k])·d.
//
//go:noinline
func q8_0Vec512(acc *lanes, row []byte, x []float32) {
	s := archsimd.LoadFloat32x16((*[16]float32)(acc))
	for i, o := 0, 0; i+32 <= len(x); i, o = i+32, o+34 {
		b := (*[34]byte)(row[o : o+34])
		xb := (*[32]float32)(x[i : i+32])
		d := bch16(b[0:2])
		q0 := archsimd.LoadUint8x16((*[16]byte)(b[2:18])).AsInt8x16().ExtendToInt32().ConvertToFloat32()
		q1 := archsimd.LoadUint8x16((*[16]byte)(b[18:34])).AsInt8x16().ExtendToInt32().ConvertToFloat32()
		s = s.Add(q0.Mul(d).Mul(ld16(xb[0:16])))
		s = s.Add(q1.Mul(d).Mul(ld16(xb[16:32])))
	}
	done512(acc, s)
}

// q4Vec512 handles the blocks of 16 low and 16 high nibbles with a 16-entry
// table: Q4_0 (table[q] = float32(q−8)·d), Q4_1 (float32(q·d) + m) and
// IQ4_NL (kvalues[q]·d). The block sizes are constants in each loop.
//
//go:noinline
func q4Vec512(t Type, acc *lanes, row []byte, x []float32) {
	s := archsimd.LoadFloat32x16((*[16]float32)(acc))
	if t == Q4_1 {
		base := archsimd.LoadFloat32x16(&nibValues)
		for i, o := 0, 0; i+32 <= len(x); i, o = i+32, o+20 {
			b := (*[20]byte)(row[o : o+20])
			xb := (*[32]float32)(x[i : i+32])
			tab := base.Mul(bch16(b[0:2])).Add(bch16(b[2:4]))
			v := zx16(b[4:20])
			s = s.Add(tab.Permute(v).Mul(ld16(xb[0:16]))) // VPERMPS reads the low 4 bits
			s = s.Add(tab.Permute(srl16(v, 4)).Mul(ld16(xb[16:32])))
		}
	} else {
		base := archsimd.LoadFloat32x16(&iq4nlValues)
		if t == Q4_0 {
			base = archsimd.LoadFloat32x16(&iotaM8F)
		}
		for i, o := 0, 0; i+32 <= len(x); i, o = i+32, o+18 {
			b := (*[18]byte)(row[o : o+18])
			xb := (*[32]float32)(x[i : i+32])
			tab := base.Mul(bch16(b[0:2]))
			v := zx16(b[2:18])
			s = s.Add(tab.Permute(v).Mul(ld16(xb[0:16])))
			s = s.Add(tab.Permute(srl16(v, 4)).Mul(ld16(xb[16:32])))
		}
	}
	done512(acc, s)
}

// q5Vec512 handles Q5_0 (value float32(q−16)·d) and Q5_1 (float32(q·d) + m)
// with two 16-entry tables, quants 0-15 and 16-31: the fifth bit of element
// j is bit j of the 32-bit qh, so the low and high 16 bits of qh are the
// masks (KMOVW) that pick, lane by lane, the second table.
//
//go:noinline
func q5Vec512(t Type, acc *lanes, row []byte, x []float32) {
	s := archsimd.LoadFloat32x16((*[16]float32)(acc))
	if t == Q5_0 {
		baseLo, baseHi := archsimd.LoadFloat32x16(&iotaM16F), archsimd.LoadFloat32x16(&nibValues)
		for i, o := 0, 0; i+32 <= len(x); i, o = i+32, o+22 {
			b := (*[22]byte)(row[o : o+22])
			xb := (*[32]float32)(x[i : i+32])
			d := bch16(b[0:2])
			s = q5Block512(s, baseLo.Mul(d), baseHi.Mul(d), binary.LittleEndian.Uint32(b[2:6]), (*[16]byte)(b[6:22]), xb)
		}
	} else {
		baseLo, baseHi := archsimd.LoadFloat32x16(&nibValues), archsimd.LoadFloat32x16(&iota16F)
		for i, o := 0, 0; i+32 <= len(x); i, o = i+32, o+24 {
			b := (*[24]byte)(row[o : o+24])
			xb := (*[32]float32)(x[i : i+32])
			d, m := bch16(b[0:2]), bch16(b[2:4])
			s = q5Block512(s, baseLo.Mul(d).Add(m), baseHi.Mul(d).Add(m), binary.LittleEndian.Uint32(b[4:8]), (*[16]byte)(b[8:24]), xb)
		}
	}
	done512(acc, s)
}

// q5Block512 adds one Q5_0/Q5_1 block with tables tLo (quants 0-15), tHi
// (16-31), fifth bits qh and nibbles qs to the lanes s.
func q5Block512(s, tLo, tHi f32x16, qh uint32, qs *[16]byte, xb *[32]float32) f32x16 {
	v0 := archsimd.LoadUint8x16(qs).ExtendToUint32() // VPERMPS reads the low 4 bits: the low nibbles
	v1 := srl16(v0, 4)
	w0 := tHi.Permute(v0).Merge(tLo.Permute(v0), archsimd.Mask32x16FromBits(uint16(qh)))
	w1 := tHi.Permute(v1).Merge(tLo.Permute(v1), archsimd.Mask32x16FromBits(uint16(qh>>16)))
	s = s.Add(w0.Mul(ld16(xb[0:16])))
	return s.Add(w1.Mul(ld16(xb[16:32])))
}

// k45Factors returns, for the Q4_K/Q5_K block b, the vector of d·sc_j (lane
// 2j) and dmin·mn_j (lane 2j+1), the decoders' d1, dm1, … of sub-block j:
// the halves d and dmin are converted exactly, the 6-bit scales unpacked as
// scaleMinK4 does and converted exactly, and each lane is one float32
// product, as in the scalar code. dm is dminD of the block, selA … maskB
// the k4* tables.
func k45Factors(b *[16]byte, dm f32x16, selA, selB, shA, maskA, maskB u32x16) f32x16 {
	bv := archsimd.LoadUint8x16(b).ExtendToUint32() // lane k = b[k]
	a, c := bv.Permute(selA), bv.Permute(selB)
	sc := a.ShiftRight(shA).And(maskA).Or(srl16(c, 6).ShiftAllLeft(4).And(maskB))
	return sc.AsInt32x16().ConvertToFloat32().Mul(dm)
}

// dminD returns d, dmin, d, dmin, … from the halves d = b[0:2], dmin =
// b[2:4] of a Q4_K/Q5_K block.
func dminD(b []byte) f32x16 {
	return archsimd.BroadcastUint64x8(uint64(f16Bits(binary.LittleEndian.Uint16(b[2:4])))<<32 |
		uint64(f16Bits(binary.LittleEndian.Uint16(b[0:2])))).AsFloat32x16()
}

// q4_KVec512: per 32-element sub-block j, the table float32(d_j·q) − m_j.
//
//go:noinline
func q4_KVec512(acc *lanes, row []byte, x []float32) {
	s := archsimd.LoadFloat32x16((*[16]float32)(acc))
	nib := archsimd.LoadFloat32x16(&nibValues)
	selA, selB, shA := ldu16(&k4SelA), ldu16(&k4SelB), ldu16(&k4ShA)
	maskA, maskB := ldu16(&k4MaskA), ldu16(&k4MaskB)
	for i, o := 0, 0; i+256 <= len(x); i, o = i+256, o+144 {
		b := (*[144]byte)(row[o : o+144])
		xb := (*[256]float32)(x[i : i+256])
		fv := k45Factors((*[16]byte)(b[0:16]), dminD(b[0:4]), selA, selB, shA, maskA, maskB)
		for c := 0; c < 4; c++ {
			t1 := nib.Mul(lane16(fv, 4*c)).Sub(lane16(fv, 4*c+1))   // sub-block 2c
			t2 := nib.Mul(lane16(fv, 4*c+2)).Sub(lane16(fv, 4*c+3)) // sub-block 2c+1
			qs := b[16+32*c : 48+32*c]
			xc := xb[64*c : 64*c+64]
			v0, v1 := zx16(qs[0:16]), zx16(qs[16:32])
			s = s.Add(t1.Permute(v0).Mul(ld16(xc[0:16])))
			s = s.Add(t1.Permute(v1).Mul(ld16(xc[16:32])))
			s = s.Add(t2.Permute(srl16(v0, 4)).Mul(ld16(xc[32:48])))
			s = s.Add(t2.Permute(srl16(v1, 4)).Mul(ld16(xc[48:64])))
		}
	}
	done512(acc, s)
}

// q5_KVec512: as Q4_K with 32-entry tables; the fifth bit of element l of
// sub-block j is bit j of qh[l].
//
//go:noinline
func q5_KVec512(acc *lanes, row []byte, x []float32) {
	s := archsimd.LoadFloat32x16((*[16]float32)(acc))
	nibLo, nibHi := archsimd.LoadFloat32x16(&nibValues), archsimd.LoadFloat32x16(&iota16F)
	selA, selB, shA := ldu16(&k4SelA), ldu16(&k4SelB), ldu16(&k4ShA)
	maskA, maskB := ldu16(&k4MaskA), ldu16(&k4MaskB)
	low4, bit4 := bcu16(0xF), bcu16(0x10)
	for i, o := 0, 0; i+256 <= len(x); i, o = i+256, o+176 {
		b := (*[176]byte)(row[o : o+176])
		xb := (*[256]float32)(x[i : i+256])
		fv := k45Factors((*[16]byte)(b[0:16]), dminD(b[0:4]), selA, selB, shA, maskA, maskB)
		// h0, h1 = qh[0:16], qh[16:32] << 4 − 2c: bit 2c of qh at bit 4, bit
		// 2c+1 at bit 5.
		h0, h1 := zx16(b[16:32]).ShiftAllLeft(4), zx16(b[32:48]).ShiftAllLeft(4)
		for c := 0; c < 4; c++ {
			d1, dm1 := lane16(fv, 4*c), lane16(fv, 4*c+1)
			d2, dm2 := lane16(fv, 4*c+2), lane16(fv, 4*c+3)
			t1lo, t1hi := nibLo.Mul(d1).Sub(dm1), nibHi.Mul(d1).Sub(dm1)
			t2lo, t2hi := nibLo.Mul(d2).Sub(dm2), nibHi.Mul(d2).Sub(dm2)
			qs := b[48+32*c : 80+32*c]
			xc := xb[64*c : 64*c+64]
			v0, v1 := zx16(qs[0:16]), zx16(qs[16:32])
			i0 := v0.And(low4).Or(h0.And(bit4))
			i1 := v1.And(low4).Or(h1.And(bit4))
			i2 := srl16(v0, 4).Or(srl16(h0, 1).And(bit4))
			i3 := srl16(v1, 4).Or(srl16(h1, 1).And(bit4))
			h0, h1 = srl16(h0, 2), srl16(h1, 2)
			s = s.Add(t1lo.ConcatPermute(t1hi, i0).Mul(ld16(xc[0:16])))
			s = s.Add(t1lo.ConcatPermute(t1hi, i1).Mul(ld16(xc[16:32])))
			s = s.Add(t2lo.ConcatPermute(t2hi, i2).Mul(ld16(xc[32:48])))
			s = s.Add(t2lo.ConcatPermute(t2hi, i3).Mul(ld16(xc[48:64])))
		}
	}
	done512(acc, s)
}

// q6_KVec512: element 128n + 32k + l has the 6-bit q of decodeQ6_K and value
// (d·scales[8n + 2k + l/16])·float32(q − 32); the 16 products d·scale are
// one vector.
//
//go:noinline
func q6_KVec512(acc *lanes, row []byte, x []float32) {
	s := archsimd.LoadFloat32x16((*[16]float32)(acc))
	low4, bits45 := bcu16(0xF), bcu16(0x30)
	off := archsimd.BroadcastInt32x16(32)
	for i, o := 0, 0; i+256 <= len(x); i, o = i+256, o+210 {
		b := (*[210]byte)(row[o : o+210])
		xb := (*[256]float32)(x[i : i+256])
		d := bch16(b[208:210])
		fv := archsimd.LoadUint8x16((*[16]byte)(b[192:208])).AsInt8x16().ExtendToInt32().ConvertToFloat32().Mul(d)
		for n := 0; n < 2; n++ {
			ql := b[64*n : 64*n+64]
			qh := b[128+32*n : 160+32*n]
			xn := xb[128*n : 128*n+128]
			l0, l1, l2, l3 := zx16(ql[0:16]), zx16(ql[16:32]), zx16(ql[32:48]), zx16(ql[48:64])
			h0, h1 := zx16(qh[0:16]), zx16(qh[16:32])
			w := func(q u32x16, g int) f32x16 {
				return q.AsInt32x16().Sub(off).ConvertToFloat32().Mul(lane16(fv, 8*n+g))
			}
			s = s.Add(w(l0.And(low4).Or(h0.ShiftAllLeft(4).And(bits45)), 0).Mul(ld16(xn[0:16])))
			s = s.Add(w(l1.And(low4).Or(h1.ShiftAllLeft(4).And(bits45)), 1).Mul(ld16(xn[16:32])))
			s = s.Add(w(l2.And(low4).Or(h0.ShiftAllLeft(2).And(bits45)), 2).Mul(ld16(xn[32:48])))
			s = s.Add(w(l3.And(low4).Or(h1.ShiftAllLeft(2).And(bits45)), 3).Mul(ld16(xn[48:64])))
			s = s.Add(w(srl16(l0, 4).Or(h0.And(bits45)), 4).Mul(ld16(xn[64:80])))
			s = s.Add(w(srl16(l1, 4).Or(h1.And(bits45)), 5).Mul(ld16(xn[80:96])))
			s = s.Add(w(srl16(l2, 4).Or(srl16(h0, 2).And(bits45)), 6).Mul(ld16(xn[96:112])))
			s = s.Add(w(srl16(l3, 4).Or(srl16(h1, 2).And(bits45)), 7).Mul(ld16(xn[112:128])))
		}
	}
	done512(acc, s)
}

// iq4_XSVec512: sub-block ib's table is dl·kvalues[q], dl = d·(ls − 32),
// ls = the 4 bits ib of scales_l below the 2 bits ib of scales_h.
//
//go:noinline
func iq4_XSVec512(acc *lanes, row []byte, x []float32) {
	s := archsimd.LoadFloat32x16((*[16]float32)(acc))
	kv := archsimd.LoadFloat32x16(&iq4nlValues)
	sh4, sh2 := ldu16(&nib4Shift), ldu16(&nib2Shift)
	off := archsimd.BroadcastInt32x16(32)
	for i, o := 0, 0; i+256 <= len(x); i, o = i+256, o+136 {
		b := (*[136]byte)(row[o : o+136])
		xb := (*[256]float32)(x[i : i+256])
		hdr := binary.LittleEndian.Uint64(b[0:8]) // d, scales_h, scales_l[4]
		d := bcu16(f16Bits(uint16(hdr))).AsFloat32x16()
		lo := bcu16(uint32(hdr >> 32)).ShiftRight(sh4).And(bcu16(0xF))
		hi := bcu16(uint32(hdr>>16) & 0xffff).ShiftRight(sh2).And(bcu16(3)).ShiftAllLeft(4)
		fv := lo.Or(hi).AsInt32x16().Sub(off).ConvertToFloat32().Mul(d)
		for ib := 0; ib < 8; ib++ {
			tab := kv.Mul(lane16(fv, ib))
			v := zx16(b[8+16*ib : 24+16*ib])
			xc := xb[32*ib : 32*ib+32]
			s = s.Add(tab.Permute(v).Mul(ld16(xc[0:16])))
			s = s.Add(tab.Permute(srl16(v, 4)).Mul(ld16(xc[16:32])))
		}
	}
	done512(acc, s)
}

// ------------------------------------------------------------ scalar phase

// prep32 writes d (and m for Q4_1, Q5_1) of each 32-element block of row to
// f[2k], f[2k+1].
//
//go:noinline
func prep32(t Type, row []byte, f []uint32) {
	bb := t.BlockBytes()
	for k, o := 0, 0; 2*k+1 < len(f); k, o = k+1, o+bb {
		f[2*k] = math.Float32bits(f16At(row, o))
		if t == Q4_1 || t == Q5_1 {
			f[2*k+1] = math.Float32bits(f16At(row, o+2))
		}
	}
}

// prepK45 writes, for each Q4_K or Q5_K block of row, d·sc_j to f[16k+j] and
// dmin·mn_j to f[16k+8+j] (the decoders' d1, dm1, … of sub-block j).
//
//go:noinline
func prepK45(t Type, row []byte, f []uint32) {
	bb := t.BlockBytes()
	for k, o := 0, 0; 16*k+16 <= len(f); k, o = k+1, o+bb {
		d, dmin := f16At(row, o), f16At(row, o+2)
		scales := (*[12]byte)(row[o+4 : o+16])
		fk := (*[16]uint32)(f[16*k : 16*k+16])
		for j := 0; j < 8; j++ {
			sc, mn := scaleMinK4(j, scales)
			fk[j] = math.Float32bits(d * float32(sc))
			fk[8+j] = math.Float32bits(dmin * float32(mn))
		}
	}
}

// prepQ6_K writes d·scales[g] of group g of each Q6_K block to f[16k+g].
//
//go:noinline
func prepQ6_K(row []byte, f []uint32) {
	for k, o := 0, 0; 16*k+16 <= len(f); k, o = k+1, o+210 {
		d := f16At(row, o+208)
		sc := (*[16]byte)(row[o+192 : o+208])
		fk := (*[16]uint32)(f[16*k : 16*k+16])
		for g := range fk {
			fk[g] = math.Float32bits(d * float32(int8(sc[g])))
		}
	}
}

// --------------------------------------------------------------------- AVX2
//
// The same kernels with the lanes in two Float32x8 accumulators, s0 for
// lanes 0-7 and s1 for lanes 8-15. AVX2's VPERMPS indexes only 8 entries,
// so the weights are computed per element with the operations the tables
// above are built with.

// ld8 loads x[0:8].
func ld8(x []float32) f32x8 { return archsimd.LoadFloat32x8((*[8]float32)(x[:8])) }

// zx8x2 loads the 16 bytes b[0:16] zero-extended to 32-bit lanes, bytes 0-7
// and 8-15.
func zx8x2(b []byte) (u32x8, u32x8) {
	v := archsimd.LoadUint8x16((*[16]byte)(b[:16]))
	return v.ExtendLo8ToUint32(), v.ConcatShiftBytesRight(8, v).ExtendLo8ToUint32()
}

// sx8x2 is zx8x2 for signed bytes, converted to float32.
func sx8x2(b []byte) (f32x8, f32x8) {
	v := archsimd.LoadUint8x16((*[16]byte)(b[:16]))
	return v.AsInt8x16().ExtendLo8ToInt32().ConvertToFloat32(),
		v.ConcatShiftBytesRight(8, v).AsInt8x16().ExtendLo8ToInt32().ConvertToFloat32()
}

// srl8 is srl16 for 8 lanes.
func srl8(v u32x8, c uint64) u32x8 { return v.AsInt32x8().ShiftAllRight(c).AsUint32x8() }

// cvt8 converts small non-negative integers to float32 (exactly).
func cvt8(v u32x8) f32x8 { return v.AsInt32x8().ConvertToFloat32() }

func bc8(f float32) f32x8 { return archsimd.BroadcastFloat32x8(f) }

// bcb8 broadcasts the float32 with bits u (see bcb16).
func bcb8(u uint32) f32x8 { return archsimd.BroadcastUint32x8(u).AsFloat32x8() }

// lane8 broadcasts lane g (< 8) of v, as lane16.
func lane8(v f32x8, g int) f32x8 {
	return v.Permute(archsimd.LoadUint32x8((*[8]uint32)(bcastIdx[g&7][:8])))
}

// facts8 loads 8 factors.
func facts8(f []uint32) f32x8 { return archsimd.LoadUint32x8((*[8]uint32)(f[:8])).AsFloat32x8() }

// f16x8 converts 8 halves (zero-extended) exactly as F16ToF32.
func f16x8(h u32x8) f32x8 {
	em := h.And(archsimd.BroadcastUint32x8(0x7fff))
	sign := h.Xor(em).ShiftAllLeft(16)
	e13 := em.ShiftAllLeft(13)
	sub := cvt8(em).Mul(bc8(0x1p-24)).AsUint32x8()
	emi := em.AsInt32x8()
	v := e13.Add(archsimd.BroadcastUint32x8(112<<23)).Merge(sub, emi.Greater(archsimd.BroadcastInt32x8(0x03ff)))
	v = e13.Or(archsimd.BroadcastUint32x8(0x7f800000)).Merge(v, emi.Greater(archsimd.BroadcastInt32x8(0x7bff)))
	return v.Or(sign).AsFloat32x8()
}
