package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
	"gemmavk/shaders"
)

// Tolerance of attention on cooperative matrices against the reference fed
// the same f16-rounded inputs: the probabilities are rounded to f16 for
// P·V (2^-11 relative each, with the sums taken over the rounded values),
// everything else is f32 in another order; 2e-3 of the largest output.
const attnCoopTol = 2e-3

// span returns T span ids, id on tokens [from, to) and 0 elsewhere.
func span(T, from, to int, id int32) []int32 {
	s := make([]int32, T)
	for i := from; i < to; i++ {
		s[i] = id
	}
	return s
}

var attnCoopCases = []attnCase{
	// Prefill from 0, GQA 2: 200 rows, the last of 7 blocks partial.
	{d: 256, nH: 8, nKV: 4, slots: 512, p0: 0, T: 100},
	// GQA 4 after 37 cached tokens: keys 0..100, the last tile partial.
	{d: 256, nH: 4, nKV: 1, slots: 256, p0: 37, T: 64},
	// GQA 8, a little cached.
	{d: 128, nH: 8, nKV: 1, slots: 64, p0: 3, T: 17},
	// Sliding, the ring wrapped, GQA 1, the chunk longer than the window.
	{d: 128, nH: 4, nKV: 4, window: 16, slots: 16, p0: 40, T: 17},
	// Peaked scores (scale 1): the running max moves past the threshold,
	// so the accumulators are rescaled; sliding and global.
	{d: 128, nH: 8, nKV: 4, window: 24, slots: 24, p0: 50, T: 64, scale: 1},
	{d: 256, nH: 4, nKV: 2, slots: 128, p0: 30, T: 100, scale: 1},
	// Small head dims: 2 blocks of 16 columns (one per subgroup), 3 (two,
	// one).
	{d: 32, nH: 2, nKV: 1, slots: 128, p0: 20, T: 100},
	{d: 48, nH: 4, nKV: 2, slots: 64, p0: 5, T: 17},
	// One token.
	{d: 256, nH: 8, nKV: 4, slots: 64, p0: 0, T: 1},
	{d: 128, nH: 8, nKV: 4, slots: 64, p0: 20, T: 1, f32: true},
	// Images: a span across tiles and blocks; a window shorter than the
	// image.
	{d: 256, nH: 8, nKV: 4, slots: 128, p0: 10, T: 64, spans: span(64, 20, 52, 1)},
	{d: 128, nH: 4, nKV: 2, window: 8, slots: 8, p0: 40, T: 17, spans: span(17, 3, 15, 2)},
	// f32 caches.
	{d: 128, nH: 8, nKV: 4, window: 16, slots: 16, p0: 40, T: 64, f32: true},
	{d: 256, nH: 4, nKV: 2, slots: 128, p0: 9, T: 17, spans: span(17, 4, 11, 3), f32: true},
}

// stageF16 is x·scale as attention_coop stages it: clamped to the f16
// range and rounded to f16.
func stageF16(x []float32, scale float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(stagedF16(v * scale))
	}
	return out
}

// coopWant is the reference for attention_coop: AttentionSpans of the
// inputs as the kernel stages them (q·Scale, k, v and the caches in f16).
func (c attnCase) coopWant(in attnInputs) []float32 {
	a := c.attn()
	q := stageF16(in.q, a.Scale)
	a.Scale = 1
	out := make([]float32, c.T*c.nH*c.d)
	AttentionSpans(out, q, stageF16(in.k, 1), stageF16(in.v, 1), stageF16(in.ck, 1), stageF16(in.cv, 1),
		in.pos, c.spans, a, make([]float32, c.p0+c.T), 0, c.T*c.nH)
	return out
}

// attnCoopKeyRange is the key range [lo, hi) of the block of rows from row0 of
// one kv head, as attention_coop.comp's main computes it (p_first, p_last,
// lo, hi); nrows = T*grp.
func attnCoopKeyRange(T, grp, p0, window, row0 int, spans bool) (lo, hi int) {
	nrows := T * grp
	pFirst := p0 + row0/grp
	pLast := p0 + (min(row0+attnCoopRows, nrows)-1)/grp
	if window > 0 && pFirst+1 > window {
		lo = pFirst + 1 - window
	}
	hi = pLast + 1
	if spans {
		hi = p0 + T
	}
	return lo, hi
}

