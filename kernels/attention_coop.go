package kernels

import (
	"fmt"

	"gemmavk/gpu"
)

// Blocking of prefill attention on cooperative matrices
// (shaders/attention_coop.comp): a workgroup of 4 subgroups takes 32 query
// rows of one kv head and streams their keys in tiles of 32; each subgroup
// owns 16 rows (all their scores, and half of their output columns).
const (
	attnCoopRows      = 32 // BR
	attnCoopKeys      = 32 // BC
	attnCoopSubgroups = 4
)

// attnCoopShared is the shared memory of attention_coop for head dim d, in
// bytes: f16 keys and values [BC][D+8] each, and per subgroup f32 scores
// [16][BC+4], f16 probabilities [16][BC+8] and two f32 per row.
func attnCoopShared(d int) int {
	bc, ns := attnCoopKeys, attnCoopSubgroups
	return 2*2*bc*(d+8) + ns*16*(4*(bc+4)+2*(bc+8)+4*2)
}

// attnCoopWG checks that the device and head geometry suit attention_coop
// and returns its workgroup size.
func attnCoopWG(c gpu.Caps, a Attn) (int, error) {
	sg := int(c.SubgroupSize)
	wg := attnCoopSubgroups * sg
	switch {
	case !c.CoopMat:
		return 0, fmt.Errorf("kernels: attention: the device has no cooperative matrices")
	case !c.SubgroupShuffle:
		return 0, fmt.Errorf("kernels: attention on cooperative matrices: the device has no subgroup shuffles")
	case a.HeadDim <= 0 || a.HeadDim%16 != 0:
		return 0, fmt.Errorf("kernels: attention on cooperative matrices: head dim %d is not a positive multiple of 16", a.HeadDim)
	// The softmax gives each of a subgroup's 16 rows sg/16 lanes, which
	// must split BC keys evenly in groups of 4.
	case sg < 16 || sg&(sg-1) != 0 || sg > 16*attnCoopKeys/4:
		return 0, fmt.Errorf("kernels: attention on cooperative matrices: subgroup size %d", sg)
	case c.MaxWorkgroupInvocations > 0 && wg > int(c.MaxWorkgroupInvocations):
		return 0, fmt.Errorf("kernels: attention: a workgroup of %d subgroups of %d exceeds the device", attnCoopSubgroups, sg)
	}
	if sh := attnCoopShared(a.HeadDim); c.MaxSharedMemory > 0 && sh > int(c.MaxSharedMemory) {
		return 0, fmt.Errorf("kernels: attention: head dim %d needs %d bytes of shared memory, device has %d", a.HeadDim, sh, c.MaxSharedMemory)
	}
	return wg, nil
}

// AttentionCoopSupported reports whether AttentionCoopVk lowers attention
// of geometry a on the device with capabilities c.
func AttentionCoopSupported(c gpu.Caps, a Attn) bool {
	_, err := attnCoopWG(c, a)
	return err == nil && checkAttn(a, 1) == nil
}

// AttentionCoopVk lowers the attention of AttentionVk (Attention, or
// AttentionSpans with o.Spans) for a chunk of T tokens onto cooperative
// matrices (tensor cores), in one dispatch of attention_coop_f16[_spans] /
// attention_coop_f32[_spans]: q·Scale, k and v are rounded to f16 (clamped
// to its range) as they are staged, Q·Kᵀ and P·V are 16x16x16 f16 products
// accumulated in f32, the probabilities P are rounded to f16 and the
// softmax runs in f32. The device needs VK_KHR_cooperative_matrix and
// subgroup shuffles and subgroups of 16 to 128 invocations; the head dim
// must be a multiple of 16.
//
// Bindings (as AttentionVk): 0 q f32 [T, nH*D]; 1 k f32 [T, nKV*D]; 2 v f32
// [T, nKV*D]; 3 ck, 4 cv caches [Slots, nKV*D]; 5 pos int32 [>= 1]; 6 out
// f32 [T, nH*D]; 7 spans int32 [T] (o.Spans only).
// Push: T, Heads, KVHeads, Slots, Window, Scale, 1.
// Spec: workgroup size (4 subgroups), D.
// Mapping: group (x, y) = (block of 32 of the T*(nH/nKV) query rows of kv
// head y, row r = t*(nH/nKV) + h - y*(nH/nKV)), kv head y.
// The caller ensures the caches hold the keys the chunk needs (CheckCache).
func AttentionCoopVk(c gpu.Caps, a Attn, T int, o AttnOpts) (gpu.Dispatch, error) {
	if err := checkAttn(a, T); err != nil {
		return gpu.Dispatch{}, err
	}
	wg, err := attnCoopWG(c, a)
	if err != nil {
		return gpu.Dispatch{}, err
	}
	blocks := ceilDiv(T*(a.Heads/a.KVHeads), attnCoopRows)
	if blocks > maxGroups || a.KVHeads > maxGroups {
		return gpu.Dispatch{}, fmt.Errorf("kernels: attention: %d×%d workgroups", blocks, a.KVHeads)
	}
	return gpu.Dispatch{
		Shader: "attention_coop" + o.suffix(),
		Spec:   []uint32{uint32(wg), uint32(a.HeadDim)},
		Push: gpu.Push(uint32(T), uint32(a.Heads), uint32(a.KVHeads), uint32(a.Slots), uint32(a.Window),
			gpu.F32(a.Scale), 1),
		Groups: [3]uint32{blocks, uint32(a.KVHeads), 1},
	}, nil
}
