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

// Dot is the f32 inner product of two equal-length vectors (b at least as
// long as a) in the canonical arithmetic of quant.DotF32: sixteen float32
// lanes, unfused multiply and add, a fixed reduction tree. The result is the
// same bits on every machine and build, and equal to quant.DotRow of the
// encoded row, so MatMul gives the same y whatever T is.
func Dot(a, b []float32) float32 {
	return quant.DotF32(a, b)
}