// attnCoopRowIndex is the row t*nH + h of q and out of kv head g's row r,
// as the shader's row_index.
func attnCoopRowIndex(r, grp, g, nH int) int {
	t := r / grp
	return t*nH + g*grp + r - t*grp
}

// attnCoopSplitRange is split z's run of whole tiles of the block range
// [lo, hi), as attention_coop.comp (and attention.comp) cut it with SPLIT.
func attnCoopSplitRange(lo, hi, splits, z int) (int, int) {
	bc := attnCoopKeys
	per := ((hi-lo+splits-1)/splits + bc - 1) / bc * bc
	lo = min(hi, lo+z*per)
	return lo, min(hi, lo+per)
}

// attnCoopModel computes what attention_coop computes, block by block,
// subgroup row half by row half and tile by tile in the shader's order
// (f16 staging, the per-row mask from jlo, jhi and the row's span, the
// softmax split over tpr lanes per row with their shuffle-tree max and sum,
// the thresholded running max, f16 probabilities, f32 sums), without the
// matrix tiling; it also counts the rows rescaled. It checks the shader's
// index math and its softmax without a device. With splits > 1 it computes
// attention_coop_split's records (m the reference max, l, o; the empty
// record for a row without keys in its split) and merges them as
// attention_combine does.
func attnCoopModel(c attnCase, in attnInputs, tpr, splits int) coopModel {
	const masked, thresh = float32(-3.0e38), 8
	bc := attnCoopKeys
	cpt := bc / tpr
	a := c.attn()
	D, grp, kvw, p0 := c.d, c.nH/c.nKV, c.nKV*c.d, c.p0
	nrows := c.T * grp
	q := stageF16(in.q, a.Scale)
	k, v, ck, cv := stageF16(in.k, 1), stageF16(in.v, 1), stageF16(in.ck, 1), stageF16(in.cv, 1)
	out := make([]float32, c.T*c.nH*D)
	for i := range out {
		out[i] = float32(math.NaN())
	}
	rec := D + 2
	scratch := make([]float32, c.T*c.nH*splits*rec)
	for i := range scratch {
		scratch[i] = float32(math.NaN())
	}
	zero := make([]float32, D)
	rescales, empty := 0, 0
	for g := 0; g < c.nKV; g++ {
		for row0 := 0; row0 < nrows; row0 += attnCoopRows {
			blo, bhi := attnCoopKeyRange(c.T, grp, p0, c.window, row0, c.spans != nil)
			for z := 0; z < splits; z++ {
				lo, hi := blo, bhi
				if splits > 1 {
					lo, hi = attnCoopSplitRange(blo, bhi, splits, z)
				}
				keyEnd := hi
				tile := func(j int, values bool) []float32 { // kv_at
					switch {
					case j >= keyEnd:
						return zero
					case j >= p0 && values:
						return v[(j-p0)*kvw+g*D:][:D]
					case j >= p0:
						return k[(j-p0)*kvw+g*D:][:D]
					case values:
						return cv[(j%c.slots)*kvw+g*D:][:D]
					}
					return ck[(j%c.slots)*kvw+g*D:][:D]
				}
				for brow := 0; brow < attnCoopRows; brow++ {
					r := row0 + brow
					rvalid := r < nrows
					rp := p0 + r/grp
					jlo := 0
					if c.window != 0 && rp >= c.window {
						jlo = rp + 1 - c.window
					}
					jhi := 0
					if rvalid {
						jhi = min(rp+1, keyEnd)
					}
					var rspan int32
					if rvalid && c.spans != nil {
						rspan = c.spans[r/grp]
					}
					allowed := func(j int) bool {
						ok := j >= jlo && j < jhi
						if rspan != 0 && j >= jhi && j < keyEnd {
							ok = c.spans[j-p0] == rspan
						}
						return ok
					}
					var qr []float32
					if rvalid {
						qr = q[attnCoopRowIndex(r, grp, g, c.nH)*D:][:D]
					}
					m, l := masked, float32(0)
					o := make([]float32, D)
					for j0 := lo; j0 < hi; j0 += bc {
						s := make([]float32, bc)
						mxl := make([]float32, tpr) // each lane's max
						for i := range mxl {
							mxl[i] = masked
						}
						for jc := range s {
							s[jc] = masked
							if allowed(j0 + jc) {
								s[jc] = quant.DotF32(qr, tile(j0+jc, false))
							}
							mxl[jc/cpt] = max(mxl[jc/cpt], s[jc])
						}
						mx := shuffleTree(mxl, func(x, y float32) float32 { return max(x, y) })
						alpha := float32(1)
						if mx > m+thresh {
							if m != masked {
								alpha = float32(math.Exp(float64(m - mx)))
								rescales++
							}
							m = mx
						}
						for d := range o {
							o[d] *= alpha
						}
						suml := make([]float32, tpr)
						for jc, sc := range s {
							if sc == masked {
								continue
							}
							p := quant.F16ToF32(quant.F32ToF16(float32(math.Exp(float64(sc - m)))))
							suml[jc/cpt] += p
							quant.AddScaledF32(o, p, tile(j0+jc, true))
						}
						l = l*alpha + shuffleTree(suml, func(x, y float32) float32 { return x + y })
					}
					if !rvalid {
						continue
					}
					row := attnCoopRowIndex(r, grp, g, c.nH)
					if splits == 1 {
						dst := out[row*D:][:D]
						for d := range dst {
							dst[d] = o[d] / l
						}
						continue
					}
					// The record as the shader writes it.
					dst := scratch[(row*splits+z)*rec:][:rec]
					if m == masked {
						empty++
						dst[0], dst[1] = masked, 0
						clear(dst[2:])
						continue
					}
					dst[0], dst[1] = m, l
					copy(dst[2:], o)
				}
			}
		}
	}
	if splits == 1 {
		return coopModel{out: out, rescales: rescales}
	}
	combineModel(out, scratch, c.T*c.nH, splits, D)
	return coopModel{out, scratch, rescales, empty}
}

