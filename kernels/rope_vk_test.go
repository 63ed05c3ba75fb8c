package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

// ropePositions returns T positions: the extremes of a 128K context (0, 1,
// 131071, 131070), powers of two and random ones below 131072.
func ropePositions(r *rand.Rand, T int) []int32 {
	fixed := []int32{0, 1, 131071, 131070, 65536, 100003, 2, 4095}
	pos := make([]int32, T)
	for t := range pos {
		if t < len(fixed) {
			pos[t] = fixed[t]
		} else {
			pos[t] = r.Int32N(131072)
		}
	}
	return pos
}

// Tolerance 2e-6 relative to max |x|: the reference takes cos/sin in
// float64 of the same f32 angle; the GPU reduces the angle (to ~2e-7 rad at
// 1.3e5 rad) and evaluates f32 polynomials, so each output is off by a few
// f32 ulps of |x|.
func TestRoPEVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, c := range []struct {
		T, heads, dim int
		base, factor  float64
	}{
		{1, 1, 2, 10000, 1},
		{9, 2, 256, 10000, 1},    // sliding layers of 4B/12B: inv[0] = 1, theta up to 131071
		{9, 2, 256, 1e6, 8},      // global layers with linear scaling
		{8, 4, 128, 1e6, 8},      // 27B
		{7, 3, 72, 10000, 1},     // SigLIP-sized head dim, half = 36
		{33, 1, 128, 10000, 1},   // tokens straddling the workgroup
		{3, 8, 64, 10000, 1},     // half = 32
		{257, 1, 256, 1e6, 1},    // T*half spans many workgroups
		{5, 1, 10, 10000, 0.125}, // factor < 1: theta up to 1e6 would leave the exact range; positions capped below
	} {
		name := fmt.Sprintf("T=%d/heads=%d/dim=%d/base=%g/factor=%g", c.T, c.heads, c.dim, c.base, c.factor)
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.T), uint64(c.dim)))
			pos := ropePositions(r, c.T)
			if c.factor < 1 {
				for i := range pos {
					pos[i] %= 50000 // theta < 4e5, the exact-reduction range
				}
			}
			x := randFloats(r, c.T*c.heads*c.dim, 2)
			want := append([]float32(nil), x...)
			RoPE(want, pos, c.heads, c.dim, c.base, c.factor, 0, c.T)
			inv := RoPEInvFreq(c.dim, c.base, c.factor)
			out := vktest.Run(t, RoPEVk(d.Caps(), c.T, c.heads, c.dim),
				vktest.F32Bytes(x), vktest.I32Bytes(pos), vktest.F32Bytes(inv))
			testutil.CheckClose(t, "rope", vktest.Floats(out[0]), want, 2e-6)
			testutil.CheckClose(t, "inv unchanged", vktest.Floats(out[2]), inv, 0)
		})
	}
}

// TestRoPEVulkanReplay records one decode step (T = 1) and runs it again
// with new positions uploaded into the bound pos buffer, as a decode loop
// replaying a recording does. Tolerance as TestRoPEVulkan.
func TestRoPEVulkanReplay(t *testing.T) {
	d := vktest.Device(t)
	const heads, dim = 2, 128
	inv := RoPEInvFreq(dim, 10000, 1)
	bufs := make([]gpu.Buffer, 3)
	for i, n := range []int{heads * dim, 1, dim / 2} {
		b, err := d.Alloc(uint64(4*n), gpu.DeviceLocal)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Free(b)
		bufs[i] = b
	}
	if err := d.Upload(bufs[2], vktest.F32Bytes(inv)); err != nil {
		t.Fatal(err)
	}
	run := vktest.Record(t, d, RoPEVk(d.Caps(), 1, heads, dim), bufs...)
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range []int32{0, 131071, 7, 99999} {
		x := randFloats(r, heads*dim, 2)
		want := append([]float32(nil), x...)
		RoPE(want, []int32{p}, heads, dim, 10000, 1, 0, 1)
		if err := d.Upload(bufs[0], vktest.F32Bytes(x)); err != nil {
			t.Fatal(err)
		}
		if err := d.Upload(bufs[1], vktest.I32Bytes([]int32{p})); err != nil {
			t.Fatal(err)
		}
		if err := run.Run(); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 4*heads*dim)
		if err := d.Download(got, bufs[0]); err != nil {
			t.Fatal(err)
		}
		testutil.CheckClose(t, fmt.Sprintf("pos=%d", p), vktest.Floats(got), want, 2e-6)
	}
}
