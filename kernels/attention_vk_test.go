package kernels

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
)

// Tolerance of the attention parity tests: every input is f32 or exactly
// f16-representable, and both sides compute in f32 (the reference sums the
// softmax in float64), so the only differences are summation order (tiles
// with a running-max rescale against two passes), fma and the GPU's exp (a
// few ulp): far below 1e-4 relative to the largest output.
const attnTol = 1e-4

// roundF16 returns x rounded to the nearest half, as f32.
func roundF16(x []float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = quant.F16ToF32(quant.F32ToF16(v))
	}
	return out
}

// f16Bytes packs x as little-endian halves (two per uint word, low half
// first), rounding to nearest even.
func f16Bytes(x []float32) []byte {
	out := make([]byte, 2*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint16(out[2*i:], quant.F32ToF16(v))
	}
	return out
}

// f16Floats decodes little-endian halves.
func f16Floats(b []byte) []float32 {
	out := make([]float32, len(b)/2)
	for i := range out {
		out[i] = quant.F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

// cacheBytes is the GPU image of an f32 cache whose values are already
// f16-representable when f16 is used.
func cacheBytes(x []float32, f32 bool) []byte {
	if f32 {
		return vktest.F32Bytes(x)
	}
	return f16Bytes(x)
}

func cacheFloats(b []byte, f32 bool) []float32 {
	if f32 {
		return vktest.Floats(b)
	}
	return f16Floats(b)
}

// attnCase is one chunk of attention over a ring cache.
type attnCase struct {
	d, nH, nKV    int
	window, slots int
	p0, T         int
	spans         []int32 // nil: no span buffer
	f32           bool    // f32 cache
	scale         float32 // 0: 1/sqrt(D)
}

func (c attnCase) attn() Attn {
	s := c.scale
	if s == 0 {
		s = float32(1 / math.Sqrt(float64(c.d)))
	}
	return Attn{Heads: c.nH, KVHeads: c.nKV, HeadDim: c.d, Scale: s, Window: c.window, Slots: c.slots}
}

func (c attnCase) String() string {
	s := fmt.Sprintf("d=%d/nH=%d/nKV=%d/W=%d/slots=%d/p0=%d/T=%d", c.d, c.nH, c.nKV, c.window, c.slots, c.p0, c.T)
	if c.spans != nil {
		s += fmt.Sprintf("/spans=%v", c.spans)
	}
	if c.f32 {
		s += "/cache=f32"
	}
	return s
}

// attnInputs are a case's seeded random inputs: q, k, v of the chunk and
// caches filled in every slot with f16-representable values.
type attnInputs struct {
	q, k, v, ck, cv []float32
	pos             []int32
}

func (c attnCase) inputs() attnInputs {
	r := rand.New(rand.NewPCG(uint64(c.d*1000+c.nH*100+c.nKV), uint64(c.p0*100+c.T)))
	kvw := c.nKV * c.d
	in := attnInputs{
		q:   randVec(r, c.T*c.nH*c.d),
		k:   randVec(r, c.T*kvw),
		v:   randVec(r, c.T*kvw),
		ck:  roundF16(randVec(r, c.slots*kvw)),
		cv:  roundF16(randVec(r, c.slots*kvw)),
		pos: make([]int32, c.T),
	}
	for t := range in.pos {
		in.pos[t] = int32(c.p0 + t)
	}
	return in
}

func (c attnCase) want(in attnInputs) []float32 {
	a := c.attn()
	out := make([]float32, c.T*c.nH*c.d)
	AttentionSpans(out, in.q, in.k, in.v, in.ck, in.cv, in.pos, c.spans, a, make([]float32, c.p0+c.T), 0, c.T*c.nH)
	return out
}

// attnBufs returns the buffers of AttentionVk in binding order, out (or
// scratch) poisoned with n bytes.
func (c attnCase) bufs(in attnInputs, outBytes int) [][]byte {
	b := [][]byte{
		vktest.F32Bytes(in.q), vktest.F32Bytes(in.k), vktest.F32Bytes(in.v),
		cacheBytes(in.ck, c.f32), cacheBytes(in.cv, c.f32),
		vktest.I32Bytes(in.pos), vktest.Poisoned(outBytes),
	}
	if c.spans != nil {
		b = append(b, vktest.I32Bytes(c.spans))
	}
	return b
}

var attnCases = []attnCase{
	// Empty cache, one token; GQA 4.
	{d: 256, nH: 4, nKV: 1, slots: 64, p0: 0, T: 1},
	// GQA 2, global, cache and chunk.
	{d: 256, nH: 8, nKV: 4, slots: 64, p0: 20, T: 3},
	// Sliding, ring wrapped (positions 40..46 with 16 slots), GQA 1.
	{d: 128, nH: 4, nKV: 4, window: 16, slots: 16, p0: 40, T: 7},
	{d: 128, nH: 8, nKV: 4, window: 16, slots: 16, p0: 45, T: 1},
	// SigLIP's head dim, GQA 4 and 2.
	{d: 72, nH: 4, nKV: 1, slots: 32, p0: 5, T: 7},
	{d: 72, nH: 4, nKV: 2, window: 16, slots: 16, p0: 40, T: 3},
	// Prefill from position 0; 3 blocks, the last one partial (74 rows of 32).
	{d: 128, nH: 4, nKV: 2, slots: 64, p0: 0, T: 37},
	// Chunk longer than the window; 2 blocks of 16 rows with D = 256.
	{d: 256, nH: 4, nKV: 1, window: 4, slots: 4, p0: 40, T: 7},
	// A peaked softmax (scale 1) on a window.
	{d: 128, nH: 4, nKV: 2, window: 16, slots: 16, p0: 33, T: 3, scale: 1},
	// Image runs in the middle of the chunk: global, and a window shorter
	// than the image (the image still sees all of itself).
	{d: 256, nH: 8, nKV: 4, slots: 32, p0: 10, T: 7, spans: []int32{0, 1, 1, 1, 2, 2, 0}},
	{d: 128, nH: 4, nKV: 2, window: 2, slots: 2, p0: 40, T: 7, spans: []int32{0, 3, 3, 3, 3, 0, 0}},
	{d: 72, nH: 4, nKV: 1, slots: 16, p0: 0, T: 7, spans: []int32{0, 0, 5, 5, 5, 0, 0}},
	// f32 caches.
	{d: 128, nH: 8, nKV: 4, window: 16, slots: 16, p0: 40, T: 3, f32: true},
	{d: 72, nH: 4, nKV: 2, slots: 16, p0: 9, T: 7, spans: []int32{0, 0, 1, 1, 1, 0, 0}, f32: true},
}

// Tolerance: attnTol (f32 arithmetic in another order, f16-exact caches).
func TestAttentionVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, c := range attnCases {
		t.Run(c.String(), func(t *testing.T) {
			in := c.inputs()
			want := c.want(in)
			ds, err := AttentionVk(d.Caps(), c.attn(), c.T, AttnOpts{Spans: c.spans != nil, CacheF32: c.f32})
			if err != nil {
				t.Fatal(err)
			}
			bufs := c.bufs(in, 4*len(want))
			out := vktest.Run(t, ds, bufs...)
			testutil.CheckClose(t, "attention", vktest.Floats(out[6]), want, attnTol)
			for i, name := range []string{"q", "k", "v", "ck", "cv", "pos"} {
				if !bytes.Equal(out[i], bufs[i]) {
					t.Errorf("%s changed", name)
				}
			}
		})
	}
}

// vkPass is one dispatch of a multi-pass run and the indices of the
// buffers it binds, in binding order.
type vkPass struct {
	ds   gpu.Dispatch
	bind []int
}

// vkBufs are device buffers, each followed by guard words, freed when the
// test ends.
type vkBufs struct {
	t    testing.TB
	d    *gpu.Device
	bufs []gpu.Buffer
	size []int
}

const bufGuard = 0x5ca1ab1e

func newVkBufs(t testing.TB, d *gpu.Device, contents ...[]byte) *vkBufs {
	t.Helper()
	b := &vkBufs{t: t, d: d}
	for _, c := range contents {
		n := (len(c) + 3) &^ 3
		buf, err := d.Alloc(uint64(n+4*16), gpu.DeviceLocal)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Free(buf) })
		b.bufs = append(b.bufs, buf)
		b.size = append(b.size, len(c))
		b.upload(len(b.bufs)-1, c)
	}
	return b
}

