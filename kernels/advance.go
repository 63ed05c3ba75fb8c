package kernels

import "gemmavk/gpu"

// DecodeAdvance is the step between two replayed decode steps: the token
// the sampler wrote to ring[(step-1) % len(ring)] becomes the next input
// and the position moves on by one.
func DecodeAdvance(ids, pos []int32, ring []int32, step uint32) {
	R := uint32(len(ring))
	ids[0] = ring[(step+R-1)%R]
	pos[0]++
}

// DecodeAdvanceVk lowers DecodeAdvance, reading step from the sampler's
// state buffer.
// Bindings: 0 state uint32 [2] = {seed, step}; 1 ring int32 [R]; 2 ids
// int32 [1]; 3 pos int32 [1].
func DecodeAdvanceVk(ring int) gpu.Dispatch {
	return gpu.Dispatch{Shader: "decode_advance", Push: gpu.Push(uint32(ring)), Groups: [3]uint32{1, 1, 1}}
}