// coopModel is attnCoopModel's result: the output, the split records
// (splits > 1), the rows rescaled and the empty records of valid rows.
type coopModel struct {
	out, scratch    []float32
	rescales, empty int
}

// combineModel merges split-K records (m, l, o[dim]) of rows rows as
// attention_combine does: M = max m_s, w_s = exp(m_s - M) (0 for an empty
// record), out = Σ w_s o_s / Σ w_s l_s.
func combineModel(out, scratch []float32, rows, splits, dim int) {
	const masked = float32(-3.0e38)
	rec := dim + 2
	w := make([]float32, splits)
	for r := 0; r < rows; r++ {
		recs := scratch[r*splits*rec:][:splits*rec]
		mx := masked
		for s := range w {
			mx = max(mx, recs[s*rec])
		}
		var l float32
		for s := range w {
			w[s] = 0
			if m := recs[s*rec]; m != masked {
				w[s] = float32(math.Exp(float64(m - mx)))
			}
			l += w[s] * recs[s*rec+1]
		}
		for d := 0; d < dim; d++ {
			var acc float32
			for s := range w {
				if w[s] != 0 {
					acc += w[s] * recs[s*rec+2+d]
				}
			}
			out[r*dim+d] = acc / l
		}
	}
}

// shuffleTree combines the values of n lanes (a power of 2) as the
// shader's subgroupShuffleXor loop does and returns lane 0's result.
func shuffleTree(x []float32, f func(a, b float32) float32) float32 {
	x = append([]float32(nil), x...)
	for s := 1; s < len(x); s <<= 1 {
		y := make([]float32, len(x))
		for i := range x {
			y[i] = f(x[i], x[i^s])
		}
		x = y
	}
	return x[0]
}

// coopSplitCase is a case of split-K attention on cooperative matrices.
type coopSplitCase struct {
	attnCase
	splits int
	empty  bool // some valid rows see no key in some split
}

func (c coopSplitCase) String() string { return fmt.Sprintf("%v/splits=%d", c.attnCase, c.splits) }