// upload replaces buffer i's contents (and rewrites its guard).
func (b *vkBufs) upload(i int, c []byte) {
	b.t.Helper()
	n := (b.size[i] + 3) &^ 3
	img := make([]byte, n+4*16)
	copy(img, c)
	for w := n; w < len(img); w += 4 {
		binary.LittleEndian.PutUint32(img[w:], bufGuard)
	}
	if err := b.d.Upload(b.bufs[i], img); err != nil {
		b.t.Fatal(err)
	}
}

// download returns buffer i's contents, failing when its guard changed.
func (b *vkBufs) download(i int) []byte {
	b.t.Helper()
	n := (b.size[i] + 3) &^ 3
	img := make([]byte, n+4*16)
	if err := b.d.Download(img, b.bufs[i]); err != nil {
		b.t.Fatal(err)
	}
	for w := n; w < len(img); w += 4 {
		if binary.LittleEndian.Uint32(img[w:]) != bufGuard {
			b.t.Fatalf("buffer %d written past its end", i)
		}
	}
	return img[:b.size[i]]
}

// record binds the passes and records them with a barrier between each;
// the recording is closed when the test ends.
func (b *vkBufs) record(passes ...vkPass) *gpu.Recording {
	b.t.Helper()
	rec, err := b.d.NewRecorder(gpu.RecordOptions{})
	if err != nil {
		b.t.Fatal(err)
	}
	for i, p := range passes {
		views := make([]gpu.Buffer, len(p.bind))
		for j, k := range p.bind {
			views[j] = b.bufs[k].Slice(0, uint64((b.size[k]+3)&^3))
		}
		bound, err := b.d.Bind(p.ds, views...)
		if err != nil {
			b.t.Fatalf("bind %s: %v", p.ds.Shader, err)
		}
		b.t.Cleanup(bound.Close)
		if i > 0 {
			rec.Barrier()
		}
		rec.Dispatch(bound)
	}
	run, err := rec.End()
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(run.Close)
	return run
}

