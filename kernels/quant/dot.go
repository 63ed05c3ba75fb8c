package quant

import "fmt"

// The canonical dot product
//
// DotRow and DotF32 compute Σ_i w_i·x_i in one fixed float32 arithmetic, so
// that a result does not depend on the machine, on the instruction set the
// kernels use, or on build flags. Every implementation (the portable Go
// loops of dot_portable.go, and the AVX2 and AVX-512 kernels of
// dot_simd_amd64.go, built with GOEXPERIMENT=simd) returns the same bits:
//
//  1. The weights are the float32 values DequantizeRow produces, bit for bit:
//     a block's values are computed with the same float32 operations in the
//     same order as the scalar decoders (for example d·sc rounded, times q
//     rounded, minus dmin·m rounded for Q4_K). Integer-to-float conversions
//     of quants are exact, so where a kernel converts before or after an
//     exact integer step, or looks a value up in a table built with those
//     same operations, the value is still the same.
//
//  2. Sixteen float32 lanes acc[0..15] start at +0. Element i, in increasing
//     order of i, is added to lane i mod 16:
//
//     p = round32(w_i · x_i)
//     acc[i%16] = round32(acc[i%16] + p)
//
//     that is, a multiply and an add each rounded to float32, not a fused
//     multiply-add. A float32 FMA rounds once, and portable Go has no single-
//     rounding float32 FMA: float32(math.FMA(float64(a), float64(b),
//     float64(c))) rounds twice (the float64 sum, then float32) and can differ
//     from it. For example a·b = 1 + 2⁻²⁴ (a product of two float32s, since
//     2²⁴+1 = 97·172961) plus c = 2⁻⁸⁰ rounds to 1 + 2⁻²⁴ in float64, a tie
//     that float32 breaks to 1, while the exact sum rounds to 1 + 2⁻²³.
//     Unfused arithmetic is exact to reproduce everywhere. The portable code
//     writes the product as float32(w*x): the explicit conversion keeps the
//     compiler from contracting it into the add (Go fuses x*y + z into an FMA
//     on amd64 with GOAMD64=v3 and on arm64 otherwise), and the SIMD kernels
//     use separate Mul and Add.
//
//  3. The lanes are reduced in a fixed tree:
//
//     s8[l] = acc[l] + acc[l+8]   l = 0..7
//     s4[l] = s8[l] + s8[l+4]     l = 0..3
//     s2[l] = s4[l] + s4[l+2]     l = 0..1
//     result = s2[0] + s2[1]
//
// All block sizes are multiples of 16, so a block's element k goes to lane
// k mod 16 wherever the block starts. Consequently DotRow(t, row, x) equals
// DotF32(w, x) for w = DequantizeRow(t, row) bit for bit, which keeps the
// matrix-vector product (DotRow) and the matrix-matrix product (decode a row,
// then DotF32) in step. NaN results are NaN on every path, but their payload
// bits are not specified.

// DotRow returns Σ_i w_i·x_i where w = the len(x) elements of type t encoded
// in row, in the canonical arithmetic described above: it equals DotF32 of
// DequantizeRow's output with x, bit for bit, without storing the weights.
// It does not allocate. The caller guarantees that len(x) is a multiple of
// the block size and that row holds the matching bytes; for other input the
// result is meaningless and it may panic. It panics if t is not Supported.
func DotRow(t Type, row []byte, x []float32) float32 {
	if !Supported(t) {
		panic(fmt.Sprintf("quant: DotRow: type %s not supported", t))
	}
	return dotRow(t, row, x)
}

// DotF32 returns Σ_i a_i·b_i over the len(a) elements of a in the canonical
// arithmetic described above (for any length: element i goes to lane i mod
// 16). b must hold at least len(a) elements. It does not allocate.
func DotF32(a, b []float32) float32 {
	return dotF32(a, b[:len(a)])
}

// DotF32Batch computes, for every row t of x (x holds T = len(x)/len(w) rows
// of len(w) values), out[t*stride] = DotF32(w, x[t*len(w):(t+1)*len(w)]),
// bit for bit. It is the inner loop of a matrix-matrix product: the vector
// kernels share each load of w across several rows of x and run their
// accumulator chains side by side.
func DotF32Batch(w, x []float32, out []float32, stride int) {
	n := len(w)
	if n == 0 {
		for t := 0; t*stride < len(out); t++ {
			out[t*stride] = 0
		}
		return
	}
	dotF32Batch(w, x[:len(x)/n*n], out, stride)
}

// dotF32BatchEach is DotF32Batch one row at a time.
func dotF32BatchEach(w, x []float32, out []float32, stride int) {
	n := len(w)
	for t := 0; (t+1)*n <= len(x); t++ {
		out[t*stride] = dotF32(w, x[t*n:(t+1)*n])
	}
}

// DotF32Batch4 is DotF32Batch for four vectors at once: out[t*stride+k] =
// DotF32(w[k], row t of x) for k = 0..3, bit for bit. The vector kernel
// works on tiles of four vectors by four rows, so each load serves four
// products.
func DotF32Batch4(w *[4][]float32, x []float32, out []float32, stride int) {
	n := len(w[0])
	for k := 1; k < 4; k++ {
		w[k] = w[k][:n]
	}
	if n == 0 {
		for k := 0; k < 4; k++ {
			DotF32Batch(w[k], x, out[k:], stride)
		}
		return
	}
	dotF32Batch4(w, x[:len(x)/n*n], out, stride)
}

// dotF32Batch4Each is DotF32Batch4 one vector at a time.
func dotF32Batch4Each(w *[4][]float32, x []float32, out []float32, stride int) {
	for k := 0; k < 4; k++ {
		dotF32Batch(w[k], x, out[k:], stride)
	}
}

// AddScaledF32 adds a·x[i] to dst[i] for every i < len(dst), the product
// rounded to float32 before the add (no fused multiply-add), so every
// implementation gives the same bits. x must hold at least len(dst) values.
func AddScaledF32(dst []float32, a float32, x []float32) {
	addScaledF32(dst, a, x[:len(dst)])
}

// addScaledF32Portable is AddScaledF32 in portable Go.
func addScaledF32Portable(dst []float32, a float32, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += float32(a * x[i])
	}
}