var attnCoopSplitCases = []coopSplitCase{
	// The 4B model's heads from 0, GQA 2: blocks of 16 tokens with 1 or 2
	// tiles, so the second split of the first blocks is empty.
	{attnCase{d: 256, nH: 8, nKV: 4, slots: 512, p0: 0, T: 64}, 2, true},
	// GQA 1, T = 200: 7 blocks of 1 to 7 tiles in 3 splits; the first
	// blocks leave splits empty.
	{attnCase{d: 128, nH: 4, nKV: 4, slots: 256, p0: 0, T: 200}, 3, true},
	// T = 512, GQA 2: the longest block's 16 tiles in runs of 3, so its
	// seventh split is empty.
	{attnCase{d: 64, nH: 2, nKV: 1, slots: 512, p0: 0, T: 512}, 7, true},
	// More splits than tiles everywhere.
	{attnCase{d: 64, nH: 4, nKV: 2, slots: 64, p0: 0, T: 64}, 7, true},
	// Sliding, the ring wrapped, cached keys.
	{attnCase{d: 128, nH: 8, nKV: 4, window: 64, slots: 64, p0: 100, T: 200}, 3, true},
	// Global after 150 cached tokens, f32 caches.
	{attnCase{d: 256, nH: 4, nKV: 2, slots: 512, p0: 150, T: 200, f32: true}, 2, false},
	// Peaked scores (scale 1): maxima move past the threshold within
	// splits, so a record's m is a moved reference, not its first tile's.
	{attnCase{d: 128, nH: 4, nKV: 2, slots: 256, p0: 40, T: 200, scale: 1}, 3, true},
	// Images: spans widen every block's range to the chunk's end.
	{attnCase{d: 128, nH: 8, nKV: 4, slots: 256, p0: 30, T: 64, spans: span(64, 10, 50, 1)}, 3, true},
	{attnCase{d: 128, nH: 4, nKV: 2, window: 48, slots: 48, p0: 60, T: 100, spans: span(100, 40, 90, 2), f32: true}, 2, true},
}

// TestAttentionCoopModel checks the shader's algorithm, mirrored in Go,
// against the reference on the kernel test's cases, and that the peaked
// cases take the rescaling path; then the split variant's records merged
// as attention_combine merges them (index math of the cut, the record's
// max, empty records) on the split cases. Tolerance: attnCoopTol.
func TestAttentionCoopModel(t *testing.T) {
	check := func(t *testing.T, c attnCase, splits int, empty bool) {
		in := c.inputs()
		want := c.coopWant(in)
		// Subgroups of 32 (2 lanes per softmax row) and 16 (1).
		for _, tpr := range []int{2, 1} {
			got := attnCoopModel(c, in, tpr, splits)
			testutil.CheckClose(t, "model", got.out, want, attnCoopTol)
			// And against the reference without f16 rounding, loosely.
			testutil.CheckClose(t, "model against f32", got.out, c.want(in), 1e-2)
			if c.scale == 1 && got.rescales == 0 {
				t.Error("no row was rescaled")
			}
			if (got.empty > 0) != empty {
				t.Errorf("%d empty records", got.empty)
			}
			t.Logf("%d lanes per row: %d rescales, %d empty records", tpr, got.rescales, got.empty)
		}
	}
	for _, c := range attnCoopCases {
		t.Run(c.String(), func(t *testing.T) { check(t, c, 1, false) })
	}
	for _, c := range attnCoopSplitCases {
		t.Run(c.String(), func(t *testing.T) { check(t, c.attnCase, c.splits, c.empty) })
	}
}

// TestAttentionCoopVulkan checks attention_coop against the reference fed
// the kernel's f16-rounded inputs. Tolerance: attnCoopTol.
func TestAttentionCoopVulkan(t *testing.T) {
	d := coopDevice(t)
	for _, c := range attnCoopCases {
		t.Run(c.String(), func(t *testing.T) {
			in := c.inputs()
			want := c.coopWant(in)
			ds, err := AttentionCoopVk(d.Caps(), c.attn(), c.T, AttnOpts{Spans: c.spans != nil, CacheF32: c.f32})
			if err != nil {
				t.Fatal(err)
			}
			bufs := c.bufs(in, 4*len(want))
			out := vktest.RunOn(t, d, ds, bufs...)
			testutil.CheckClose(t, "attention_coop", vktest.Floats(out[6]), want, attnCoopTol)
			for i, name := range []string{"q", "k", "v", "ck", "cv", "pos"} {
				if !bytes.Equal(out[i], bufs[i]) {
					t.Errorf("%s changed", name)
				}
			}
		})
	}
}