// run runs a recording and fails the test on validation messages.
func (b *vkBufs) run(rec *gpu.Recording) {
	b.t.Helper()
	before := len(b.d.Messages())
	if err := rec.Run(); err != nil {
		b.t.Fatal(err)
	}
	if msgs := b.d.Messages(); len(msgs) > before {
		b.t.Fatalf("validation: %v", msgs[before:])
	}
}

// splitBinds are the buffer indices of AttentionSplitVk's passes over
// attnCase.bufs plus the out buffer appended last.
func splitPasses(ds []gpu.Dispatch, spans bool) []vkPass {
	first := []int{0, 1, 2, 3, 4, 5, 6}
	out := 7
	if spans {
		first = append(first, 7)
		out = 8
	}
	return []vkPass{{ds[0], first}, {ds[1], []int{6, out}}}
}

// Tolerance: attnTol (as TestAttentionVulkan; the combine adds one more
// rescale per split).
func TestAttentionSplitVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, tc := range []struct {
		attnCase
		splits int
	}{
		// Decode over 301 keys: splits of 7 tiles (3), 3 tiles (7), uneven tails.
		{attnCase{d: 256, nH: 8, nKV: 4, slots: 512, p0: 300, T: 1}, 3},
		{attnCase{d: 256, nH: 8, nKV: 4, slots: 512, p0: 300, T: 1}, 7},
		{attnCase{d: 72, nH: 4, nKV: 1, slots: 400, p0: 250, T: 1}, 5},
		// Sliding window 100 over a wrapped ring, a chunk of 3.
		{attnCase{d: 128, nH: 4, nKV: 2, window: 100, slots: 100, p0: 350, T: 3}, 3},
		// More splits than tiles: trailing splits see no key.
		{attnCase{d: 128, nH: 4, nKV: 4, slots: 64, p0: 20, T: 1}, 4},
		// Spans and f32 caches.
		{attnCase{d: 128, nH: 8, nKV: 4, slots: 300, p0: 200, T: 7, spans: []int32{0, 1, 1, 1, 0, 0, 0}}, 3},
		{attnCase{d: 128, nH: 8, nKV: 4, window: 64, slots: 64, p0: 190, T: 1, f32: true}, 2},
	} {
		t.Run(fmt.Sprintf("%v/splits=%d", tc.attnCase, tc.splits), func(t *testing.T) {
			c := tc.attnCase
			in := c.inputs()
			want := c.want(in)
			ds, err := AttentionSplitVk(d.Caps(), c.attn(), c.T, tc.splits, AttnOpts{Spans: c.spans != nil, CacheF32: c.f32})
			if err != nil {
				t.Fatal(err)
			}
			bufs := append(c.bufs(in, AttentionSplitScratch(c.attn(), c.T, tc.splits)), vktest.Poisoned(4*len(want)))
			b := newVkBufs(t, d, bufs...)
			b.run(b.record(splitPasses(ds, c.spans != nil)...))
			testutil.CheckClose(t, "attention", vktest.Floats(b.download(len(bufs)-1)), want, attnTol)
			for i, name := range []string{"q", "k", "v", "ck", "cv", "pos"} {
				if !bytes.Equal(b.download(i), bufs[i]) {
					t.Errorf("%s changed", name)
				}
			}
		})
	}
}

