package kernels

import (
	"fmt"

	"gemmavk/gpu"
)

// Decode-step attention (shaders/attention_decode.comp): one query token,
// split-K over the cached keys with subgroups taking keys and lanes taking
// dims, and the splits merged by the last workgroup of each kv head, so a
// decode step spends one dispatch and one barrier on attention.

// attnDecodeSubgroups is the subgroups per workgroup of attention_decode.
const attnDecodeSubgroups = 4

// attnDecodeMaxRegs bounds GRP·D/SG, the f32 values a lane holds for each
// of q and the accumulators.
const attnDecodeMaxRegs = 64

// AttentionDecodeSupported reports whether attention_decode runs a for one
// token on the device: the head dim is a multiple of the subgroup size,
// each lane's share of the query heads of a kv head fits in registers, and
// the workgroup's merge buffer fits shared memory.
func AttentionDecodeSupported(c gpu.Caps, a Attn) bool {
	sg := subgroupSize(c)
	if checkAttn(a, 1) != nil || !c.SubgroupArithmetic || a.HeadDim%sg != 0 {
		return false
	}
	grp := a.Heads / a.KVHeads
	if grp*a.HeadDim/sg > attnDecodeMaxRegs {
		return false
	}
	wg := attnDecodeSubgroups * sg
	if lim := int(c.MaxWorkgroupInvocations); lim > 0 && wg > lim {
		return false
	}
	return 4*(attnDecodeSubgroups*(a.HeadDim+2*grp)+2*grp)+4 <= sharedBudget(c)
}

// AttentionDecodeSplits returns the splits attention_decode should cut up
// to keys keys into: a run of about 32 keys each (8 per subgroup), at most
// 64 (splits past the current keys only write empty partials).
func AttentionDecodeSplits(keys int) int {
	return min(max((keys+31)/32, 1), 64)
}

// AttentionDecodeScratch is the size in bytes of attention_decode's partials:
// one record (m, l, o[D]) per query head and split.
func AttentionDecodeScratch(a Attn, splits int) int {
	return 4 * a.Heads * splits * (a.HeadDim + 2)
}

// AttentionDecodeVk lowers Attention for one token (T = 1, no spans) as one
// dispatch of attention_decode_f16 (attention_decode_f32 with
// o.CacheF32).
//
// Bindings: 0 q f32 [nH*D]; 1 k, 2 v f32 [nKV*D]; 3 ck, 4 cv caches
// [Slots, nKV*D]; 5 pos int32 [>= 1]; 6 scratch of
// AttentionDecodeScratch(a, splits) bytes; 7 out f32 [nH*D]; 8 count uint
// [nKV], zero when first bound (the kernel leaves it zero).
// Push: Heads, KVHeads, Slots, Window, Scale, splits.
// Spec: workgroup size, D, subgroup size, Heads/KVHeads, subgroups.
func AttentionDecodeVk(c gpu.Caps, a Attn, splits int, o AttnOpts) (gpu.Dispatch, error) {
	if err := checkAttn(a, 1); err != nil {
		return gpu.Dispatch{}, err
	}
	if o.Spans {
		return gpu.Dispatch{}, fmt.Errorf("kernels: attention_decode: spans need a chunk")
	}
	if !AttentionDecodeSupported(c, a) {
		return gpu.Dispatch{}, fmt.Errorf("kernels: attention_decode: %d heads of %d for %d kv heads on subgroups of %d",
			a.Heads, a.HeadDim, a.KVHeads, subgroupSize(c))
	}
	if splits < 1 || splits > maxGroups || a.KVHeads > maxGroups {
		return gpu.Dispatch{}, fmt.Errorf("kernels: attention_decode: %d splits of %d kv heads", splits, a.KVHeads)
	}
	sg := subgroupSize(c)
	name := "attention_decode_f16"
	if o.CacheF32 {
		name = "attention_decode_f32"
	}
	return gpu.Dispatch{
		Shader: name,
		Spec: []uint32{uint32(attnDecodeSubgroups * sg), uint32(a.HeadDim), uint32(sg),
			uint32(a.Heads / a.KVHeads), attnDecodeSubgroups},
		Push: gpu.Push(uint32(a.Heads), uint32(a.KVHeads), uint32(a.Slots), uint32(a.Window),
			gpu.F32(a.Scale), uint32(splits)),
		Groups: [3]uint32{uint32(splits), uint32(a.KVHeads), 1},
	}, nil
}
