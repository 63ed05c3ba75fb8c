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

// normRoPETol is the tolerance of the fused norm + RoPE outputs, relative
// to max |y|: the GPU sums squares in f32 in another order than the
// float64 reference and takes inversesqrt (a few ulps); the angles are the
// same f32 products, reduced by the code rope.comp shares
// (include/rope.glsl, within ~2e-7 rad), so each output is a few f32 ulps
// of max |y| off.
const normRoPETol = 2e-6

// normRoPEInputs returns seeded heads (with a scale that differs per row,
// so the norm matters), a gain 1 + w and the RoPE table.
func normRoPEInputs(r *rand.Rand, T, heads, dim int, base, factor float64) (x, g, inv []float32) {
	x = randVec(r, T*heads*dim)
	for row := range T * heads {
		s := float32(0.05 + 20*r.Float64())
		for j := range dim {
			x[row*dim+j] *= s
		}
	}
	g = randFloats(r, dim, 1)
	for j := range g {
		g[j] += 1
	}
	return x, g, RoPEInvFreq(dim, base, factor)
}

// TestNormRoPEReferenceAliased checks that the CPU reference computes in
// place (y = x) the same bits as into a separate output. Exact.
func TestNormRoPEReferenceAliased(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const T, heads, dim = 3, 4, 72
	x, g, _ := normRoPEInputs(r, T, heads, dim, 10000, 1)
	pos := []int32{0, 131071, 5}
	want := make([]float32, len(x))
	RMSNormRoPE(want, x, g, pos, heads, dim, 1e-6, 10000, 1, 0, T)
	RMSNormRoPE(x, x, g, pos, heads, dim, 1e-6, 10000, 1, 1, T) // token 0 untouched
	RMSNormRoPE(x, x, g, pos, heads, dim, 1e-6, 10000, 1, 0, 1)
	testutil.CheckClose(t, "in place", x, want, 0)
}

// Tolerance normRoPETol. Every head dim × head count × chunk length, the
// first positions p0 cycling through 0, 5, 1000 and 131071; token t is at
// (p0 + 37t) mod 131072, so a chunk's positions need not be consecutive.
func TestNormRoPEVulkan(t *testing.T) {
	d := vktest.Device(t)
	starts := []int32{0, 5, 1000, 131071}
	n := 0
	for _, dim := range []int{256, 128, 72} {
		for _, heads := range []int{1, 4, 8} {
			for _, T := range []int{1, 3, 7} {
				p0 := starts[n%len(starts)]
				n++
				base, factor := 10000.0, 1.0
				if heads == 8 {
					base, factor = 1e6, 8 // a global layer with linear scaling
				}
				name := fmt.Sprintf("dim=%d/heads=%d/T=%d/p0=%d/base=%g/factor=%g", dim, heads, T, p0, base, factor)
				t.Run(name, func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(dim*heads), uint64(T)))
					x, g, inv := normRoPEInputs(r, T, heads, dim, base, factor)
					pos := make([]int32, T)
					for i := range pos {
						pos[i] = (p0 + int32(37*i)) % 131072
					}
					want := make([]float32, len(x))
					RMSNormRoPE(want, x, g, pos, heads, dim, 1e-6, base, factor, 0, T)
					out := vktest.Run(t, RMSNormRoPEVk(d.Caps(), T, heads, dim, 1e-6),
						vktest.F32Bytes(x), vktest.F32Bytes(g), vktest.I32Bytes(pos), vktest.F32Bytes(inv),
						vktest.Poisoned(4*len(x)))
					testutil.CheckClose(t, "y", vktest.Floats(out[4]), want, normRoPETol)
					checkUnchanged(t, out[:4], vktest.F32Bytes(x), vktest.F32Bytes(g), vktest.I32Bytes(pos), vktest.F32Bytes(inv))
				})
			}
		}
	}
}

