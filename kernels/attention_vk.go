package kernels

import (
	"fmt"

	"gemmavk/gpu"
)

// Vulkan lowerings of attention (shaders/attention*.comp, cache_write.comp).
//
// The GPU caches hold f16 by default: [Slots, nKV*D] halves, two per uint
// word (low half first), so D must be even. With AttnOpts.CacheF32 they
// hold f32 instead. Positions are read from the pos buffer on the GPU
// (pos[0] = position of the chunk's first token; the chunk's positions are
// consecutive), so one recorded command buffer serves every decode step.

// AttnOpts selects attention variants.
type AttnOpts struct {
	// Spans binds an int32 [T] span buffer (binding 7): chunk tokens with
	// the same nonzero span id see each other both ways (AttentionSpans).
	Spans bool
	// CacheF32 keeps the caches in f32 rather than packed f16.
	CacheF32 bool
}

func (o AttnOpts) suffix() string {
	s := "_f16"
	if o.CacheF32 {
		s = "_f32"
	}
	if o.Spans {
		s += "_spans"
	}
	return s
}

// combineMaxSplits is the most splits attention_combine merges (its shared
// arrays).
const combineMaxSplits = 256

// attnWorkgroup is the workgroup size of the attention kernels.
const attnWorkgroup = 128

// sharedBudget is the shared memory the attention kernels may use: the
// device's limit, at most 32 KiB (every target has that much).
func sharedBudget(c gpu.Caps) int {
	b := 32 << 10
	if m := int(c.MaxSharedMemory); m > 0 && m < b {
		b = m
	}
	return b
}

