package kernels

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

// decodeCase is one decode step (T = 1) of split-K attention.
type decodeCase struct {
	attnCase
	splits int
	// generic: the shape does not suit attention_decode (pass 1 stays
	// attention_split).
	generic bool
	layout  decodeLayout // zero: the default
}

var decodeCases = []decodeCase{
	// The 4B model's shape (GQA 2, D 256) over 301 keys: 3 splits, and 64
	// splits of one 16-key tile of which the last 45 see no key.
	{attnCase: attnCase{d: 256, nH: 8, nKV: 4, slots: 512, p0: 300, T: 1}, splits: 3},
	{attnCase: attnCase{d: 256, nH: 8, nKV: 4, slots: 512, p0: 300, T: 1}, splits: 64},
	{attnCase: attnCase{d: 256, nH: 8, nKV: 4, slots: 512, p0: 300, T: 1, f32: true}, splits: 8},
	// Long splits: thousands of keys in one split, one per kv head.
	{attnCase: attnCase{d: 256, nH: 8, nKV: 4, slots: 4096, p0: 2999, T: 1}, splits: 1},
	{attnCase: attnCase{d: 64, nH: 4, nKV: 2, slots: 2048, p0: 1999, T: 1, f32: true}, splits: 1},
	// p0 = 0: the chunk's own key only; with 8 splits 7 are empty.
	{attnCase: attnCase{d: 256, nH: 4, nKV: 1, slots: 64, p0: 0, T: 1}, splits: 8},
	{attnCase: attnCase{d: 64, nH: 2, nKV: 2, slots: 8, p0: 0, T: 1, f32: true}, splits: 1},
	// GQA 1, 2, 4 on sliding windows over wrapped rings (Slots < p0 + 1).
	{attnCase: attnCase{d: 256, nH: 4, nKV: 4, window: 32, slots: 32, p0: 100, T: 1, f32: true}, splits: 3},
	{attnCase: attnCase{d: 64, nH: 8, nKV: 2, window: 48, slots: 48, p0: 200, T: 1}, splits: 8},
	{attnCase: attnCase{d: 64, nH: 4, nKV: 2, window: 512, slots: 512, p0: 1500, T: 1}, splits: 3},
	{attnCase: attnCase{d: 32, nH: 8, nKV: 2, window: 16, slots: 16, p0: 16, T: 1}, splits: 3},
	{attnCase: attnCase{d: 32, nH: 3, nKV: 3, window: 100, slots: 100, p0: 50, T: 1, f32: true}, splits: 8},
	// Many splits over a global layer, f32 and f16.
	{attnCase: attnCase{d: 32, nH: 4, nKV: 2, slots: 1024, p0: 700, T: 1, f32: true}, splits: 64},
	{attnCase: attnCase{d: 64, nH: 4, nKV: 1, slots: 1024, p0: 700, T: 1}, splits: 64},
	// Other layouts: one subgroup taking 16 keys a step; 8 subgroups
	// taking one.
	{attnCase: attnCase{d: 64, nH: 8, nKV: 4, slots: 1024, p0: 600, T: 1}, splits: 3, layout: decodeLayout{1, 16}},
	{attnCase: attnCase{d: 256, nH: 8, nKV: 4, slots: 1024, p0: 600, T: 1, f32: true}, splits: 3, layout: decodeLayout{8, 1}},
	// A peaked softmax (scale 1).
	{attnCase: attnCase{d: 64, nH: 4, nKV: 2, window: 64, slots: 64, p0: 90, T: 1, scale: 1}, splits: 3},
	// D = 36: no whole 8-half unit, so f16 falls back to attention_split;
	// 4-float units suit f32.
	{attnCase: attnCase{d: 36, nH: 4, nKV: 2, slots: 64, p0: 40, T: 1}, splits: 3, generic: true},
	{attnCase: attnCase{d: 36, nH: 4, nKV: 2, slots: 64, p0: 40, T: 1, f32: true}, splits: 3},
}

