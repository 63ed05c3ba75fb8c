//go:build !(goexperiment.simd && amd64)

package quant

// Without GOEXPERIMENT=simd on amd64, the portable kernels are the only
// implementation (dot_simd_amd64.go has the vector ones).

func dotRow(t Type, row []byte, x []float32) float32 { return dotRowPortable(t, row, x) }

func dotF32(a, b []float32) float32 { return dotF32Portable(a, b) }

func dotF32Batch(w, x []float32, out []float32, stride int) { dotF32BatchEach(w, x, out, stride) }

func dotF32Batch4(w *[4][]float32, x []float32, out []float32, stride int) {
	dotF32Batch4Each(w, x, out, stride)
}

func addScaledF32(dst []float32, a float32, x []float32) { addScaledF32Portable(dst, a, x) }