// TestAttentionVulkanReplay records prefill (attention, then cache write)
// and a decode step once, and replays the decode step over positions that
// wrap the ring, changing only the buffers' contents: pos is read on the
// GPU. The reference keeps its caches f16-rounded like the GPU's.
// Tolerance: attnTol per step; caches bit-exact.
func TestAttentionVulkanReplay(t *testing.T) {
	d := vktest.Device(t)
	const prefill, steps = 5, 14
	for _, tc := range []struct {
		name   string
		a      Attn
		splits int
	}{
		{"sliding", Attn{Heads: 4, KVHeads: 2, HeadDim: 128, Scale: 0.1, Window: 8, Slots: 8}, 1},
		{"global/split=3", Attn{Heads: 4, KVHeads: 1, HeadDim: 72, Scale: 0.1, Slots: 32}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			r := rand.New(rand.NewPCG(7, uint64(a.HeadDim)))
			kvw, qw := a.KVHeads*a.HeadDim, a.Heads*a.HeadDim
			ck, cv := make([]float32, a.Slots*kvw), make([]float32, a.Slots*kvw)
			// Buffers: 0 q, 1 k, 2 v, 3 ck, 4 cv, 5 pos, 6 out (T tokens),
			// and for decode 7 q, 8 k, 9 v, 10 pos, 11 out, 12 scratch.
			b := newVkBufs(t, d,
				make([]byte, 4*prefill*qw), make([]byte, 4*prefill*kvw), make([]byte, 4*prefill*kvw),
				f16Bytes(ck), f16Bytes(cv), make([]byte, 4), make([]byte, 4*prefill*qw),
				make([]byte, 4*qw), make([]byte, 4*kvw), make([]byte, 4*kvw), make([]byte, 4), make([]byte, 4*qw),
				make([]byte, max(4, AttentionSplitScratch(a, 1, tc.splits))))
			record := func(T int, q, k, v, pos, out int) *gpu.Recording {
				var passes []vkPass
				if T == 1 && tc.splits > 1 {
					ds, err := AttentionSplitVk(d.Caps(), a, T, tc.splits, AttnOpts{})
					if err != nil {
						t.Fatal(err)
					}
					passes = []vkPass{{ds[0], []int{q, k, v, 3, 4, pos, 12}}, {ds[1], []int{12, out}}}
				} else {
					ds, err := AttentionVk(d.Caps(), a, T, AttnOpts{})
					if err != nil {
						t.Fatal(err)
					}
					passes = []vkPass{{ds, []int{q, k, v, 3, 4, pos, out}}}
				}
				cw, err := CacheWriteVk(d.Caps(), a, T, false)
				if err != nil {
					t.Fatal(err)
				}
				return b.record(append(passes, vkPass{cw, []int{k, v, pos, 3, 4}})...)
			}
			pre, dec := record(prefill, 0, 1, 2, 5, 6), record(1, 7, 8, 9, 10, 11)

			step := func(p0, T int, rec *gpu.Recording, q, k, v, pos, out int) {
				qs, ks, vs := randVec(r, T*qw), randVec(r, T*kvw), randVec(r, T*kvw)
				ps := make([]int32, T)
				for i := range ps {
					ps[i] = int32(p0 + i)
				}
				b.upload(q, vktest.F32Bytes(qs))
				b.upload(k, vktest.F32Bytes(ks))
				b.upload(v, vktest.F32Bytes(vs))
				b.upload(pos, vktest.I32Bytes(ps[:1]))
				b.upload(out, vktest.Poisoned(4*T*qw))
				b.run(rec)
				want := make([]float32, T*qw)
				Attention(want, qs, ks, vs, ck, cv, ps, a, make([]float32, p0+T), 0, T*a.Heads)
				CacheWrite(ck, cv, roundF16(ks), roundF16(vs), ps, a, 0, T)
				testutil.CheckClose(t, fmt.Sprintf("position %d", p0), vktest.Floats(b.download(out)), want, attnTol)
			}
			step(0, prefill, pre, 0, 1, 2, 5, 6)
			for p := prefill; p < prefill+steps; p++ {
				step(p, 1, dec, 7, 8, 9, 10, 11)
			}
			if !bytes.Equal(b.download(3), f16Bytes(ck)) || !bytes.Equal(b.download(4), f16Bytes(cv)) {
				t.Error("caches differ from the reference's")
			}
		})
	}
}

