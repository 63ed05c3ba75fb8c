package kernels

import "gemmavk/gpu"

// RoPEVk lowers RoPE over T tokens of heads heads of dim values (dim even)
// on the GPU, rotating x in place.
// Bindings: 0 x f32 [T, heads*dim] (read and written); 1 pos i32 [T];
// 2 inv f32 [dim/2], the table of RoPEInvFreq(dim, base, factor).
// Positions are read from the buffer, so a recorded decode step replays
// with new positions; angles are exact-reduced for |pos*inv[j]| < 4.1e5.
func RoPEVk(c gpu.Caps, T, heads, dim int) gpu.Dispatch {
	wg := flatWorkgroup(c)
	return gpu.Dispatch{
		Shader: "rope_f32",
		Spec:   []uint32{wg},
		Push:   gpu.Push(uint32(T), uint32(heads), uint32(dim)),
		Groups: flatGroups(T*(dim/2), wg),
	}
}
