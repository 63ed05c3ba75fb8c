package kernels

import (
	"gemmavk/gpu"
	"gemmavk/kernels/quant"
)

// F16 data is packed two halves per uint32 word: element i sits in bits
// [16*(i&1), 16*(i&1)+16) of word i/2, so n halves fill (n+1)/2 words and an
// odd n leaves the upper half of the last word zero.

// F32ToF16 encodes x as IEEE binary16 into y, packed, (len(x)+1)/2 words,
// rounding to nearest even as quant.F32ToF16 (overflow to ±Inf, subnormals
// kept, NaN quietened with its top payload bits).
func F32ToF16(y []uint32, x []float32) {
	for w := 0; w < (len(x)+1)/2; w++ {
		lo := uint32(quant.F32ToF16(x[2*w]))
		var hi uint32
		if 2*w+1 < len(x) {
			hi = uint32(quant.F32ToF16(x[2*w+1]))
		}
		y[w] = lo | hi<<16
	}
}

// F16ToF32 decodes len(y) packed halves of x into y, exactly
// (quant.F16ToF32: every half is a float32; NaN payloads kept).
func F16ToF32(y []float32, x []uint32) {
	for i := range y {
		y[i] = quant.F16ToF32(uint16(x[i/2] >> (16 * (i & 1))))
	}
}

// F32ToF16Vk lowers F32ToF16 over n values, one invocation per output word.
// Bindings: 0 x f32 [n]; 1 y u32 [(n+1)/2] (packed halves).
func F32ToF16Vk(c gpu.Caps, n int) gpu.Dispatch {
	return convert(c, "f32_to_f16", n)
}

// F16ToF32Vk lowers F16ToF32 over n values, one invocation per input word.
// Bindings: 0 x u32 [(n+1)/2] (packed halves); 1 y f32 [n].
func F16ToF32Vk(c gpu.Caps, n int) gpu.Dispatch {
	return convert(c, "f16_to_f32", n)
}

func convert(c gpu.Caps, shader string, n int) gpu.Dispatch {
	wg := flatWorkgroup(c)
	return gpu.Dispatch{
		Shader: shader,
		Spec:   []uint32{wg},
		Push:   gpu.Push(uint32(n)),
		Groups: flatGroups((n+1)/2, wg),
	}
}
