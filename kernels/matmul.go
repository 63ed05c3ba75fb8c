package kernels

import "gemmavk/kernels/quant"

// MatMul multiplies T input rows by the transposed weight (a linear layer):
//
//	y[t][r] = sum_c W[r][c] * x[t][c]      x: [T, Cols], y: [T, Rows]
//
// for output rows r in [r0, r1). With T > 1, weight rows are decoded four
// at a time into scratch (len >= 4*Cols) and each is used for every input
// row, so the weight bytes are read once per call whatever T is; the
// products are quant.DotF32 bit for bit either way.
func MatMul(y, x []float32, w *Weight, T int, scratch []float32, r0, r1 int) {
	n, m := w.Cols, w.Rows
	if T == 1 {
		for r := r0; r < r1; r++ {
			y[r] = quant.DotRow(w.Type, w.Row(r), x[:n])
		}
		return
	}
	var rows [4][]float32
	for k := range rows {
		rows[k] = scratch[k*n : (k+1)*n]
	}
	r := r0
	for ; r+4 <= r1; r += 4 {
		for k := range rows {
			w.DecodeRow(r+k, rows[k])
		}
		quant.DotF32Batch4(&rows, x[:T*n], y[r:], m)
	}
	for ; r < r1; r++ {
		w.DecodeRow(r, rows[0])
		quant.DotF32Batch(rows[0], x[:T*n], y[r:], m)
	}
}
