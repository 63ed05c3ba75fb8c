package kernels

import "gemmavk/gpu"

// One decode step's attention from the raw q and k projections: the q/k
// norm, RoPE and KV-cache write of RMSNormRoPEVk / RMSNormRoPECacheVk
// folded into attention_decode (its NORMROPE variants), so that they take
// no dispatch level of their own.

// AttentionNormRopeSupported reports whether AttentionNormRopeVk lowers
// attention a on c: AttentionDecodeVk does (subgroup arithmetic and
// shuffles, few enough query rows per kv head, shared memory for one
// subgroup's records and the merge's weights) and the head dim is a
// multiple of two 16-byte units
// (16 with f16 caches, 8 with f32 ones), so that the rotate-half partner of
// a unit is a whole unit.
func AttentionNormRopeSupported(c gpu.Caps, a Attn, cacheF32 bool) bool {
	_, ok, err := attnNormRopeDispatch(c, a, 1, 0, cacheF32, decodeLayout{})
	return ok && err == nil
}

// AttentionNormRopeVk lowers one token's (T = 1) attention from the raw
// projections, as split-K attention with splits splits (at most 64), in ONE
// dispatch:
//
//	q' = RMSNormRoPE(q, qg, pos), k' = RMSNormRoPE(k, kg, pos)
//	CacheWrite(ck, cv, k', v, pos)       (f16 rounded to nearest even, or f32)
//	out = Attention(q', k', v, ck, cv, pos)
//
// RMSNormRoPE with eps and the table inv of RoPEInvFreq(D, base, factor),
// shared by q and k. The dispatch is attention_decode_nr_f16 / _f32,
// AttentionDecodeVk's with the norms folded in: the workgroups normalize
// and rotate their own query rows, and the one whose split holds key
// p0 = pos[0] the key, which it also writes to cache row p0 % Slots; the
// last workgroup of each kv head merges the splits into out. The caller
// ensures that no key the token sees lives in that row (p0 - lo < Slots for
// the token's first key lo: a sliding ring of Window slots or more, or a
// cache holding the whole context); see the shader's header. It returns an
// error where AttentionNormRopeSupported is false.
//
// Bindings: 0 q f32 [1, nH*D] (before the norm); 1 k f32 [1, nKV*D]
// (before the norm); 2 v f32 [1, nKV*D]; 3 ck, 4 cv caches [Slots, nKV*D]
// (read and written); 5 pos int32 [>= 1]; 6 scratch f32 [nH, splits, D+2]
// (AttentionSplitScratch); 7 arrivals uint32 [nKV], zero before the first
// run (each run leaves them zero); 8 out f32 [1, nH*D]; 9 qg f32 [D];
// 10 kg f32 [D]; 11 inv f32 [D/2].
// Push: 1, Heads, KVHeads, Slots, Window, Scale, splits, eps.
// Spec: as AttentionDecodeVk (workgroup size, D, G, NU, BC, KB, NS, MS).
// Groups: (1, KVHeads, splits).
func AttentionNormRopeVk(c gpu.Caps, a Attn, splits int, eps float32, cacheF32 bool) (gpu.Dispatch, error) {
	return attentionNormRopeVk(c, a, splits, eps, cacheF32, decodeLayout{})
}

// attentionNormRopeVk is AttentionNormRopeVk with attention_decode's layout
// from l.
func attentionNormRopeVk(c gpu.Caps, a Attn, splits int, eps float32, cacheF32 bool, l decodeLayout) (gpu.Dispatch, error) {
	ds, ok, err := attnNormRopeDispatch(c, a, splits, eps, cacheF32, l)
	return suited(ds, ok, err, "attention norm rope", a)
}

// attnNormRopeDispatch lowers AttentionNormRopeVk, or returns ok false
// where attention_decode does not suit a or the head dim is not a multiple
// of two units.
func attnNormRopeDispatch(c gpu.Caps, a Attn, splits int, eps float32, cacheF32 bool, l decodeLayout) (gpu.Dispatch, bool, error) {
	if a.HeadDim%(2*decodeUnit(cacheF32)) != 0 {
		return gpu.Dispatch{}, false, nil
	}
	ds, ok, err := attnDecodeDispatch(c, a, splits, cacheF32, l, decodeNormRope)
	if !ok || err != nil {
		return gpu.Dispatch{}, ok, err
	}
	ds.Push = append(ds.Push, gpu.Push(gpu.F32(eps))...)
	return ds, true, nil
}
