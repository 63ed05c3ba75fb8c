//go:build !(goexperiment.simd && amd64)

package quant

// dotImpls lists the implementations of this build: the portable one only.
func dotImpls() []dotImpl {
	return []dotImpl{{"portable", dotRowPortable, dotF32Portable}}
}
