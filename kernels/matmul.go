package kernels

import "gemmavk/kernels/quant"

// MatMul multiplies T input rows by the transposed weight (a linear layer):
//
//	y[t][r] = sum_c W[r][c] * x[t][c]      x: [T, Cols], y: [T, Rows]
//
// for output rows r in [r0, r1). Each weight row is decoded once into
// scratch (len >= Cols) and reused for every input row, so the weight
// bytes are read once per call whatever T is.
func MatMul(y, x []float32, w *Weight, T int, scratch []float32, r0, r1 int) {
	n, m := w.Cols, w.Rows
	if T == 1 {
		for r := r0; r < r1; r++ {
			y[r] = quant.DotRow(w.Type, w.Row(r), x[:n])
		}
		return
	}
	row := scratch[:n]
	for r := r0; r < r1; r++ {
		w.DecodeRow(r, row)
		for t := 0; t < T; t++ {
			y[t*m+r] = Dot(row, x[t*n:(t+1)*n])
		}
	}
}

// Dot is the f32 inner product of two equal-length vectors, with four
// independent accumulators.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
