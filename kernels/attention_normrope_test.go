package kernels

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

// nrCase is one decode step of AttentionNormRopeVk.
type nrCase struct {
	attnCase     // T = 1
	splits       int
	base, factor float64 // RoPE; 0: 10000, 1
	layout       decodeLayout
}

func (c nrCase) String() string {
	s := fmt.Sprintf("%v/splits=%d", c.attnCase, c.splits)
	if c.base != 0 {
		s += fmt.Sprintf("/base=%g/factor=%g", c.base, c.factor)
	}
	if c.layout != (decodeLayout{}) {
		s += fmt.Sprintf("/subgroups=%d/kb=%d", c.layout.subgroups, c.layout.kb)
	}
	return s
}

var nrCases = []nrCase{
	// The 4B model's shape (GQA 2, D 256): a global layer over 301 keys,
	// and a sliding ring wrapped many times.
	{attnCase: attnCase{d: 256, nH: 8, nKV: 4, slots: 512, p0: 300, T: 1}, splits: 3},
	{attnCase: attnCase{d: 256, nH: 8, nKV: 4, window: 32, slots: 32, p0: 1000, T: 1}, splits: 8},
	{attnCase: attnCase{d: 256, nH: 8, nKV: 4, slots: 512, p0: 300, T: 1, f32: true}, splits: 8, base: 1e6, factor: 8},
	// GQA 1 at the last position angles are reduced for, f32 caches.
	{attnCase: attnCase{d: 256, nH: 4, nKV: 4, window: 16, slots: 16, p0: 131071, T: 1, f32: true}, splits: 2},
	// p0 = 0: the token's own key only; with 8 splits 7 are empty. GQA 4.
	{attnCase: attnCase{d: 256, nH: 4, nKV: 1, slots: 64, p0: 0, T: 1}, splits: 8},
	{attnCase: attnCase{d: 32, nH: 2, nKV: 2, slots: 8, p0: 0, T: 1, f32: true}, splits: 1},
	// D = 32 (a unit's partner in another lane): windows over wrapped rings.
	{attnCase: attnCase{d: 32, nH: 4, nKV: 2, window: 6, slots: 6, p0: 100, T: 1}, splits: 1},
	{attnCase: attnCase{d: 32, nH: 4, nKV: 2, window: 48, slots: 48, p0: 200, T: 1}, splits: 3, base: 1e6, factor: 8},
	{attnCase: attnCase{d: 32, nH: 8, nKV: 2, window: 16, slots: 16, p0: 16, T: 1, f32: true}, splits: 3},
	{attnCase: attnCase{d: 32, nH: 8, nKV: 2, slots: 1024, p0: 700, T: 1, f32: true}, splits: 64},
	// A context shorter than the window: the sliding cache holds it all.
	{attnCase: attnCase{d: 32, nH: 4, nKV: 1, window: 512, slots: 64, p0: 63, T: 1}, splits: 3},
	// Other layouts: one subgroup taking 16 keys a step; 8 taking one.
	{attnCase: attnCase{d: 64, nH: 8, nKV: 4, slots: 1024, p0: 600, T: 1}, splits: 3, layout: decodeLayout{1, 16}},
	{attnCase: attnCase{d: 256, nH: 8, nKV: 4, window: 64, slots: 64, p0: 600, T: 1, f32: true}, splits: 3, layout: decodeLayout{8, 1}},
}