// attnTiles picks the rows BR and keys BC of one flash-attention block
// (include/attention.glsl) for head dim d so that the shared arrays fit
// (4·(BR·D + BC·(D+1) + BR·BC + 3·BR) bytes): the largest power-of-two BR
// up to 32 that rows needs (more rows per block read the keys fewer
// times), then the largest BC of 32, 16 or 8.
func attnTiles(c gpu.Caps, d, rows int) (br, bc int, err error) {
	if d <= 0 || d%2 != 0 {
		return 0, 0, fmt.Errorf("kernels: attention: head dim %d is not a positive even number", d)
	}
	want := 1
	for want < min(rows, 32) {
		want *= 2
	}
	budget := sharedBudget(c) / 4
	for r := want; r >= 1; r /= 2 {
		for _, k := range []int{32, 16, 8} {
			if r*d+k*(d+1)+r*k+3*r <= budget {
				return r, k, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("kernels: attention: head dim %d does not fit in %d bytes of shared memory", d, sharedBudget(c))
}

func attnWG(c gpu.Caps) uint32 {
	wg := uint32(attnWorkgroup)
	if lim := c.MaxWorkgroupInvocations; lim > 0 && wg > lim {
		wg = lim
	}
	return wg
}

func checkAttn(a Attn, T int) error {
	switch {
	case T <= 0:
		return fmt.Errorf("kernels: attention: chunk of %d tokens", T)
	case a.Heads <= 0 || a.KVHeads <= 0 || a.Heads%a.KVHeads != 0:
		return fmt.Errorf("kernels: attention: %d query heads over %d kv heads", a.Heads, a.KVHeads)
	case a.Slots <= 0:
		return fmt.Errorf("kernels: attention: %d cache slots", a.Slots)
	case a.Window < 0:
		return fmt.Errorf("kernels: attention: window %d", a.Window)
	}
	return nil
}

// attnDispatch lowers the first (or only) pass of chunk attention.
func attnDispatch(c gpu.Caps, a Attn, T, splits int, shader string) (gpu.Dispatch, error) {
	if err := checkAttn(a, T); err != nil {
		return gpu.Dispatch{}, err
	}
	rows := T * (a.Heads / a.KVHeads)
	br, bc, err := attnTiles(c, a.HeadDim, rows)
	if err != nil {
		return gpu.Dispatch{}, err
	}
	blocks := ceilDiv(rows, br)
	if blocks > maxGroups || a.KVHeads > maxGroups || splits > maxGroups {
		return gpu.Dispatch{}, fmt.Errorf("kernels: attention: %d×%d×%d workgroups", blocks, a.KVHeads, splits)
	}
	return gpu.Dispatch{
		Shader: shader,
		Spec:   []uint32{attnWG(c), uint32(a.HeadDim), uint32(br), uint32(bc)},
		Push: gpu.Push(uint32(T), uint32(a.Heads), uint32(a.KVHeads), uint32(a.Slots), uint32(a.Window),
			gpu.F32(a.Scale), uint32(splits)),
		Groups: [3]uint32{blocks, uint32(a.KVHeads), uint32(splits)},
	}, nil
}

// AttentionVk lowers Attention (AttentionSpans with o.Spans) of a chunk of
// T tokens over the f16 (or f32) ring caches, in one dispatch of
// attention_f16[_spans] / attention_f32[_spans].
//
// Bindings: 0 q f32 [T, nH*D]; 1 k f32 [T, nKV*D]; 2 v f32 [T, nKV*D];
// 3 ck, 4 cv caches [Slots, nKV*D]; 5 pos int32 [>= 1]; 6 out f32
// [T, nH*D]; 7 spans int32 [T] (o.Spans only).
// Push: T, Heads, KVHeads, Slots, Window, Scale, 1.
// Spec: workgroup size, D, rows per block BR, keys per tile BC.
// The caller ensures the caches hold the keys the chunk needs (CheckCache).
func AttentionVk(c gpu.Caps, a Attn, T int, o AttnOpts) (gpu.Dispatch, error) {
	return attnDispatch(c, a, T, 1, "attention"+o.suffix())
}

// Decode splits (AttentionSplits with T = 1). A split's keys are whole
// tiles of BC keys (attention_decode rounds them up), and every split
// with keys ends in a record store and an arrival, the last one merging
// them all: short splits cost more in records and merging than their
// shorter runs save, long ones leave the GPU idle. So a decode split takes
// the fewest whole tiles that bring the workgroups with keys
// (kv heads × splits) down to decodeGroups, and at most decodeSplitKeys
// keys. On the H100 (attention_decode_nr, 16-key tiles): the 4B (4 kv
// heads) at 8192 tokens of context, its sliding layers seeing 1025 keys,
// ran at 349.7 t/s with 33 splits holding keys (32 keys each), 372.7 with
// 22 (48), 373.0 with 13 (80) and 355.8 with 8 (144); at 137 keys (tg128
// from an empty context) 3 splits of up to 48 keys beat 9 of 16 (428.6
// against 418.1 t/s). The 1B (one kv head): at 513 keys 619.2 t/s with 11
// splits of 48 keys against 588.9 with 33 of 16, but at 137 keys 9 splits
// of 16 keys beat 3 of 48 (739.0 against 718.7). The 4B's global layers
// at 8192 tokens keep 64 splits (57 of 144 keys): 31 or 16 took it to
// 370.1 and 355.5 t/s.
const (
	decodeGroups    = 16
	decodeSplitKeys = 64
)

// AttentionSplits returns how many splits split-K attention should use for
// a chunk of T tokens that sees up to keys keys (at most Window + T on a
// sliding layer, pos + T on a global one); 1 means AttentionVk is the
// better choice. It aims at about 512 workgroups in all (enough to keep a
// large GPU busy through a decode step's short attention) while giving each
// split at least 8 keys (a decode split more: see decodeGroups), and at
// most 64 splits; a chunk that already makes 256 workgroups is not split.
func AttentionSplits(c gpu.Caps, a Attn, T, keys int) int {
	if checkAttn(a, T) != nil {
		return 1
	}
	br, bc, err := attnTiles(c, a.HeadDim, T*(a.Heads/a.KVHeads))
	if err != nil {
		return 1
	}
	groups := int(ceilDiv(T*(a.Heads/a.KVHeads), br)) * a.KVHeads
	if groups >= 256 {
		return 1
	}
	s := min((512+groups-1)/groups, keys/8, 64)
	if T == 1 {
		// bc is attention_decode's tile too (attnDecodeDispatch).
		per := bc
		for per+bc <= decodeSplitKeys && groups*((keys+per-1)/per) > decodeGroups {
			per += bc
		}
		s = min(s, (keys+per-1)/per)
	}
	return max(s, 1)
}

// AttentionSplitScratch is the size in bytes of the scratch buffer of
// AttentionSplitVk: one record (m, l, o[D]) of D+2 floats per query row
// t*nH + h and split.
func AttentionSplitScratch(a Attn, T, splits int) int {
	return 4 * T * a.Heads * splits * (a.HeadDim + 2)
}

// AttentionSplitVk lowers the same attention as AttentionVk as split-K,
// for long contexts (decode over thousands of cached keys): the key range
// of each block is cut into splits runs of whole tiles, each workgroup
// writing its partial softmax to a scratch buffer of
// AttentionSplitScratch(a, T, splits) bytes, then a combine pass merges
// them. Record a barrier between the two dispatches. For one token,
// AttentionDecodeVk does the same in one dispatch where it applies.
//
// Pass 1: for one token without spans (a decode step),
// attention_decode_part_f16 / attention_decode_part_f32 (AttentionDecodeVk's
// records without its merge) when the device and shape suit it (see
// attnDecodeDispatch: subgroup arithmetic and shuffles, D a multiple of 8
// with f16 caches or of 4 with f32 ones, few enough query heads per kv
// head); else
// attention_split_f16[_spans] / attention_split_f32[_spans]. Either way:
// bindings as AttentionVk, with binding 6 the scratch f32 [T*nH, splits,
// D+2] instead of out; push T, Heads, KVHeads, Slots, Window, Scale,
// splits; the same keys per split. Spec: workgroup size, D, BR, BC for
// attention_split; AttentionDecodeVk's for attention_decode_part.
// Pass 2 (attention_combine): bindings 0 scratch, 1 out f32 [T, nH*D];
// push T*nH, splits (at most 256), D; spec workgroup size.
func AttentionSplitVk(c gpu.Caps, a Attn, T, splits int, o AttnOpts) ([]gpu.Dispatch, error) {
	return attentionSplitVk(c, a, T, splits, o, splitPass1{})
}

// splitPass1 chooses pass 1 of split-K attention, for benchmarks and tests.
type splitPass1 struct {
	generic bool         // attention_split even where attention_decode_part would serve
	layout  decodeLayout // attention_decode_part's layout; zero fields: the defaults
}

// attentionSplitVk is AttentionSplitVk with pass 1 as p chooses.
func attentionSplitVk(c gpu.Caps, a Attn, T, splits int, o AttnOpts, p splitPass1) ([]gpu.Dispatch, error) {
	if err := checkSplits(splits); err != nil {
		return nil, err
	}
	var pass1 gpu.Dispatch
	ok := false
	if !p.generic && T == 1 && !o.Spans {
		var err error
		if pass1, ok, err = attnDecodeDispatch(c, a, splits, o.CacheF32, p.layout, decodePart); err != nil {
			return nil, err
		}
	}
	if !ok {
		var err error
		if pass1, err = attnDispatch(c, a, T, splits, "attention_split"+o.suffix()); err != nil {
			return nil, err
		}
	}
	return []gpu.Dispatch{pass1, attnCombineDispatch(c, a, T, splits)}, nil
}

// checkSplits checks a split count against the combine pass's limit.
func checkSplits(splits int) error {
	if splits < 1 {
		return fmt.Errorf("kernels: attention: %d splits", splits)
	}
	if splits > combineMaxSplits {
		return fmt.Errorf("kernels: attention: %d splits, the combine pass takes at most %d", splits, combineMaxSplits)
	}
	return nil
}

// attnCombineDispatch lowers the combine pass of split-K attention
// (attention_combine): a workgroup per row and slice of 64 values.
func attnCombineDispatch(c gpu.Caps, a Attn, T, splits int) gpu.Dispatch {
	rows := T * a.Heads
	wg := min(64, int(attnWG(c)))
	groups := rowGroups(rows)
	groups[2] = ceilDiv(a.HeadDim, wg)
	return gpu.Dispatch{
		Shader: "attention_combine",
		Spec:   []uint32{uint32(wg)},
		Push:   gpu.Push(uint32(rows), uint32(splits), uint32(a.HeadDim)),
		Groups: groups,
	}
}

// Layout limits of attention_decode.
const (
	// Subgroups per workgroup and about the words of keys and values a
	// lane loads per step (two keys of a 256-dim f16 head: KB = 2): on the
	// H100, 8 subgroups of one key a step beat 4 of four (decode of the
	// 1B from 688 to 713 t/s, 4B 375 to 383, 4B at depth 8192 323 to
	// 328), and 2, 6, 12 or 16 subgroups were slower; once the splits were
	// fewer and longer (AttentionSplits), two keys a step beat one for the
	// 4B (Q4_0 477.6 → 482.6 t/s, Q4_K_M 424.3 → 428.3, at depth 8192
	// 371.4 → 373.8) and left the 1B and 270M where they were (within
	// 0.4%), while 8 subgroups of two keys only on the sliding layers, or
	// only on the global ones, or 4 subgroups of two, were slower.
	decodeSubgroups = 8
	decodeLoadWords = 16
	decodeMaxQ      = 128 // most query floats a lane holds in registers (G·NU·UW)
	decodeMaxKB     = 16  // most keys a subgroup loads per step
	// decodeMaxSplits is the most splits attention_decode's last workgroup
	// merges (spec MS: its shared weights); AttentionSplits gives at most
	// as many.
	decodeMaxSplits = 64
)

// decodeUnit is the values in attention_decode's unit, 16 bytes of the
// cache: 8 halves, or 4 floats with f32 caches.
func decodeUnit(cacheF32 bool) int {
	if cacheF32 {
		return 4
	}
	return 8
}

// decodeLayout sets attention_decode's subgroups per workgroup and keys per
// step (KB); zero means the default.
type decodeLayout struct{ subgroups, kb int }

// The forms of attention_decode: the records merged by the last workgroup
// (AttentionDecodeVk), the same from the raw projections
// (AttentionNormRopeVk), or the records only (pass 1 of AttentionSplitVk).
type decodeForm int

const (
	decodeFolded decodeForm = iota
	decodeNormRope
	decodePart
)

// AttentionDecodeSupported reports whether AttentionDecodeVk lowers
// attention a on c (with up to 64 splits): the device has subgroup
// arithmetic and shuffles, the head dim is a multiple of the 16-byte unit
// (8 halves, or 4 floats with f32 caches), there are few enough query rows
// per kv head for a lane's registers, and shared memory holds one
// subgroup's records.
func AttentionDecodeSupported(c gpu.Caps, a Attn, cacheF32 bool) bool {
	_, ok, err := attnDecodeDispatch(c, a, 1, cacheF32, decodeLayout{}, decodeFolded)
	return ok && err == nil
}

// AttentionDecodeVk lowers one token's (T = 1, no spans) attention as
// AttentionSplitVk does with splits splits (at most 64), in ONE dispatch of
// attention_decode_f16 / attention_decode_f32: the workgroup of kv head g
// and split z writes its records (m, l, o[D]) per query row to the scratch
// as AttentionSplitVk's pass 1, then counts itself in on arrivals[g]; the
// last of kv head g to arrive merges the splits of its query rows as the
// combine pass would, writes them to out and sets arrivals[g] back to 0
// (see shaders/attention_decode.comp). It returns an error where
// AttentionDecodeSupported is false.
//
// Bindings: 0 q f32 [1, nH*D]; 1 k f32 [1, nKV*D]; 2 v f32 [1, nKV*D];
// 3 ck, 4 cv caches [Slots, nKV*D]; 5 pos int32 [>= 1]; 6 scratch f32
// [nH, splits, D+2] (AttentionSplitScratch(a, 1, splits) bytes; written,
// then read by the same dispatch); 7 arrivals uint32 [nKV], zero before
// the first run (each run leaves them zero); 8 out f32 [1, nH*D].
// Push: 1, Heads, KVHeads, Slots, Window, Scale, splits.
// Spec: workgroup size, D, G, NU, BC, KB, NS, MS (attnDecodeDispatch).
// Groups: (1, KVHeads, splits).
// The caller ensures the caches hold the keys the token needs (CheckCache)
// and orders the dispatch after the previous user of the arrivals.
func AttentionDecodeVk(c gpu.Caps, a Attn, splits int, cacheF32 bool) (gpu.Dispatch, error) {
	return attentionDecodeVk(c, a, splits, cacheF32, decodeLayout{})
}

// attentionDecodeVk is AttentionDecodeVk with the layout from l.
func attentionDecodeVk(c gpu.Caps, a Attn, splits int, cacheF32 bool, l decodeLayout) (gpu.Dispatch, error) {
	ds, ok, err := attnDecodeDispatch(c, a, splits, cacheF32, l, decodeFolded)
	return suited(ds, ok, err, "attention decode", a)
}

// suited passes on a lowering's dispatch, turning its ok false (the kernel
// does not suit a on the device) into an error naming op.
func suited(ds gpu.Dispatch, ok bool, err error, op string, a Attn) (gpu.Dispatch, error) {
	if err != nil {
		return gpu.Dispatch{}, err
	}
	if !ok {
		return gpu.Dispatch{}, fmt.Errorf("kernels: %s: %d/%d heads of dim %d not supported on this device", op, a.Heads, a.KVHeads, a.HeadDim)
	}
	return ds, nil
}

// attnDecodeDispatch lowers attention_decode in form f for one token (see
// the shader's header), or returns ok false where it does not suit: no
// subgroup arithmetic or shuffles, a head dim that is not a multiple of
// the 16-byte unit (8 halves, or 4 floats with f32 caches), more query
// rows per kv head than a lane's registers should hold (decodeMaxQ), or
// shared memory too small for one subgroup's record per row (and, but for
// decodePart, the merge's weights). The folded forms take 1 to
// decodeMaxSplits splits. decodeNormRope needs the eps push word appended
// (attnNormRopeDispatch).
//
// Layout (l overrides the defaults): workgroups of decodeSubgroups
// subgroups of the device's size S, fewer where shared memory is short;
// group (0, g, z) = (kv head, split). A lane holds NU = ceil(D/UW / Smin)
// units of each of the G = nH/nKV query rows (Smin the least subgroup size
// the device may pick, so that any size covers the row), and a step loads
// KB keys per subgroup: about decodeLoadWords words of keys and values per
// lane, at most decodeMaxKB (KB = 2 for f16 and D = 256 on subgroups of
// 32; at 16 the keys and values alone would take 128 registers). The key
// range is cut with attention.comp's BC for T = 1 (attnTiles), so that the
// splits match it. The layout is the same in every form, so that the
// records are.
func attnDecodeDispatch(c gpu.Caps, a Attn, splits int, f32 bool, l decodeLayout, f decodeForm) (gpu.Dispatch, bool, error) {
	if err := checkAttn(a, 1); err != nil {
		return gpu.Dispatch{}, false, err
	}
	if f != decodePart && (splits < 1 || splits > decodeMaxSplits) {
		return gpu.Dispatch{}, false, fmt.Errorf("kernels: attention decode: %d splits, at most %d", splits, decodeMaxSplits)
	}
	uw := decodeUnit(f32)
	sg := int(c.SubgroupSize)
	minSG := int(c.MinSubgroupSize)
	if minSG == 0 || minSG > sg {
		minSG = sg
	}
	grp := a.Heads / a.KVHeads
	if !c.SubgroupArithmetic || !c.SubgroupShuffle || sg == 0 || a.HeadDim <= 0 || a.HeadDim%uw != 0 {
		return gpu.Dispatch{}, false, nil
	}
	nu := (a.HeadDim/uw + minSG - 1) / minSG
	if grp*nu*uw > decodeMaxQ {
		return gpu.Dispatch{}, false, nil
	}
	// Subgroups: as many as the device's workgroup limit and shared memory
	// allow (a record of D+2 floats per row per subgroup, and the merge's
	// weight per row and split and sum per row), up to decodeSubgroups.
	nsub := decodeSubgroups
	if l.subgroups > 0 {
		nsub = l.subgroups
	}
	if lim := int(c.MaxWorkgroupInvocations); lim > 0 {
		nsub = min(nsub, lim/sg)
	}
	maxSubs := func(n int) int { return (n*sg + minSG - 1) / minSG }
	merge := 4 * grp * (decodeMaxSplits + 1)
	if f == decodePart {
		merge = 0
	}
	for nsub > 0 && maxSubs(nsub)*grp*(a.HeadDim+2)*4+merge > sharedBudget(c) {
		nsub--
	}
	if nsub == 0 {
		return gpu.Dispatch{}, false, nil
	}
	kb := min(max(decodeLoadWords/(8*nu), 1), decodeMaxKB)
	if l.kb > 0 {
		kb = l.kb
	}
	_, bc, err := attnTiles(c, a.HeadDim, grp)
	if err != nil {
		return gpu.Dispatch{}, false, err
	}
	if a.KVHeads > maxGroups || splits > maxGroups {
		return gpu.Dispatch{}, false, fmt.Errorf("kernels: attention: 1×%d×%d workgroups", a.KVHeads, splits)
	}
	cache := "_f16"
	if f32 {
		cache = "_f32"
	}
	return gpu.Dispatch{
		Shader: "attention_decode" + [...]string{"", "_nr", "_part"}[f] + cache,
		Spec: []uint32{uint32(nsub * sg), uint32(a.HeadDim), uint32(grp), uint32(nu), uint32(bc),
			uint32(kb), uint32(maxSubs(nsub)), decodeMaxSplits},
		Push: gpu.Push(1, uint32(a.Heads), uint32(a.KVHeads), uint32(a.Slots), uint32(a.Window),
			gpu.F32(a.Scale), uint32(splits)),
		Groups: [3]uint32{1, uint32(a.KVHeads), uint32(splits)},
	}, true, nil
}

// AttentionFullVk lowers AttentionFull: n tokens of heads heads of dim
// dim, every token seeing every token, flash-style (attention_full).
//
// Bindings: 0 q, 1 k, 2 v f32 [n, heads*dim]; 3 out f32 [n, heads*dim].
// Push: n, heads, scale.  Spec: workgroup size, dim, BR, BC.
func AttentionFullVk(c gpu.Caps, n, heads, dim int, scale float32) (gpu.Dispatch, error) {
	if n <= 0 || heads <= 0 {
		return gpu.Dispatch{}, fmt.Errorf("kernels: attention: %d tokens of %d heads", n, heads)
	}
	br, bc, err := attnTiles(c, dim, n)
	if err != nil {
		return gpu.Dispatch{}, err
	}
	blocks := ceilDiv(n, br)
	if blocks > maxGroups || heads > maxGroups {
		return gpu.Dispatch{}, fmt.Errorf("kernels: attention: %d×%d workgroups", blocks, heads)
	}
	return gpu.Dispatch{
		Shader: "attention_full",
		Spec:   []uint32{attnWG(c), uint32(dim), uint32(br), uint32(bc)},
		Push:   gpu.Push(uint32(n), uint32(heads), gpu.F32(scale)),
		Groups: [3]uint32{blocks, uint32(heads), 1},
	}, nil
}

// CacheWriteVk lowers CacheWrite of a chunk of T tokens at consecutive
// positions pos[0], pos[0]+1, … into the f16 caches (rounded to nearest
// even), or f32 ones with cacheF32 (cache_write_f16 / cache_write_f32).
// Record it after the chunk's attention, with a barrier between.
//
// Bindings: 0 k f32 [T, nKV*D]; 1 v f32 [T, nKV*D]; 2 pos int32 [>= 1];
// 3 ck, 4 cv caches [Slots, nKV*D].
// Push: T, nKV*D, Slots.  Spec: workgroup size.
func CacheWriteVk(c gpu.Caps, a Attn, T int, cacheF32 bool) (gpu.Dispatch, error) {
	if err := checkAttn(a, T); err != nil {
		return gpu.Dispatch{}, err
	}
	w := a.KVHeads * a.HeadDim
	if a.HeadDim%2 != 0 {
		return gpu.Dispatch{}, fmt.Errorf("kernels: cache write: head dim %d is odd", a.HeadDim)
	}
	shader := "cache_write_f16"
	if cacheF32 {
		shader = "cache_write_f32"
	}
	wg := rowWorkgroup(c, 256)
	return gpu.Dispatch{
		Shader: shader,
		Spec:   []uint32{wg},
		Push:   gpu.Push(uint32(T), uint32(w), uint32(a.Slots)),
		Groups: rowGroups(int(ceilDiv(T*w/2, int(wg)))),
	}, nil
}