// runSplit runs a split-K lowering of case c over its inputs and returns
// the scratch and the output.
func runSplit(t *testing.T, d *gpu.Device, c attnCase, in attnInputs, ds []gpu.Dispatch, splits int) (scratch, out []float32) {
	t.Helper()
	n := c.T * c.nH * c.d
	bufs := append(c.bufs(in, AttentionSplitScratch(c.attn(), c.T, splits)), vktest.Poisoned(4*n))
	b := newVkBufs(t, d, bufs...)
	b.run(b.record(splitPasses(ds, c.spans != nil)...))
	for i, name := range []string{"q", "k", "v", "ck", "cv", "pos"} {
		if string(b.download(i)) != string(bufs[i]) {
			t.Errorf("%s changed", name)
		}
	}
	return vktest.Floats(b.download(6)), vktest.Floats(b.download(7))
}

// TestAttentionDecodeVulkan checks split-K attention of one token with
// attention_decode as pass 1 against the CPU reference, and its scratch
// records against attention_split's: the same maxima, sums and
// accumulators where a split sees keys, and the exact empty record
// (MASKED, 0, 0…) where it sees none.
// Tolerance: attnTol (as TestAttentionSplitVulkan: f32 arithmetic in
// another order, f16-exact caches).
func TestAttentionDecodeVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, tc := range decodeCases {
		c := tc.attnCase
		name := fmt.Sprintf("%v/splits=%d", c, tc.splits)
		if tc.layout != (decodeLayout{}) {
			name += fmt.Sprintf("/subgroups=%d/kb=%d", tc.layout.subgroups, tc.layout.kb)
		}
		t.Run(name, func(t *testing.T) {
			opts := AttnOpts{CacheF32: c.f32}
			ds, err := attentionSplitVk(d.Caps(), c.attn(), 1, tc.splits, opts, splitPass1{layout: tc.layout})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.HasPrefix(ds[0].Shader, "attention_decode"); got == tc.generic {
				t.Fatalf("pass 1 is %s", ds[0].Shader)
			}
			in := c.inputs()
			want := c.want(in)
			scratch, out := runSplit(t, d, c, in, ds, tc.splits)
			testutil.CheckClose(t, "attention", out, want, attnTol)

			gen, err := attentionSplitVk(d.Caps(), c.attn(), 1, tc.splits, opts, splitPass1{generic: true})
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := runSplit(t, d, c, in, gen, tc.splits)
			checkRecords(t, scratch, ref, c.d)
		})
	}
}

// emptyRecord reports whether the reference record w is the empty one
// (m = -3e38, l = 0, o = 0), failing t unless record n, g, equals it bit
// for bit.
func emptyRecord(t *testing.T, n int, g, w []float32) bool {
	t.Helper()
	if w[0] != -3.0e38 {
		return false
	}
	for k, x := range g {
		if math.Float32bits(x) != math.Float32bits(w[k]) {
			t.Fatalf("empty record %d: %v, want %v", n, g[:min(len(g), 4)], w[:min(len(w), 4)])
		}
	}
	return true
}

// checkRecords compares split-K scratch records (m, l, o[dim]) with the
// reference ones: empty records bit for bit, the others within attnTol.
func checkRecords(t *testing.T, got, want []float32, dim int) {
	t.Helper()
	rec := dim + 2
	var gm, wm, gv, wv []float32
	empty := 0
	for i := 0; i < len(want); i += rec {
		g, w := got[i:i+rec], want[i:i+rec]
		if emptyRecord(t, i/rec, g, w) {
			empty++
			continue
		}
		gm, wm = append(gm, g[0]), append(wm, w[0])
		gv, wv = append(gv, g[1:]...), append(wv, w[1:]...)
	}
	t.Logf("%d records, %d empty", len(want)/rec, empty)
	testutil.CheckClose(t, "maxima", gm, wm, attnTol)
	testutil.CheckClose(t, "sums and accumulators", gv, wv, attnTol)
}