// TestAttentionCoopSplitVulkan checks split-K attention on cooperative
// matrices (attention_coop_split, then attention_combine) against the
// reference fed the kernel's f16-rounded inputs, and its records against
// the model's: the same rows empty, bit for bit (m = -3e38, l = 0, o = 0),
// and the same normalized partials o/l elsewhere (independent of which
// reference max each side took). Tolerance: attnCoopTol (as
// TestAttentionCoopVulkan; the merge is f32).
func TestAttentionCoopSplitVulkan(t *testing.T) {
	d := coopDevice(t)
	for _, tc := range attnCoopSplitCases {
		if tc.spans != nil {
			continue // not supported (AttentionCoopSplitVk)
		}
		t.Run(tc.String(), func(t *testing.T) {
			c := tc.attnCase
			in := c.inputs()
			ds, err := AttentionCoopSplitVk(d.Caps(), c.attn(), c.T, tc.splits, AttnOpts{Spans: c.spans != nil, CacheF32: c.f32})
			if err != nil {
				t.Fatal(err)
			}
			scratch, out := runSplit(t, d, c, in, ds, tc.splits)
			testutil.CheckClose(t, "attention", out, c.coopWant(in), attnCoopTol)
			model := attnCoopModel(c, in, int(d.Caps().SubgroupSize)/16, tc.splits)
			checkCoopRecords(t, scratch, model.scratch, c.d)
		})
	}
}

// checkCoopRecords compares attention_coop_split's records (m, l, o[dim])
// with the model's: empty ones bit for bit, the others' o/l within
// attnCoopTol over all of them.
func checkCoopRecords(t *testing.T, got, want []float32, dim int) {
	t.Helper()
	rec := dim + 2
	var gp, wp []float32
	empty := 0
	for i := 0; i < len(want); i += rec {
		g, w := got[i:i+rec], want[i:i+rec]
		if emptyRecord(t, i/rec, g, w) {
			empty++
			continue
		}
		if g[0] == -3.0e38 || !(g[1] > 0) {
			t.Fatalf("record %d: m %g, l %g; the model's m %g, l %g", i/rec, g[0], g[1], w[0], w[1])
		}
		for k := 2; k < rec; k++ {
			gp, wp = append(gp, g[k]/g[1]), append(wp, w[k]/w[1])
		}
	}
	t.Logf("%d records, %d empty", len(want)/rec, empty)
	testutil.CheckClose(t, "partials o/l", gp, wp, attnCoopTol)
}