// TestNormRoPEVulkanManyRows spreads more than 65535 rows over a 2D grid
// of workgroups. Tolerance normRoPETol.
func TestNormRoPEVulkanManyRows(t *testing.T) {
	d := vktest.Device(t)
	const T, heads, dim = 21846, 3, 4 // 65538 rows
	r := rand.New(rand.NewPCG(5, 6))
	x, g, inv := normRoPEInputs(r, T, heads, dim, 10000, 1)
	pos := make([]int32, T)
	for i := range pos {
		pos[i] = int32(i * 6)
	}
	want := make([]float32, len(x))
	RMSNormRoPE(want, x, g, pos, heads, dim, 1e-6, 10000, 1, 0, T)
	out := vktest.Run(t, RMSNormRoPEVk(d.Caps(), T, heads, dim, 1e-6),
		vktest.F32Bytes(x), vktest.F32Bytes(g), vktest.I32Bytes(pos), vktest.F32Bytes(inv),
		vktest.Poisoned(4*len(x)))
	testutil.CheckClose(t, "y", vktest.Floats(out[4]), want, normRoPETol)
}

// TestNormRoPEVulkanInPlace binds one buffer as both x and y (as kout and
// k in the cache variant). Tolerance normRoPETol.
func TestNormRoPEVulkanInPlace(t *testing.T) {
	d := vktest.Device(t)
	const T, heads, dim = 3, 4, 256
	a := Attn{Heads: 8, KVHeads: heads, HeadDim: dim, Slots: 16}
	r := rand.New(rand.NewPCG(7, 8))
	x, g, inv := normRoPEInputs(r, T, heads, dim, 10000, 1)
	v := randVec(r, len(x))
	pos := []int32{131069, 131070, 131071}
	want := make([]float32, len(x))
	RMSNormRoPE(want, x, g, pos, heads, dim, 1e-6, 10000, 1, 0, T)
	cache, err := RMSNormRoPECacheVk(d.Caps(), a, T, 1e-6, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ds   gpu.Dispatch
	}{
		{"normrope_f32", RMSNormRoPEVk(d.Caps(), T, heads, dim, 1e-6)},
		{"normrope_cache_f32", cache},
	} {
		t.Run(c.name, func(t *testing.T) {
			inputs := [][]byte{vktest.F32Bytes(x), vktest.F32Bytes(g), vktest.I32Bytes(pos), vktest.F32Bytes(inv),
				vktest.F32Bytes(v), make([]byte, 4*a.Slots*len(x)/T), make([]byte, 4*a.Slots*len(x)/T)}
			bufs := make([]gpu.Buffer, len(inputs))
			for i, b := range inputs {
				buf, err := d.Alloc(uint64(len(b)), gpu.DeviceLocal)
				if err != nil {
					t.Fatal(err)
				}
				defer d.Free(buf)
				if err := d.Upload(buf, b); err != nil {
					t.Fatal(err)
				}
				bufs[i] = buf
			}
			// x, g, pos, inv, y = x, then v, ck, cv for the cache variant.
			bind := append(bufs[:4:4], bufs[0])
			if c.name == "normrope_cache_f32" {
				bind = append(bind, bufs[4:]...)
			}
			got := runBound(t, d, c.ds, bind, bufs[0])
			testutil.CheckClose(t, "y", vktest.Floats(got), want, normRoPETol)
		})
	}
}

// runBound runs one dispatch over bufs and returns the contents of out.
func runBound(t *testing.T, d *gpu.Device, ds gpu.Dispatch, bufs []gpu.Buffer, out gpu.Buffer) []byte {
	t.Helper()
	before := len(d.Messages())
	run := vktest.Record(t, d, ds, bufs...)
	if err := run.Run(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, out.Size)
	if err := d.Download(got, out); err != nil {
		t.Fatal(err)
	}
	if msgs := d.Messages(); len(msgs) > before {
		t.Fatalf("validation: %v", msgs[before:])
	}
	return got
}

// checkUnchanged fails when a read-only buffer came back changed.
func checkUnchanged(t *testing.T, got [][]byte, want ...[]byte) {
	t.Helper()
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("read-only input %d changed", i)
		}
	}
}

