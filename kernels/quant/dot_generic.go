//go:build !(goexperiment.simd && amd64)

package quant

// Without GOEXPERIMENT=simd on amd64, the portable kernels are the only
// implementation (dot_simd_amd64.go has the vector ones).

func dotRow(t Type, row []byte, x []float32) float32 { return dotRowPortable(t, row, x) }

func dotF32(a, b []float32) float32 { return dotF32Portable(a, b) }
