package kernels

import (
	"fmt"

	"gemmavk/gpu"
	"gemmavk/kernels/quant"
)

// EmbedVk lowers Embed (y[t][j] = E[ids[t]][j] * scale) on the GPU for T
// token ids, the [vocab, cols] table in its device layout. An id outside
// [0, vocab) fills its row of y with NaN instead of failing: the caller
// validates ids, and a NaN row makes a bad one visible.
// Bindings: 0 E uint words: the table's DeviceData (start 4-byte
// aligned); 1 ids int32 [T]; 2 y f32 [T, cols].
//
// One workgroup per token; its invocations decode the row a unit at a
// time (quant.glsl). It fails for types without a GPU decoder, cols not a
// multiple of t's block size, and tables over 4 GiB.
func EmbedVk(c gpu.Caps, t quant.Type, T, vocab, cols int, scale float32) (gpu.Dispatch, error) {
	return EmbedPartVk(c, t, T, 0, vocab, cols, scale, false)
}

// EmbedPartVk is EmbedVk over rows [base, base+vocab) of a table too large
// for one binding: E is bound to those rows, ids are taken relative to
// base, and with partial an id outside the part leaves its row of y alone
// (another part writes it; the caller has validated every id).
func EmbedPartVk(c gpu.Caps, t quant.Type, T, base, vocab, cols int, scale float32, partial bool) (gpu.Dispatch, error) {
	name, err := vkWeight("embed", t, vocab, cols)
	if err != nil {
		return gpu.Dispatch{}, err
	}
	if T <= 0 {
		return gpu.Dispatch{}, fmt.Errorf("kernels: embed: T = %d not positive", T)
	}
	work := cols / vkUnitElems(t) // units per row
	if cols%vkUnitElems(t) != 0 {
		work = cols // plain types with a ragged row go element by element
	}
	return gpu.Dispatch{
		Shader: "embed_" + name,
		Spec:   []uint32{rowWorkgroup(c, work)},
		Push:   gpu.Push(uint32(T), uint32(vocab), uint32(cols), gpu.F32(scale), uint32(base), b2u(partial)),
		Groups: rowGroups(T),
	}, nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
