package kernels

import (
	"bytes"
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
	// 1024 keys in 64 splits of one tile each: the merge reads every split.
	{attnCase: attnCase{d: 256, nH: 8, nKV: 4, slots: 1024, p0: 1023, T: 1}, splits: 64},
	// Long splits: thousands of keys in one split, one per kv head.
	{attnCase: attnCase{d: 256, nH: 8, nKV: 4, slots: 4096, p0: 2999, T: 1}, splits: 1},
	{attnCase: attnCase{d: 64, nH: 4, nKV: 2, slots: 2048, p0: 1999, T: 1, f32: true}, splits: 1},
	// Three query rows per kv head: a step's scores padded to a power of two.
	{attnCase: attnCase{d: 64, nH: 6, nKV: 2, slots: 256, p0: 200, T: 1}, splits: 8},
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

// Buffers of runFolded: the inputs (q, k, v, ck, cv, pos, and for the
// NORMROPE form qg, kg, inv after them), then these.
const (
	foldScratch  = 6 // records
	foldArrivals = 7 // counters, zero
	foldOut      = 8 // out of the first dispatch
	foldOut2     = 9 // out of the second
)

// runFolded runs the one-dispatch lowering ds (AttentionDecodeVk's or
// AttentionNormRopeVk's, with bindings 0-5 in[0:6], then scratch,
// arrivals, out, then in[6:]) twice in one recording with a barrier
// between, the two dispatches sharing scratch and counters but writing
// separate outputs, and replays the recording once more with the outputs
// and the scratch poisoned again: every output must be the first one bit
// for bit (the merge's order does not depend on which workgroup comes
// last), which only holds if the last workgroup of each kv head resets its
// counter. It fails t unless the counters are zero after each run, and
// returns the buffers after the replay (foldScratch etc.) and the first
// output.
func runFolded(t *testing.T, d *gpu.Device, ds gpu.Dispatch, a Attn, splits int, in [][]byte) (*vkBufs, []float32) {
	t.Helper()
	n := 4 * a.Heads * a.HeadDim
	scratch := AttentionSplitScratch(a, 1, splits)
	bufs := append(append([][]byte{}, in[:6]...), vktest.Poisoned(scratch), make([]byte, 4*a.KVHeads),
		vktest.Poisoned(n), vktest.Poisoned(n))
	bufs = append(bufs, in[6:]...)
	b := newVkBufs(t, d, bufs...)
	extra := []int{}
	for i := range in[6:] {
		extra = append(extra, 10+i)
	}
	bind := func(out int) []int {
		return append([]int{0, 1, 2, 3, 4, 5, foldScratch, foldArrivals, out}, extra...)
	}
	rec := b.record(vkPass{ds, bind(foldOut)}, vkPass{ds, bind(foldOut2)})
	var first []byte
	for run := range 2 {
		if run > 0 {
			b.upload(foldScratch, vktest.Poisoned(scratch))
			b.upload(foldOut, vktest.Poisoned(n))
			b.upload(foldOut2, vktest.Poisoned(n))
		}
		b.run(rec)
		if got := vktest.Ints(b.download(foldArrivals)); fmt.Sprint(got) != fmt.Sprint(make([]int32, a.KVHeads)) {
			t.Fatalf("run %d: counters %v after the run", run, got)
		}
		if run == 0 {
			first = b.download(foldOut)
		}
		for _, o := range []int{foldOut, foldOut2} {
			if got := b.download(o); !bytes.Equal(got, first) {
				t.Fatalf("run %d, dispatch %d: out differs from the first run's: %v…, want %v…", run, o-foldOut+1,
					vktest.Floats(got)[:4], vktest.Floats(first)[:4])
			}
		}
	}
	return b, vktest.Floats(first)
}

// TestAttentionDecodeVulkan checks AttentionDecodeVk (attention_decode in
// one dispatch) against the CPU reference, run twice in a recording and
// replayed (runFolded); its scratch records against attention_split's: the
// same maxima, sums and accumulators where a split sees keys (it writes
// none where a split sees none); and AttentionSplitVk with
// attention_decode_part as pass 1 (the same records bit for bit, the exact
// empty record (MASKED, 0, 0…) where a split sees no key, and the
// combine's output against the reference). Shapes
// attention_decode does not suit must be refused, and AttentionSplitVk
// must fall back to attention_split for them.
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
			a, opts := c.attn(), AttnOpts{CacheF32: c.f32}
			in := c.inputs()
			want := c.want(in)
			part, err := attentionSplitVk(d.Caps(), a, 1, tc.splits, opts, splitPass1{layout: tc.layout})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.HasPrefix(part[0].Shader, "attention_decode_part"); got == tc.generic {
				t.Fatalf("pass 1 is %s", part[0].Shader)
			}
			ds, err := attentionDecodeVk(d.Caps(), a, tc.splits, c.f32, tc.layout)
			if tc.generic {
				if err == nil || AttentionDecodeSupported(d.Caps(), a, c.f32) {
					t.Fatalf("lowered as %s", ds.Shader)
				}
				_, out := runSplit(t, d, c, in, part, tc.splits)
				testutil.CheckClose(t, "attention (attention_split)", out, want, attnTol)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			inb := c.bufs(in, 0)[:6]
			b, out := runFolded(t, d, ds, a, tc.splits, inb)
			testutil.CheckClose(t, "attention", out, want, attnTol)
			for i, name := range []string{"q", "k", "v", "ck", "cv", "pos"} {
				if !bytes.Equal(b.download(i), inb[i]) {
					t.Errorf("%s changed", name)
				}
			}
			scratch := vktest.Floats(b.download(foldScratch))

			gen, err := attentionSplitVk(d.Caps(), a, 1, tc.splits, opts, splitPass1{generic: true})
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := runSplit(t, d, c, in, gen, tc.splits)
			checkRecords(t, scratch, ref, c.d, false)

			partScratch, partOut := runSplit(t, d, c, in, part, tc.splits)
			checkRecords(t, partScratch, ref, c.d, true)
			rec := c.d + 2
			for i := 0; i < len(ref); i += rec {
				if ref[i] != -3.0e38 && !bytes.Equal(vktest.F32Bytes(partScratch[i:i+rec]), vktest.F32Bytes(scratch[i:i+rec])) {
					t.Fatalf("record %d: attention_decode_part's differs from attention_decode's", i/rec)
				}
			}
			testutil.CheckClose(t, "attention (attention_decode_part and the combine)", partOut, want, attnTol)
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
// reference ones: the others within attnTol, and empty records bit for bit
// when empties is set (else they are skipped: the one-dispatch kernel
// writes no record for a split without keys, whose merge never reads it).
func checkRecords(t *testing.T, got, want []float32, dim int, empties bool) {
	t.Helper()
	rec := dim + 2
	var gm, wm, gv, wv []float32
	empty := 0
	for i := 0; i < len(want); i += rec {
		g, w := got[i:i+rec], want[i:i+rec]
		if (!empties && w[0] == -3.0e38) || (empties && emptyRecord(t, i/rec, g, w)) {
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
	decodeH100 = gpu.Caps{SubgroupSize: 32, MinSubgroupSize: 32, SubgroupArithmetic: true, SubgroupShuffle: true,
		MaxWorkgroupInvocations: 1024, MaxSharedMemory: 48 << 10}
	decodeLavapipe = gpu.Caps{SubgroupSize: 8, SubgroupArithmetic: true, SubgroupShuffle: true, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 32 << 10}
	decode4B       = Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 1, Slots: 8192}
)

// TestAttentionDecodeLowering checks attention_decode's layout on an
// H100-like device and lavapipe-like one, where it falls back, and that
// AttentionSplitVk's pass 1 is its records-only form with the same layout.
func TestAttentionDecodeLowering(t *testing.T) {
	h100, lvp, a4b := decodeH100, decodeLavapipe, decode4B
	for _, tc := range []struct {
		name   string
		c      gpu.Caps
		a      Attn
		f32    bool
		shader string   // "": not supported
		spec   []uint32 // WG, D, G, NU, BC, KB, NS, MS; nil: not checked
	}{
		{"h100/4b", h100, a4b, false, "attention_decode_f16", []uint32{256, 256, 2, 1, 16, 2, 8, 64}},
		{"h100/4b/f32", h100, a4b, true, "attention_decode_f32", []uint32{256, 256, 2, 2, 16, 1, 8, 64}},
		{"lavapipe/4b", lvp, a4b, false, "attention_decode_f16", []uint32{64, 256, 2, 4, 16, 1, 8, 64}},
		// 16 query heads per kv head of 256 dims: 128 floats of queries per
		// lane on the H100, too many on lavapipe.
		{"h100/gqa16", h100, Attn{Heads: 16, KVHeads: 1, HeadDim: 256, Scale: 1, Slots: 64}, false, "attention_decode_f16", nil},
		{"lavapipe/gqa16", lvp, Attn{Heads: 16, KVHeads: 1, HeadDim: 256, Scale: 1, Slots: 64}, false, "", nil},
		{"no subgroup ops", gpu.Caps{SubgroupSize: 32, MaxWorkgroupInvocations: 1024}, a4b, false, "", nil},
		{"d=76/f16", h100, Attn{Heads: 4, KVHeads: 1, HeadDim: 76, Scale: 1, Slots: 64}, false, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const splits = 8
			split, err := AttentionSplitVk(tc.c, tc.a, 1, splits, AttnOpts{CacheF32: tc.f32})
			if err != nil {
				t.Fatal(err)
			}
			gen, err := attentionSplitVk(tc.c, tc.a, 1, splits, AttnOpts{CacheF32: tc.f32}, splitPass1{generic: true})
			if err != nil {
				t.Fatal(err)
			}
			ds, err := AttentionDecodeVk(tc.c, tc.a, splits, tc.f32)
			if got := AttentionDecodeSupported(tc.c, tc.a, tc.f32); got != (tc.shader != "") {
				t.Fatalf("supported %v", got)
			}
			if tc.shader == "" {
				if err == nil {
					t.Errorf("lowered as %s", ds.Shader)
				}
				if split[0].Shader != gen[0].Shader {
					t.Errorf("AttentionSplitVk's pass 1 is %s, want %s", split[0].Shader, gen[0].Shader)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ds.Shader != tc.shader {
				t.Fatalf("shader %s, want %s", ds.Shader, tc.shader)
			}
			if tc.spec != nil && fmt.Sprint(ds.Spec) != fmt.Sprint(tc.spec) {
				t.Errorf("spec %v, want %v", ds.Spec, tc.spec)
			}
			if ds.Groups != [3]uint32{1, uint32(tc.a.KVHeads), splits} {
				t.Errorf("groups %v", ds.Groups)
			}
			// Shared memory: NS records of G rows of D+2 floats, and the
			// merge's MS weights and one sum per row.
			ns, g, dim, ms := int(ds.Spec[6]), int(ds.Spec[2]), int(ds.Spec[1]), int(ds.Spec[7])
			if sh := 4*ns*g*(dim+2) + 4*g*(ms+1); sh > sharedBudget(tc.c) {
				t.Errorf("%d bytes of shared memory", sh)
			}
			if string(gen[0].Push) != string(ds.Push) {
				t.Errorf("push %v, attention_split's %v", ds.Push, gen[0].Push)
			}
			if int(ds.Spec[4]) != int(gen[0].Spec[3]) {
				t.Errorf("BC %d, attention_split's %d", ds.Spec[4], gen[0].Spec[3])
			}
			p := split[0]
			if want := strings.Replace(ds.Shader, "decode", "decode_part", 1); p.Shader != want ||
				fmt.Sprint(p.Spec) != fmt.Sprint(ds.Spec) || p.Groups != ds.Groups || !bytes.Equal(p.Push, ds.Push) {
				t.Errorf("AttentionSplitVk's pass 1 %s %v %v %v, want %s and AttentionDecodeVk's %v %v %v",
					p.Shader, p.Spec, p.Groups, p.Push, want, ds.Spec, ds.Groups, ds.Push)
			}
		})
	}
	// Splits: the merge takes 1 to decodeMaxSplits; AttentionSplitVk's
	// combine more.
	for _, splits := range []int{0, decodeMaxSplits + 1} {
		if _, err := AttentionDecodeVk(h100, a4b, splits, false); err == nil {
			t.Errorf("%d splits accepted", splits)
		}
	}
	if ds, err := AttentionSplitVk(h100, a4b, 1, decodeMaxSplits+1, AttnOpts{}); err != nil || ds[0].Shader != "attention_decode_part_f16" {
		t.Errorf("AttentionSplitVk with %d splits: %v", decodeMaxSplits+1, err)
	}
}

// BenchmarkAttentionDecodeFolded times AttentionDecodeVk (one dispatch and
// its barrier per step) at BenchmarkAttentionDecode's shapes and splits,
// whose decode/split figures are the two-pass forms of the same step.
func BenchmarkAttentionDecodeFolded(b *testing.B) {
	d := vktest.Device(b)
	for _, keys := range []int{64, 512, 8192} {
		a := decodeBenchAttn(keys)
		set := newDecodeBench(b, d, a, keys)
		arr := benchBuffers(b, d, 1, uint64(4*a.KVHeads), make([]byte, 4))[0]
		seen := map[int]bool{}
		for _, splits := range []int{AttentionSplits(d.Caps(), a, 1, keys), AttentionSplits(d.Caps(), a, 1, a.Slots+1)} {
			if seen[splits] {
				continue
			}
			seen[splits] = true
			b.Run(fmt.Sprintf("keys=%d/splits=%d", keys, splits), func(b *testing.B) {
				ds, err := AttentionDecodeVk(d.Caps(), a, splits, false)
				if err != nil {
					b.Fatal(err)
				}
				bound := make([]*gpu.Bound, len(set.ck))
				for i := range bound {
					if bound[i], err = d.Bind(ds, set.q, set.k, set.v, set.ck[i], set.cv[i], set.pos, set.scratch, arr, set.out); err != nil {
						b.Fatal(err)
					}
					defer bound[i].Close()
				}
				times := gpuTimes(b, d, 4*len(bound), func(i int) *gpu.Bound { return bound[i%len(bound)] })
				b.ReportMetric(median(times)*1e6, "us/op")
			})
		}
	}
}