// TestAttentionCoopVkLowering checks the lowering's grid, constants and
// errors, and the shared memory of the Gemma 3 head dims, without a device.
func TestAttentionCoopVkLowering(t *testing.T) {
	h100 := gpu.Caps{CoopMat: true, SubgroupShuffle: true, SubgroupSize: 32, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 48 << 10}
	a := Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 0.0625, Window: 1024, Slots: 1024}
	ds, err := AttentionCoopVk(h100, a, 512, AttnOpts{Spans: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Shader != "attention_coop_f16_spans" || fmt.Sprint(ds.Spec) != "[128 256]" || ds.Groups != [3]uint32{32, 4, 1} {
		t.Errorf("dispatch %s spec %v groups %v", ds.Shader, ds.Spec, ds.Groups)
	}
	scalar, err := AttentionVk(h100, a, 512, AttnOpts{Spans: true})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ds.Push, scalar.Push) {
		t.Errorf("push %x, attention's %x", ds.Push, scalar.Push)
	}
	if got := attnCoopShared(256); got != 48640 || got > 48<<10 {
		t.Errorf("D = 256: %d bytes of shared memory", got)
	}
	if got := attnCoopShared(128); got != 32256 {
		t.Errorf("D = 128: %d bytes of shared memory", got)
	}
	checkCoopVariants(t, "attention_coop", AttnOpts{}, AttnOpts{Spans: true}, AttnOpts{CacheF32: true}, AttnOpts{CacheF32: true, Spans: true})

	small := h100
	small.MaxSharedMemory = 32 << 10
	noShuffle := h100
	noShuffle.SubgroupShuffle = false
	narrow := h100
	narrow.MaxWorkgroupInvocations = 64
	sg8 := h100
	sg8.SubgroupSize = 8
	for _, tc := range []struct {
		name string
		caps gpu.Caps
		a    Attn
		T    int
	}{
		{"no coopmat", gpu.Caps{SubgroupSize: 32, SubgroupShuffle: true, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 48 << 10}, a, 64},
		{"no shuffle", noShuffle, a, 64},
		{"no subgroup size", gpu.Caps{CoopMat: true, SubgroupShuffle: true}, a, 64},
		{"workgroup too large", narrow, a, 64},
		{"subgroup 8", sg8, a, 64},
		{"32 KiB shared, D = 256", small, a, 64},
		{"D = 72", h100, Attn{Heads: 4, KVHeads: 2, HeadDim: 72, Scale: 1, Slots: 64}, 64},
		{"D = 0", h100, Attn{Heads: 4, KVHeads: 2, Scale: 1, Slots: 64}, 64},
		{"heads 6 over 4", h100, Attn{Heads: 6, KVHeads: 4, HeadDim: 128, Scale: 1, Slots: 64}, 64},
		{"no slots", h100, Attn{Heads: 8, KVHeads: 4, HeadDim: 128, Scale: 1}, 64},
		{"no tokens", h100, a, 0},
		{"too many blocks", h100, Attn{Heads: 32, KVHeads: 1, HeadDim: 128, Scale: 1, Slots: 64}, 70000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := AttentionCoopVk(tc.caps, tc.a, tc.T, AttnOpts{}); err == nil {
				t.Fatal("lowered")
			}
			if tc.T > 0 && tc.T < 70000 && AttentionCoopSupported(tc.caps, tc.a) {
				t.Fatal("reported as supported")
			}
		})
	}
	if !AttentionCoopSupported(small, Attn{Heads: 32, KVHeads: 16, HeadDim: 128, Scale: 1, Slots: 1024}) {
		t.Error("D = 128 not supported in 32 KiB")
	}
}