// TestAttentionNormRopeVulkan runs AttentionNormRopeVk (attention_decode_nr,
// one dispatch; twice in a recording and replayed, as runFolded) against
// the CPU sequence it replaces:
// RMSNormRoPE of q, RMSNormRoPE of k with CacheWrite of it and v, then
// Attention. Output within attnTol (as TestAttentionDecodeVulkan: f32
// arithmetic in another order; q and k, normalized and rotated within a
// few f32 ulps, move it by ~1e-6 here). The caches: every row but p0 % Slots
// keeps its bits; in that row the values are bit-exact (f16 rounded to
// nearest even, or f32 as is), the keys within normRoPETol of the CPU
// keys with f32 caches and 1e-3 (one f16 rounding) with f16 ones. The
// read-only inputs come back unchanged.
func TestAttentionNormRopeVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, tc := range nrCases {
		c := tc.attnCase
		t.Run(tc.String(), func(t *testing.T) {
			a := c.attn()
			base, factor := tc.base, tc.factor
			if base == 0 {
				base, factor = 10000, 1
			}
			const eps = 1e-6
			r := rand.New(rand.NewPCG(uint64(c.d*1000+c.nH*100+c.nKV), uint64(c.p0)))
			q, qg, inv := normRoPEInputs(r, 1, c.nH, c.d, base, factor)
			k, kg, _ := normRoPEInputs(r, 1, c.nKV, c.d, base, factor)
			kvw := c.nKV * c.d
			v := randVec(r, kvw)
			ck, cv := roundF16(randVec(r, c.slots*kvw)), roundF16(randVec(r, c.slots*kvw))
			pos := []int32{int32(c.p0)}

			// The CPU sequence.
			qn, kn := make([]float32, len(q)), make([]float32, len(k))
			RMSNormRoPE(qn, q, qg, pos, c.nH, c.d, eps, base, factor, 0, 1)
			RMSNormRoPE(kn, k, kg, pos, c.nKV, c.d, eps, base, factor, 0, 1)
			wantK, wantV := append([]float32(nil), ck...), append([]float32(nil), cv...)
			CacheWrite(wantK, wantV, kn, v, pos, a, 0, 1)
			want := make([]float32, len(q))
			Attention(want, qn, kn, v, wantK, wantV, pos, a, make([]float32, c.p0+1), 0, c.nH)

			ds, err := attentionNormRopeVk(d.Caps(), a, tc.splits, eps, c.f32, tc.layout)
			if err != nil {
				t.Fatal(err)
			}
			in := [][]byte{
				vktest.F32Bytes(q), vktest.F32Bytes(k), vktest.F32Bytes(v),
				cacheBytes(ck, c.f32), cacheBytes(cv, c.f32), vktest.I32Bytes(pos),
				vktest.F32Bytes(qg), vktest.F32Bytes(kg), vktest.F32Bytes(inv),
			}
			// The second dispatch and the replay write the same cache row
			// again, which no key of this token reads: the same output.
			b, out := runFolded(t, d, ds, a, tc.splits, in)
			testutil.CheckClose(t, "attention", out, want, attnTol)
			for i, name := range []string{"q", "k", "v", "", "", "pos"} {
				if name != "" && !bytes.Equal(b.download(i), in[i]) {
					t.Errorf("%s changed", name)
				}
			}
			for i, name := range []string{"qg", "kg", "inv"} {
				if !bytes.Equal(b.download(10+i), in[6+i]) {
					t.Errorf("%s changed", name)
				}
			}

			// The caches.
			row := c.p0 % c.slots
			gotK, gotV := cacheFloats(b.download(3), c.f32), cacheFloats(b.download(4), c.f32)
			if !c.f32 {
				wantV = roundF16(wantV)
			}
			for s := range c.slots {
				gk, gv := gotK[s*kvw:(s+1)*kvw], gotV[s*kvw:(s+1)*kvw]
				wk, wv := wantK[s*kvw:(s+1)*kvw], wantV[s*kvw:(s+1)*kvw]
				if s == row {
					tol := normRoPETol
					if !c.f32 {
						tol = 1e-3
					}
					testutil.CheckClose(t, fmt.Sprintf("cache keys of row %d", s), gk, wk, tol)
				} else if !bytes.Equal(vktest.F32Bytes(gk), vktest.F32Bytes(wk)) {
					t.Errorf("key cache row %d changed", s)
				}
				if !bytes.Equal(vktest.F32Bytes(gv), vktest.F32Bytes(wv)) {
					t.Errorf("value cache row %d: %v…, want %v…", s, gv[:4], wv[:4])
				}
			}
		})
	}
}

