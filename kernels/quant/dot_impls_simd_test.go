//go:build goexperiment.simd && amd64

package quant

import "simd/archsimd"

// dotImpls lists the implementations this CPU can run: the portable one and
// the AVX2 and AVX-512 kernels where supported.
func dotImpls() []dotImpl {
	impls := []dotImpl{{"portable", dotRowPortable, dotF32Portable}}
	if archsimd.X86.AVX2() {
		impls = append(impls, dotImpl{"avx2", dotRow256,
			func(a, b []float32) float32 { return dotF32SIMD(false, a, b) }})
	}
	if archsimd.X86.AVX512() {
		impls = append(impls, dotImpl{"avx512", dotRow512,
			func(a, b []float32) float32 { return dotF32SIMD(true, a, b) }})
	}
	return impls
}