// Tolerance: attnTol (f32 arithmetic in another order).
func TestAttentionFullVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, c := range []struct{ n, heads, dim int }{
		{1, 1, 72}, {7, 16, 72}, {65, 3, 72}, {257, 2, 72}, {33, 2, 128}, {40, 1, 256},
	} {
		t.Run(fmt.Sprintf("n=%d/heads=%d/dim=%d", c.n, c.heads, c.dim), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.n), uint64(c.heads*c.dim)))
			w := c.heads * c.dim
			q, k, v := randVec(r, c.n*w), randVec(r, c.n*w), randVec(r, c.n*w)
			scale := float32(1 / math.Sqrt(float64(c.dim)))
			want := make([]float32, c.n*w)
			AttentionFull(want, q, k, v, c.n, c.heads, c.dim, scale, 0, c.n*c.heads)
			ds, err := AttentionFullVk(d.Caps(), c.n, c.heads, c.dim, scale)
			if err != nil {
				t.Fatal(err)
			}
			out := vktest.Run(t, ds, vktest.F32Bytes(q), vktest.F32Bytes(k), vktest.F32Bytes(v), vktest.Poisoned(4*len(want)))
			testutil.CheckClose(t, "attention", vktest.Floats(out[3]), want, attnTol)
			testutil.CheckClose(t, "q unchanged", vktest.Floats(out[0]), q, 0)
		})
	}
}