// TestAttentionCoopSplitLowering checks the split lowering's passes and
// the split counts AttentionCoopSplits picks, without a device.
func TestAttentionCoopSplitLowering(t *testing.T) {
	h100 := gpu.Caps{CoopMat: true, SubgroupShuffle: true, SubgroupSize: 32, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 48 << 10}
	a4b := Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 0.0625, Slots: 4096}
	ds, err := AttentionCoopSplitVk(h100, a4b, 512, 2, AttnOpts{CacheF32: true})
	if err != nil {
		t.Fatal(err)
	}
	unsplit, err := AttentionCoopVk(h100, a4b, 512, AttnOpts{CacheF32: true})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := AttentionSplitVk(h100, a4b, 512, 2, AttnOpts{CacheF32: true})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case len(ds) != 2:
		t.Fatalf("%d passes", len(ds))
	case ds[0].Shader != "attention_coop_split_f32" || fmt.Sprint(ds[0].Spec) != fmt.Sprint(unsplit.Spec) ||
		ds[0].Groups != [3]uint32{32, 4, 2}:
		t.Errorf("pass 1 %s spec %v groups %v", ds[0].Shader, ds[0].Spec, ds[0].Groups)
	case !bytes.Equal(ds[0].Push, ref[0].Push):
		t.Errorf("push %x, attention_split's %x", ds[0].Push, ref[0].Push)
	case fmt.Sprint(ds[1]) != fmt.Sprint(ref[1]):
		t.Errorf("combine %+v, attention_split's %+v", ds[1], ref[1])
	}
	if _, err := AttentionCoopSplitVk(h100, a4b, 512, 2, AttnOpts{Spans: true}); err == nil {
		t.Error("lowered with image spans")
	}
	checkCoopVariants(t, "attention_coop_split", AttnOpts{}, AttnOpts{CacheF32: true})
	for _, splits := range []int{0, combineMaxSplits + 1} {
		if _, err := AttentionCoopSplitVk(h100, a4b, 512, splits, AttnOpts{}); err == nil {
			t.Errorf("%d splits lowered", splits)
		}
	}
	if _, err := AttentionCoopSplitVk(gpu.Caps{SubgroupSize: 32}, a4b, 512, 2, AttnOpts{}); err == nil {
		t.Error("lowered without cooperative matrices")
	}

	for _, tc := range []struct {
		name string
		caps gpu.Caps
		a    Attn
		T    int
		want int
	}{
		// 128 blocks: about a wave already.
		{"4b/T=512", h100, a4b, 512, 1},
		{"4b/sliding/T=512", h100, Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 1, Window: 1024, Slots: 1024}, 512, 1},
		// 64 blocks: 4 fill the GPU, 4 tiles each at most.
		{"1b/T=512", h100, Attn{Heads: 4, KVHeads: 1, HeadDim: 256, Scale: 1, Window: 512, Slots: 512}, 512, 4},
		// 512 blocks already.
		{"27b/T=512", h100, Attn{Heads: 32, KVHeads: 16, HeadDim: 128, Scale: 1, Slots: 4096}, 512, 1},
		// Short ranges: at most 7 tiles (T = 200) or T <= 64.
		{"4b/T=200", h100, a4b, 200, 1},
		{"4b/T=64", h100, a4b, 64, 1},
		{"1b/T=64", h100, Attn{Heads: 4, KVHeads: 1, HeadDim: 256, Scale: 1, Slots: 4096}, 64, 1},
		{"no coopmat", gpu.Caps{SubgroupSize: 32}, a4b, 512, 1},
		{"no tokens", h100, a4b, 0, 1},
	} {
		if got := AttentionCoopSplits(tc.caps, tc.a, tc.T); got != tc.want {
			t.Errorf("%s: %d splits, want %d", tc.name, got, tc.want)
		}
	}
}