// TestAttentionNormRopeLowering checks where the fused lowering applies and
// that it is AttentionDecodeVk's dispatch with eps appended.
func TestAttentionNormRopeLowering(t *testing.T) {
	h100, lvp, a4b := decodeH100, decodeLavapipe, decode4B
	for _, tc := range []struct {
		name string
		c    gpu.Caps
		a    Attn
		f32  bool
		ok   bool
	}{
		{"h100/4b", h100, a4b, false, true},
		{"h100/4b/f32", h100, a4b, true, true},
		{"lavapipe/4b", lvp, a4b, false, true},
		{"lavapipe/gqa16", lvp, Attn{Heads: 16, KVHeads: 1, HeadDim: 256, Scale: 1, Slots: 64}, false, false},
		{"no subgroup ops", gpu.Caps{SubgroupSize: 32, MaxWorkgroupInvocations: 1024}, a4b, false, false},
		// D = 72: a multiple of two 4-float units, not of two 8-half ones.
		{"d=72/f16", h100, Attn{Heads: 4, KVHeads: 2, HeadDim: 72, Scale: 1, Slots: 64}, false, false},
		{"d=72/f32", h100, Attn{Heads: 4, KVHeads: 2, HeadDim: 72, Scale: 1, Slots: 64}, true, true},
		{"d=36/f32", h100, Attn{Heads: 4, KVHeads: 2, HeadDim: 36, Scale: 1, Slots: 64}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AttentionNormRopeSupported(tc.c, tc.a, tc.f32); got != tc.ok {
				t.Fatalf("supported %v, want %v", got, tc.ok)
			}
			ds, err := AttentionNormRopeVk(tc.c, tc.a, 8, 1e-6, tc.f32)
			if !tc.ok {
				if err == nil {
					t.Error("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			plain, err := AttentionDecodeVk(tc.c, tc.a, 8, tc.f32)
			if err != nil {
				t.Fatal(err)
			}
			want := "attention_decode_nr_f16"
			if tc.f32 {
				want = "attention_decode_nr_f32"
			}
			if ds.Shader != want || fmt.Sprint(ds.Spec) != fmt.Sprint(plain.Spec) || ds.Groups != plain.Groups {
				t.Errorf("%s %v %v, want %s and attention_decode's %v %v", ds.Shader, ds.Spec, ds.Groups,
					want, plain.Spec, plain.Groups)
			}
			if wantPush := append(append([]byte{}, plain.Push...), gpu.Push(gpu.F32(1e-6))...); !bytes.Equal(ds.Push, wantPush) {
				t.Errorf("push %v, want %v", ds.Push, wantPush)
			}
		})
	}
}

// BenchmarkAttentionNormRope times a decode step's q/k norms, RoPE, cache
// write and split-K attention at the 4B model's shape over f16 caches:
// "plain" is normrope_f32 (q) and normrope_cache_f16 (k) in one level, then
// attention_decode (two levels); "fused" is attention_decode_nr (one).
// Device time per step, with the barriers, in µs.
func BenchmarkAttentionNormRope(b *testing.B) {
	d := vktest.Device(b)
	c := d.Caps()
	for _, keys := range []int{32, 128, 512, 2048, 8192} {
		a := decodeBenchAttn(keys)
		s := newDecodeBench(b, d, a, keys)
		r := rand.New(rand.NewPCG(uint64(keys), 10))
		_, g, inv := normRoPEInputs(r, 1, 1, a.HeadDim, 10000, 1)
		gain := benchBuffers(b, d, 1, uint64(4*a.HeadDim), vktest.F32Bytes(g))[0]
		invb := benchBuffers(b, d, 1, uint64(4*len(inv)), vktest.F32Bytes(inv))[0]
		qn := benchBuffers(b, d, 1, s.q.Size, vktest.Poisoned(4))[0]
		kn := benchBuffers(b, d, 1, s.k.Size, vktest.Poisoned(4))[0]
		arr := benchBuffers(b, d, 1, uint64(4*a.KVHeads), make([]byte, 4))[0]
		splits := AttentionSplits(c, a, 1, a.Slots+1)
		bind := func(ds gpu.Dispatch, bufs ...gpu.Buffer) *gpu.Bound {
			bd, err := d.Bind(ds, bufs...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(bd.Close)
			return bd
		}
		for _, fused := range []bool{false, true} {
			name := "plain"
			if fused {
				name = "fused"
			}
			b.Run(fmt.Sprintf("keys=%d/splits=%d/%s", keys, splits, name), func(b *testing.B) {
				n := len(s.ck)
				var levels [][][]*gpu.Bound // per cache copy, per level, dispatches
				for i := 0; i < n; i++ {
					if fused {
						ds, err := AttentionNormRopeVk(c, a, splits, 1e-6, false)
						if err != nil {
							b.Fatal(err)
						}
						levels = append(levels, [][]*gpu.Bound{
							{bind(ds, s.q, s.k, s.v, s.ck[i], s.cv[i], s.pos, s.scratch, arr, s.out, gain, gain, invb)},
						})
						continue
					}
					kc, err := RMSNormRoPECacheVk(c, a, 1, 1e-6, false)
					if err != nil {
						b.Fatal(err)
					}
					ds, err := AttentionDecodeVk(c, a, splits, false)
					if err != nil {
						b.Fatal(err)
					}
					levels = append(levels, [][]*gpu.Bound{
						{bind(RMSNormRoPEVk(c, 1, a.Heads, a.HeadDim, 1e-6), s.q, gain, s.pos, invb, qn),
							bind(kc, s.k, gain, s.pos, invb, kn, s.v, s.ck[i], s.cv[i])},
						{bind(ds, qn, kn, s.v, s.ck[i], s.cv[i], s.pos, s.scratch, arr, s.out)},
					})
				}
				times := gpuTimesOf(b, d, 64, func(rec *gpu.Recorder, i int) {
					for _, level := range levels[i%n] {
						for _, bd := range level {
							rec.Dispatch(bd)
						}
						rec.Barrier()
					}
				})
				b.ReportMetric(median(times)*1e6, "us/op")
			})
		}
	}
}