// Tolerance: exact. The GPU rounds to nearest even (packHalf2x16), as
// F32ToF16; untouched rows keep their bits.
func TestCacheWriteVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, c := range []struct {
		d, nKV, slots, p0, T int
		f32                  bool
	}{
		{256, 1, 16, 40, 7, false},
		{72, 4, 64, 0, 3, false},
		{128, 2, 4, 41, 7, false}, // chunk longer than the ring: the last token of a row wins
		{128, 8, 512, 300, 1, false},
		{72, 2, 16, 13, 7, true},
	} {
		name := fmt.Sprintf("d=%d/nKV=%d/slots=%d/p0=%d/T=%d", c.d, c.nKV, c.slots, c.p0, c.T)
		if c.f32 {
			name += "/cache=f32"
		}
		t.Run(name, func(t *testing.T) {
			a := Attn{Heads: c.nKV, KVHeads: c.nKV, HeadDim: c.d, Slots: c.slots}
			r := rand.New(rand.NewPCG(uint64(c.d), uint64(c.p0)))
			kvw := c.nKV * c.d
			k, v := randVec(r, c.T*kvw), randVec(r, c.T*kvw)
			// Ties between two halves and tiny values, to pin the rounding.
			k[0], k[1], v[0] = 1+0x1p-11, 1+3*0x1p-11, 3e-6
			ck, cv := roundF16(randVec(r, c.slots*kvw)), roundF16(randVec(r, c.slots*kvw))
			pos := make([]int32, c.T)
			for i := range pos {
				pos[i] = int32(c.p0 + i)
			}
			ds, err := CacheWriteVk(d.Caps(), a, c.T, c.f32)
			if err != nil {
				t.Fatal(err)
			}
			out := vktest.Run(t, ds, vktest.F32Bytes(k), vktest.F32Bytes(v), vktest.I32Bytes(pos[:1]),
				cacheBytes(ck, c.f32), cacheBytes(cv, c.f32))
			kw, vw := k, v
			if !c.f32 {
				kw, vw = roundF16(k), roundF16(v)
			}
			CacheWrite(ck, cv, kw, vw, pos, a, 0, c.T)
			if !bytes.Equal(out[3], cacheBytes(ck, c.f32)) {
				testutil.CheckClose(t, "ck", cacheFloats(out[3], c.f32), ck, 0)
			}
			if !bytes.Equal(out[4], cacheBytes(cv, c.f32)) {
				testutil.CheckClose(t, "cv", cacheFloats(out[4], c.f32), cv, 0)
			}
		})
	}
}

// TestAttentionSpans runs a sequence with two images through the ring
// cache in chunks that keep each image whole, and compares every position
// with the dense reference; then AttentionFull against it with one span.
func TestAttentionSpans(t *testing.T) {
	const P = 23
	spans := make([]int32, P)
	for p := 4; p < 9; p++ {
		spans[p] = 1
	}
	for p := 14; p < 20; p++ {
		spans[p] = 2
	}
	for _, tc := range []struct {
		window, slots int
		chunks        []int // chunk lengths; images never straddle two
	}{
		{0, P, []int{2, 8, 3, 7, 3}},
		{0, P, []int{P}},
		{3, 3, []int{4, 5, 1, 1, 3, 6, 3}}, // the window is shorter than the images
		{6, 6, []int{3, 6, 2, 9, 3}},
	} {
		t.Run(fmt.Sprintf("window=%d/chunks=%v", tc.window, tc.chunks), func(t *testing.T) {
			a := Attn{Heads: 4, KVHeads: 2, HeadDim: 8, Scale: 0.3, Window: tc.window, Slots: tc.slots}
			r := rand.New(rand.NewPCG(2, uint64(len(tc.chunks))))
			kvw, qw := a.KVHeads*a.HeadDim, a.Heads*a.HeadDim
			q, k, v := randVec(r, P*qw), randVec(r, P*kvw), randVec(r, P*kvw)
			want := naiveSpanAttention(q, k, v, spans, P, a)
			ck, cv := make([]float32, a.Slots*kvw), make([]float32, a.Slots*kvw)
			got := make([]float32, len(want))
			p0 := 0
			for _, T := range tc.chunks {
				pos := make([]int32, T)
				for i := range pos {
					pos[i] = int32(p0 + i)
				}
				AttentionSpans(got[p0*qw:(p0+T)*qw], q[p0*qw:(p0+T)*qw], k[p0*kvw:(p0+T)*kvw], v[p0*kvw:(p0+T)*kvw],
					ck, cv, pos, spans[p0:p0+T], a, make([]float32, p0+T), 0, T*a.Heads)
				CacheWrite(ck, cv, k[p0*kvw:(p0+T)*kvw], v[p0*kvw:(p0+T)*kvw], pos, a, 0, T)
				p0 += T
			}
			testutil.CheckClose(t, "attention", got, want, 1e-5) // f32 against float64
		})
	}
	t.Run("full", func(t *testing.T) {
		const n, heads, dim = 9, 3, 6
		r := rand.New(rand.NewPCG(3, 3))
		q, k, v := randVec(r, n*heads*dim), randVec(r, n*heads*dim), randVec(r, n*heads*dim)
		ones := make([]int32, n)
		for i := range ones {
			ones[i] = 7
		}
		want := naiveSpanAttention(q, k, v, ones, n, Attn{Heads: heads, KVHeads: heads, HeadDim: dim, Scale: 0.4})
		got := make([]float32, len(want))
		AttentionFull(got, q, k, v, n, heads, dim, 0.4, 0, n*heads)
		testutil.CheckClose(t, "attention", got, want, 1e-5) // f32 against float64
	})
}