// BenchmarkAttentionCoop times prefill attention on cooperative matrices
// beside the scalar flash kernel at the 4B model's shapes (8 query heads
// over 4, D = 256; a first chunk and one after 512 cached tokens, global
// and sliding), the 1B model's (4 over 1, D = 256) and the 27B model's (32
// over 16, D = 128), in µs and in TFLOP/s of the products the mask lets
// through. coop-split is split-K (both passes, with the barrier after
// each) at AttentionCoopSplits' count, coop-split=N at N splits (first
// chunks of the 4B and 1B models, to tune the count).
func BenchmarkAttentionCoop(b *testing.B) {
	d := coopDevice(b)
	r := rand.New(rand.NewPCG(8, 9))
	const maxSplits = 8
	for _, s := range []struct {
		name  string
		a     Attn
		p0    int
		T     int
		tunes bool // also time fixed split counts
	}{
		{"4b/global", Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 0.0625, Slots: 4096}, 0, 512, true},
		{"4b/global", Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 0.0625, Slots: 4096}, 512, 512, false},
		{"4b/sliding", Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 0.0625, Window: 1024, Slots: 1024}, 1536, 512, false},
		{"1b/global", Attn{Heads: 4, KVHeads: 1, HeadDim: 256, Scale: 0.0625, Slots: 4096}, 0, 512, true},
		{"27b/global", Attn{Heads: 32, KVHeads: 16, HeadDim: 128, Scale: 0.0884, Slots: 4096}, 0, 512, false},
	} {
		a, T := s.a, s.T
		qw, kvw := a.Heads*a.HeadDim, a.KVHeads*a.HeadDim
		bufs := []gpu.Buffer{
			benchBuffers(b, d, 1, uint64(4*T*qw), vktest.F32Bytes(randVec(r, 4096)))[0],
			benchBuffers(b, d, 1, uint64(4*T*kvw), vktest.F32Bytes(randVec(r, 4096)))[0],
			benchBuffers(b, d, 1, uint64(4*T*kvw), vktest.F32Bytes(randVec(r, 4096)))[0],
			benchBuffers(b, d, 1, uint64(2*a.Slots*kvw), f16Bytes(randVec(r, 4096)))[0],
			benchBuffers(b, d, 1, uint64(2*a.Slots*kvw), f16Bytes(randVec(r, 4096)))[0],
			benchBuffers(b, d, 1, 4, vktest.I32Bytes([]int32{int32(s.p0)}))[0],
			benchBuffers(b, d, 1, uint64(4*T*qw), vktest.Poisoned(4))[0],
		}
		scratch := benchBuffers(b, d, 1, uint64(AttentionSplitScratch(a, T, maxSplits)), vktest.Poisoned(4))[0]
		var keys float64
		for t := 0; t < T; t++ {
			lo, hi := a.KeyRange(s.p0 + t)
			keys += float64(hi - lo)
		}
		flops := 4 * keys * float64(qw)
		one := func(lower func() (gpu.Dispatch, error)) func() ([]gpu.Dispatch, error) {
			return func() ([]gpu.Dispatch, error) {
				ds, err := lower()
				return []gpu.Dispatch{ds}, err
			}
		}
		type kernel struct {
			name  string
			lower func() ([]gpu.Dispatch, error)
		}
		ks := []kernel{
			{"coop", one(func() (gpu.Dispatch, error) { return AttentionCoopVk(d.Caps(), a, T, AttnOpts{}) })},
			{"flash", one(func() (gpu.Dispatch, error) { return AttentionVk(d.Caps(), a, T, AttnOpts{}) })},
		}
		split := func(n int) func() ([]gpu.Dispatch, error) {
			return func() ([]gpu.Dispatch, error) { return AttentionCoopSplitVk(d.Caps(), a, T, n, AttnOpts{}) }
		}
		if n := AttentionCoopSplits(d.Caps(), a, T); n > 1 && n <= maxSplits {
			ks = append(ks, kernel{"coop-split", split(n)})
		}
		if s.tunes {
			for _, n := range []int{2, 3, 4, 8} {
				ks = append(ks, kernel{fmt.Sprintf("coop-split=%d", n), split(n)})
			}
		}
		for _, k := range ks {
			b.Run(fmt.Sprintf("%s/p0=%d/T=%d/kernel=%s", s.name, s.p0, T, k.name), func(b *testing.B) {
				ds, err := k.lower()
				if err != nil {
					b.Skip(err)
				}
				// One pass: bindings as AttentionVk; two: pass 1 into the
				// scratch, then the combine into out.
				binds := [][]gpu.Buffer{bufs}
				if len(ds) == 2 {
					binds = [][]gpu.Buffer{append(append([]gpu.Buffer(nil), bufs[:6]...), scratch), {scratch, bufs[6]}}
				}
				var bound []*gpu.Bound
				for i, p := range ds {
					bd, err := d.Bind(p, binds[i]...)
					if err != nil {
						b.Fatal(err)
					}
					defer bd.Close()
					bound = append(bound, bd)
				}
				times := gpuTimes(b, d, 10*len(bound), func(i int) *gpu.Bound { return bound[i%len(bound)] })
				op := median(times) * float64(len(bound))
				b.ReportMetric(flops/op/1e12, "TFLOP/s")
				b.ReportMetric(op*1e6, "us/op")
			})
		}
	}
}

// checkCoopVariants checks the manifest entries of prefix's variants for
// opts: they need cooperative matrices and shuffles, and have the spans
// binding (8 in all) exactly with Spans.
func checkCoopVariants(t *testing.T, prefix string, opts ...AttnOpts) {
	t.Helper()
	for _, o := range opts {
		name := prefix + o.suffix()
		sh, err := shaders.Lookup(name)
		if err != nil {
			t.Error(err)
		} else if fmt.Sprint(sh.Requires) != "[coopmat shuffle]" || (sh.Bindings == 8) != o.Spans {
			t.Errorf("%s: requires %v, %d bindings", name, sh.Requires, sh.Bindings)
		}
	}
}
