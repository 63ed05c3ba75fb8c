package kernels

import (
	"fmt"

	"gemmavk/gpu"
)

// Fused q/k norm, RoPE and KV-cache write of the Gemma 3 attention block
// (shaders/normrope.comp): one dispatch where RMSNormVk, RoPEVk and
// CacheWriteVk would take three or four.

// RMSNormRoPE normalizes every head of x by RMSNorm with gain g, then
// rotates it by RoPE (GEMMA3.md §1.2, §2):
//
//	y[t][h] = RoPE(RMSNorm(x[t][h], g), pos[t])
//
// x and y are [T, heads*dim] with dim = len(g) (g already 1 + w); tokens t
// in [t0, t1) are computed. y may alias x. It is RMSNorm over the rows of
// heads followed by RoPE, so its bits equal the unfused path's.
func RMSNormRoPE(y, x, g []float32, pos []int32, heads, dim int, eps float32, base, factor float64, t0, t1 int) {
	RMSNorm(y, x, g[:dim], eps, t0*heads, t1*heads)
	RoPE(y, pos, heads, dim, base, factor, t0, t1)
}

// RMSNormRoPEVk lowers RMSNormRoPE over T tokens of heads heads of dim
// values (dim even) on the GPU (normrope_f32), typically the queries.
//
// Bindings: 0 x f32 [T, heads*dim]; 1 g f32 [dim]; 2 pos int32 [T];
// 3 inv f32 [dim/2], the table of RoPEInvFreq(dim, base, factor);
// 4 y f32 [T, heads*dim] (may be bound to x's buffer).
// Push: T, heads, eps, 0.  Spec: workgroup size, dim.
// Positions are read on the GPU, so a recorded step replays with new ones;
// angles are reduced as RoPEVk's (accurate for |pos*inv[j]| < 4.1e5).
func RMSNormRoPEVk(c gpu.Caps, T, heads, dim int, eps float32) gpu.Dispatch {
	return gpu.Dispatch{
		Shader: "normrope_f32",
		Spec:   []uint32{rowWorkgroup(c, dim/2), uint32(dim)},
		Push:   gpu.Push(uint32(T), uint32(heads), gpu.F32(eps), 0),
		Groups: rowGroups(T * heads),
	}
}

// RMSNormRoPECacheVk lowers the key path of an attention block for a chunk
// of T tokens at consecutive positions pos[0], pos[0]+1, …: RMSNormRoPE of
// the keys (kout), then CacheWrite of kout and v into the f16 ring caches
// (rounded to nearest even, as CacheWriteVk), or f32 ones with cacheF32
// (normrope_cache_f16 / normrope_cache_f32). Each (token, kv head)
// workgroup writes its head's D keys and D values to cache row
// (pos[0]+t) % Slots; when T > Slots only the last token of a row writes
// it, so the caches end as after CacheWriteVk.
//
// The cache write happens before the chunk's attention rather than after
// it (CacheWriteVk's order), so the caller may use it only where no token
// of the chunk reads a cache row that the chunk overwrites: decode (T = 1:
// the row held position pos[0]-Slots, outside any window the cache serves)
// or a chunk whose rows do not wrap onto keys it still needs. Attention
// then takes the chunk's keys from kout and v as before. The graph
// executor decides; elsewhere use RMSNormRoPEVk, attention, CacheWriteVk.
//
// Bindings: 0 k f32 [T, nKV*D] (before the norm); 1 g f32 [D];
// 2 pos int32 [>= T] (only pos[0] is read); 3 inv f32 [D/2]
// (RoPEInvFreq); 4 kout f32 [T, nKV*D] (may be bound to k's buffer);
// 5 v f32 [T, nKV*D]; 6 ck, 7 cv caches [Slots, nKV*D].
// Push: T, nKV, eps, Slots.  Spec: workgroup size, D.
func RMSNormRoPECacheVk(c gpu.Caps, a Attn, T int, eps float32, cacheF32 bool) (gpu.Dispatch, error) {
	if err := checkAttn(a, T); err != nil {
		return gpu.Dispatch{}, err
	}
	d := a.HeadDim
	if d <= 0 || d%2 != 0 {
		return gpu.Dispatch{}, fmt.Errorf("kernels: norm rope cache: head dim %d is not a positive even number", d)
	}
	shader := "normrope_cache_f32"
	if !cacheF32 {
		shader = "normrope_cache_f16"
		// The row of keys in shared memory, beside the reduction slots.
		if 4*d+4*64 > sharedBudget(c) {
			return gpu.Dispatch{}, fmt.Errorf("kernels: norm rope cache: head dim %d does not fit in %d bytes of shared memory", d, sharedBudget(c))
		}
	}
	rows := T * a.KVHeads
	if rows > maxGroups*maxGroups {
		return gpu.Dispatch{}, fmt.Errorf("kernels: norm rope cache: %d rows", rows)
	}
	return gpu.Dispatch{
		Shader: shader,
		Spec:   []uint32{rowWorkgroup(c, d/2), uint32(d)},
		Push:   gpu.Push(uint32(T), uint32(a.KVHeads), gpu.F32(eps), uint32(a.Slots)),
		Groups: rowGroups(rows),
	}, nil
}