// TestAttentionSplits checks the split choice: 1 for short contexts or
// wide prefill; for decode, splits of whole 16-key tiles (in 48 KiB of
// shared memory), the fewest tiles that bring the workgroups with keys
// (kv heads × splits) to 16, at most 64 keys a split, within 64 splits.
func TestAttentionSplits(t *testing.T) {
	c := gpu.Caps{SubgroupSize: 32, MaxSharedMemory: 48 << 10, MaxWorkgroupInvocations: 1024}
	four := Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 1, Slots: 8192}
	one := Attn{Heads: 4, KVHeads: 1, HeadDim: 256, Scale: 1, Slots: 8192}
	for _, tc := range []struct {
		a             Attn
		T, keys, want int
	}{
		{four, 1, 7, 1}, {four, 1, 64, 4}, {four, 1, 137, 3}, {four, 1, 1025, 17}, {four, 1, 4096, 64},
		{four, 1, 100000, 64}, {four, 512, 4096, 1},
		{one, 1, 137, 9}, {one, 1, 513, 11}, {one, 1, 1025, 17},
	} {
		if got := AttentionSplits(c, tc.a, tc.T, tc.keys); got != tc.want {
			t.Errorf("%d kv heads, T=%d keys=%d: %d splits, want %d", tc.a.KVHeads, tc.T, tc.keys, got, tc.want)
		}
	}
}

// TestAttentionSplitVkLowering checks the split lowering's limits and the
// combine pass's grid.
func TestAttentionSplitVkLowering(t *testing.T) {
	caps := gpu.Caps{SubgroupSize: 32, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 48 << 10}
	a := Attn{Heads: 8, KVHeads: 4, HeadDim: 256, Scale: 1, Slots: 8192}
	ds, err := AttentionSplitVk(caps, a, 1, 64, AttnOpts{})
	if err != nil {
		t.Fatal(err)
	}
	g, wg := ds[1].Groups, int(ds[1].Spec[0])
	if int(g[0])*int(g[1]) < a.Heads || int(g[2])*wg < a.HeadDim {
		t.Errorf("combine groups %v of %d invocations for %d rows of %d", g, wg, a.Heads, a.HeadDim)
	}
	for _, splits := range []int{0, combineMaxSplits + 1} {
		if _, err := AttentionSplitVk(caps, a, 1, splits, AttnOpts{}); err == nil {
			t.Errorf("%d splits accepted", splits)
		}
	}
}