// TestNormRoPECacheVulkan: kout within normRoPETol of RMSNormRoPE; the
// caches bit-exact against CacheWrite of the GPU's own kout and of v
// (rounded to f16 nearest even, or f32 as is), since a one-ulp difference
// of kout may move its f16 rounding; the f16 key cache also within 1e-3
// (half precision) of the CPU keys. Cache rows the chunk does not write
// keep their bits.
func TestNormRoPECacheVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, c := range []struct {
		dim, nKV, T, slots int
		p0                 int32
		f32                bool
	}{
		{256, 1, 1, 512, 0, false},     // decode, first token
		{256, 4, 1, 512, 1000, false},  // decode in a wrapped sliding ring
		{256, 8, 3, 16, 131071, false}, // positions past 131071, wrapped
		{128, 8, 7, 4, 5, false},       // chunk longer than the ring: last token of a row wins
		{128, 1, 3, 1024, 1000, false}, // no wrap
		{128, 4, 1, 16, 131071, true},
		{72, 4, 7, 16, 1000, false},
		{72, 1, 7, 5, 0, true}, // chunk longer than the ring
		{72, 8, 3, 64, 5, true},
		{256, 4, 7, 1024, 131071, true},
	} {
		cache := "f16"
		if c.f32 {
			cache = "f32"
		}
		name := fmt.Sprintf("dim=%d/nKV=%d/T=%d/slots=%d/p0=%d/cache=%s", c.dim, c.nKV, c.T, c.slots, c.p0, cache)
		t.Run(name, func(t *testing.T) {
			a := Attn{Heads: 2 * c.nKV, KVHeads: c.nKV, HeadDim: c.dim, Slots: c.slots}
			r := rand.New(rand.NewPCG(uint64(c.dim*c.nKV), uint64(c.slots)))
			k, g, inv := normRoPEInputs(r, c.T, c.nKV, c.dim, 10000, 1)
			v := randVec(r, len(k))
			kvw := c.nKV * c.dim
			ck, cv := roundF16(randVec(r, c.slots*kvw)), roundF16(randVec(r, c.slots*kvw))
			pos := make([]int32, c.T)
			for i := range pos {
				pos[i] = c.p0 + int32(i)
			}
			ds, err := RMSNormRoPECacheVk(d.Caps(), a, c.T, 1e-6, c.f32)
			if err != nil {
				t.Fatal(err)
			}
			in := [][]byte{vktest.F32Bytes(k), vktest.F32Bytes(g), vktest.I32Bytes(pos), vktest.F32Bytes(inv),
				vktest.Poisoned(4 * len(k)), vktest.F32Bytes(v), cacheBytes(ck, c.f32), cacheBytes(cv, c.f32)}
			out := vktest.Run(t, ds, in...)

			kout := make([]float32, len(k))
			RMSNormRoPE(kout, k, g, pos, c.nKV, c.dim, 1e-6, 10000, 1, 0, c.T)
			gotK := vktest.Floats(out[4])
			testutil.CheckClose(t, "kout", gotK, kout, normRoPETol)
			checkUnchanged(t, []([]byte){out[0], out[1], out[2], out[3], out[5]}, in[0], in[1], in[2], in[3], in[5])

			refK := append([]float32(nil), ck...)
			kw, vw := gotK, v
			if !c.f32 {
				kw, vw = roundF16(gotK), roundF16(v)
				CacheWrite(refK, make([]float32, len(cv)), roundF16(kout), vw, pos, a, 0, c.T)
			}
			CacheWrite(ck, cv, kw, vw, pos, a, 0, c.T)
			if !bytes.Equal(out[6], cacheBytes(ck, c.f32)) {
				testutil.CheckClose(t, "ck", cacheFloats(out[6], c.f32), ck, 0)
			}
			if !bytes.Equal(out[7], cacheBytes(cv, c.f32)) {
				testutil.CheckClose(t, "cv", cacheFloats(out[7], c.f32), cv, 0)
			}
			if !c.f32 {
				testutil.CheckClose(t, "ck vs CPU keys", cacheFloats(out[6], false), refK, 1e-3)
			}
		})
	}
}

// TestNormRoPECacheVkErrors checks the lowering's refusals.
func TestNormRoPECacheVkErrors(t *testing.T) {
	caps := gpu.Caps{SubgroupSize: 32, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 32 << 10}
	for _, c := range []struct {
		name string
		a    Attn
		T    int
	}{
		{"T=0", Attn{Heads: 1, KVHeads: 1, HeadDim: 128, Slots: 4}, 0},
		{"dim=71", Attn{Heads: 1, KVHeads: 1, HeadDim: 71, Slots: 4}, 1},
		{"slots=0", Attn{Heads: 1, KVHeads: 1, HeadDim: 128, Slots: 0}, 1},
		{"dim=8192", Attn{Heads: 1, KVHeads: 1, HeadDim: 8192, Slots: 4}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := RMSNormRoPECacheVk(caps, c.a, c.T, 1e-6, false); err == nil {
				t.Error("no error")
			}
		})
	}
}