// The devices and geometry of the one-token attention lowering tests: an
// H100-like device, a lavapipe-like one, the 4B model's heads.
var (
	decodeH100 = gpu.Caps{SubgroupSize: 32, MinSubgroupSize: 32, SubgroupArithmetic: true,
		MaxWorkgroupInvocations: 1024, MaxSharedMemory: 48 << 10}
	decodeLavapipe = gpu.Caps{SubgroupSize: 8, SubgroupArithmetic: true, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 32 << 10}
	decode4B       = Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 1, Slots: 8192}
)

// TestAttentionDecodeLowering checks attention_decode's layout on an
// H100-like device and lavapipe-like one, and where it falls back.
func TestAttentionDecodeLowering(t *testing.T) {
	h100, lvp, a4b := decodeH100, decodeLavapipe, decode4B
	for _, tc := range []struct {
		name   string
		c      gpu.Caps
		a      Attn
		f32    bool
		shader string
		spec   []uint32 // WG, D, G, NU, BC, KB, NS; nil: not checked
	}{
		{"h100/4b", h100, a4b, false, "attention_decode_f16", []uint32{128, 256, 2, 1, 16, 4, 4}},
		{"h100/4b/f32", h100, a4b, true, "attention_decode_f32", []uint32{128, 256, 2, 2, 16, 2, 4}},
		{"lavapipe/4b", lvp, a4b, false, "attention_decode_f16", []uint32{32, 256, 2, 4, 16, 1, 4}},
		// 16 query heads per kv head of 256 dims: 128 floats of queries per
		// lane on the H100, too many on lavapipe.
		{"h100/gqa16", h100, Attn{Heads: 16, KVHeads: 1, HeadDim: 256, Scale: 1, Slots: 64}, false, "attention_decode_f16", nil},
		{"lavapipe/gqa16", lvp, Attn{Heads: 16, KVHeads: 1, HeadDim: 256, Scale: 1, Slots: 64}, false, "attention_split_f16", nil},
		{"no subgroup ops", gpu.Caps{SubgroupSize: 32, MaxWorkgroupInvocations: 1024}, a4b, false, "attention_split_f16", nil},
		{"d=76/f16", h100, Attn{Heads: 4, KVHeads: 1, HeadDim: 76, Scale: 1, Slots: 64}, false, "attention_split_f16", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := AttentionSplitVk(tc.c, tc.a, 1, 8, AttnOpts{CacheF32: tc.f32})
			if err != nil {
				t.Fatal(err)
			}
			p := ds[0]
			if p.Shader != tc.shader {
				t.Fatalf("pass 1 is %s, want %s", p.Shader, tc.shader)
			}
			if !strings.HasPrefix(p.Shader, "attention_decode") {
				return
			}
			if tc.spec != nil && fmt.Sprint(p.Spec) != fmt.Sprint(tc.spec) {
				t.Errorf("spec %v, want %v", p.Spec, tc.spec)
			}
			if p.Groups != [3]uint32{1, uint32(tc.a.KVHeads), 8} {
				t.Errorf("groups %v", p.Groups)
			}
			// Shared memory: NS records of G rows of D+2 floats.
			ns, g, dim := int(p.Spec[6]), int(p.Spec[2]), int(p.Spec[1])
			if bytes := 4 * ns * g * (dim + 2); bytes > sharedBudget(tc.c) {
				t.Errorf("%d bytes of shared memory", bytes)
			}
			gen, err := attentionSplitVk(tc.c, tc.a, 1, 8, AttnOpts{CacheF32: tc.f32}, splitPass1{generic: true})
			if err != nil {
				t.Fatal(err)
			}
			if string(gen[0].Push) != string(p.Push) {
				t.Errorf("push %v, attention_split's %v", p.Push, gen[0].Push)
			}
			if int(p.Spec[4]) != int(gen[0].Spec[3]) {
				t.Errorf("BC %d, attention_split's %d", p.Spec[4], gen[0].Spec[3])
			}
		})
	}
}
