package kernels

import (
	"encoding/binary"
	"testing"

	"gemmavk/internal/vktest"
)

func TestDecodeAdvanceVulkan(t *testing.T) {
	ring := []int32{11, 22, 33, 44}
	for _, step := range []uint32{1, 2, 4, 5, 9} {
		ids, pos := []int32{-1}, []int32{41}
		DecodeAdvance(ids, pos, ring, step)
		state := make([]byte, 8)
		binary.LittleEndian.PutUint32(state[4:], step)
		out := vktest.Run(t, DecodeAdvanceVk(len(ring)), state, vktest.I32Bytes(ring),
			vktest.I32Bytes([]int32{-1}), vktest.I32Bytes([]int32{41}))
		if got := vktest.Ints(out[2])[0]; got != ids[0] || ids[0] != ring[(step-1)%4] {
			t.Errorf("step %d: id %d, reference %d", step, got, ids[0])
		}
		if got := vktest.Ints(out[3])[0]; got != pos[0] || got != 42 {
			t.Errorf("step %d: pos %d, reference %d", step, got, pos[0])
		}
	}
}
