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
	return attnCoopDispatch(c, a, T, 1, "attention_coop"+o.suffix())
}

// attnCoopDispatch lowers attention_coop (or its SPLIT variant) with
// splits groups along z.
func attnCoopDispatch(c gpu.Caps, a Attn, T, splits int, shader string) (gpu.Dispatch, error) {
	if err := checkAttn(a, T); err != nil {
		return gpu.Dispatch{}, err
	}
	wg, err := attnCoopWG(c, a)
	if err != nil {
		return gpu.Dispatch{}, err
	}
	blocks := ceilDiv(T*(a.Heads/a.KVHeads), attnCoopRows)
	if blocks > maxGroups || a.KVHeads > maxGroups || splits > maxGroups {
		return gpu.Dispatch{}, fmt.Errorf("kernels: attention: %d×%d×%d workgroups", blocks, a.KVHeads, splits)
	}
	return gpu.Dispatch{
		Shader: shader,
		Spec:   []uint32{uint32(wg), uint32(a.HeadDim)},
		Push: gpu.Push(uint32(T), uint32(a.Heads), uint32(a.KVHeads), uint32(a.Slots), uint32(a.Window),
			gpu.F32(a.Scale), uint32(splits)),
		Groups: [3]uint32{blocks, uint32(a.KVHeads), uint32(splits)},
	}, nil
}

// AttentionCoopSplitVk lowers the attention of AttentionCoopVk as split-K,
// so that the long key ranges of a causal chunk's last blocks do not hold
// the whole dispatch up: the key range of each block of 32 rows is cut
// into splits runs of whole 32-key tiles (as AttentionSplitVk cuts it),
// one workgroup each, which writes its partial softmax to a scratch buffer
// of AttentionSplitScratch(a, T, splits) bytes; a combine pass merges
// them. Record a barrier between the two dispatches. The arithmetic is
// AttentionCoopVk's, the merge f32.
//
// Pass 1 (attention_coop_split_f16 / attention_coop_split_f32; no image
// spans):
// bindings as AttentionCoopVk, with binding 6 the scratch f32 [T*nH,
// splits, D+2] instead of out (per row t*nH + h and split: m, the max
// the split's sum l and accumulator o[D] are taken against, then l, then
// o; a row without keys in the split has m = -3e38, l = 0, o = 0); push T, Heads,
// KVHeads, Slots, Window, Scale, splits; spec workgroup size, D; group
// (block, kv head, split).
// Pass 2 (attention_combine): bindings 0 scratch, 1 out f32 [T, nH*D];
// push T*nH, splits (at most 256), D; spec workgroup size.
func AttentionCoopSplitVk(c gpu.Caps, a Attn, T, splits int, o AttnOpts) ([]gpu.Dispatch, error) {
	if err := checkSplits(splits); err != nil {
		return nil, err
	}
	if o.Spans {
		// On the H100 the image-span cases' merged results came out
		// infinite while their records' o/l matched the model: not used
		// until that is understood.
		return nil, fmt.Errorf("kernels: split attention on cooperative matrices: image spans are not supported")
	}
	pass1, err := attnCoopDispatch(c, a, T, splits, "attention_coop_split"+o.suffix())
	if err != nil {
		return nil, err
	}
	return []gpu.Dispatch{pass1, attnCombineDispatch(c, a, T, splits)}, nil
}

// Targets of AttentionCoopSplits, in workgroups of attention_coop: the
// H100 has 132 SMs, each holding about two of them at once (registers);
// a dispatch should fill them (attnCoopFillGroups) and not pay for many
// more partial records than that (attnCoopMaxGroups, about four per SM).
const (
	attnCoopFillGroups = 256
	attnCoopMaxGroups  = 528
	attnCoopSplitTiles = 4 // least tiles a split of the longest block keeps
)

// AttentionCoopSplits returns how many splits AttentionCoopSplitVk should
// cut prefill attention of a chunk of T tokens into; 1 means
// AttentionCoopVk. It takes the first chunk (p0 = 0, the causal triangle,
// where block b of the T*(nH/nKV) rows of a kv head sees keys up to its
// last row's position, within the window): a later chunk's ranges are
// longer and more even, so the count suits it too. The count is the
// larger of
//
//   - balance: ceil(longest block's tiles / mean tiles per block), so that
//     a split of the longest block has about the mean block's work
//     (2 for a causal chunk from 0);
//   - fill: enough workgroups for about attnCoopFillGroups in all
//     (4 for the 1B model's 64 blocks at T = 512);
//
// then cut to keep at least attnCoopSplitTiles (4) tiles in each split of
// the longest block, at most attnCoopMaxGroups workgroups in all and at
// most the combine pass's 256 splits. So chunks whose longest block sees
// fewer than 8 tiles (256 keys) are not split, nor chunks of at most 64
// tokens: the records' traffic and the second pass would outweigh the
// gain; nor chunks that make attnCoopFillGroups/2 workgroups unsplit (the
// 4B model at T = 512 makes 128: split in 2, 3 or 4 it ran 2–8% slower or
// faster, within noise, on the H100). Examples: 1B (4 heads over 1, D 256)
// T = 512: 4 (256 workgroups, at most 4 tiles each; 3.4 → 5.7 TFLOP/s on
// the H100); 4B and 27B at T = 512: 1.
func AttentionCoopSplits(c gpu.Caps, a Attn, T int) int {
	if T <= 64 || checkAttn(a, T) != nil {
		return 1
	}
	if _, err := attnCoopWG(c, a); err != nil {
		return 1
	}
	grp := a.Heads / a.KVHeads
	nrows := T * grp
	blocks := int(ceilDiv(nrows, attnCoopRows))
	longest, sum := 0, 0
	for row0 := 0; row0 < nrows; row0 += attnCoopRows {
		first, last := row0/grp, (min(row0+attnCoopRows, nrows)-1)/grp
		lo := 0
		if a.Window > 0 && first+1 > a.Window {
			lo = first + 1 - a.Window
		}
		tiles := int(ceilDiv(last+1-lo, attnCoopKeys))
		longest = max(longest, tiles)
		sum += tiles
	}
	groups := blocks * a.KVHeads
	if groups >= attnCoopFillGroups/2 {
		// About a wave of workgroups already: on the H100 splitting the
		// 4B model's 128 (T = 512) gained nothing.
		return 1
	}
	s := int(max(ceilDiv(longest*blocks, sum), ceilDiv(attnCoopFillGroups, groups)))
	s = min(s, longest/attnCoopSplitTiles, attnCoopMaxGroups/groups, combineMaxSplits)
	return max(s, 1)
}
