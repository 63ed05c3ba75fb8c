package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
)

// coopDevice returns a device with cooperative matrices, skipping the test
// where there is none. The validation layer may be too old for the
// extension: then the results are checked on a device opened without it.
func coopDevice(t testing.TB) *gpu.Device {
	t.Helper()
	d := vktest.Device(t)
	if !d.Caps().CoopMat {
		d = vktest.Unvalidated(t)
	}
	if !d.Caps().CoopMat {
		t.Skipf("%s has no cooperative matrices (VK_KHR_cooperative_matrix)", d.Info.Name)
	}
	return d
}

// stagedF16 is the f16 value the shader stages for v: clamped to the f16
// range, rounded to nearest even.
func stagedF16(v float32) float64 {
	v = min(max(v, -65504), 65504)
	return float64(quant.F16ToF32(quant.F32ToF16(v)))
}

// coopReference is y = x·Wᵀ with W's decoded values and x both rounded to
// f16, summed in float64: what the shader computes up to the order of its
// f32 sums.
func coopReference(w *Weight, x []float32, T int) []float32 {
	wr := make([]float32, w.Cols)
	w16 := make([]float64, w.Rows*w.Cols)
	for r := 0; r < w.Rows; r++ {
		w.DecodeRow(r, wr)
		for c, v := range wr {
			w16[r*w.Cols+c] = stagedF16(v)
		}
	}
	y := make([]float32, T*w.Rows)
	for t := 0; t < T; t++ {
		xt := make([]float64, w.Cols)
		for c := range xt {
			xt[c] = stagedF16(x[t*w.Cols+c])
		}
		for r := 0; r < w.Rows; r++ {
			var s float64
			for c, v := range w16[r*w.Cols : (r+1)*w.Cols] {
				s += v * xt[c]
			}
			y[t*w.Rows+r] = float32(s)
		}
	}
	return y
}

// TestMatMulCoopVulkan checks matmul_coop for every weight type against
// the f16-rounded reference: T off every multiple of the token tiles (one
// to four subgroups along tokens), rows off the 16- and 64-row blocks.
func TestMatMulCoopVulkan(t *testing.T) {
	d := coopDevice(t)
	for _, typ := range vkTestTypes {
		blk := coopBlock(typ)
		for _, c := range []struct {
			T int
			s shapeCase
		}{
			{1, shapeCase{1, blk, false}},
			{5, shapeCase{33, 3 * blk, true}},
			{40, shapeCase{64, max(blk, 64), false}},
			{97, shapeCase{130, 2 * max(blk, 64), true}},
			{200, shapeCase{70, 10 * blk, false}},
		} {
			t.Run(fmt.Sprintf("%s/T=%d/%v", typeName(typ), c.T, c.s), func(t *testing.T) {
				w := vkTestWeight(t, typ, c.s)
				r := rand.New(rand.NewPCG(uint64(c.T), uint64(w.Cols)))
				x := randFloats(r, c.T*w.Cols, 1)
				ds, err := MatMulCoopVk(d.Caps(), typ, c.T, w.Rows, w.Cols)
				if err != nil {
					t.Fatal(err)
				}
				out := vktest.RunOn(t, d, ds, w.DeviceData(), vktest.F32Bytes(x), vktest.Poisoned(4*c.T*w.Rows))
				testutil.CheckClose(t, "matmul_coop", vktest.Floats(out[2]), coopReference(w, x, c.T), 1e-5)
			})
		}
	}
}

// TestMatMulCoopTilesVulkan checks every workgroup tile of matmul_coop on
// shapes off the tiles' edges.
func TestMatMulCoopTilesVulkan(t *testing.T) {
	d := coopDevice(t)
	for _, typ := range []quant.Type{quant.F16, quant.Q4_K, quant.Q6_K, quant.Q5_0} {
		for _, tile := range [][2]int{{4, 2}, {2, 2}, {4, 1}, {2, 1}, {1, 1}} {
			const T = 150
			s := shapeCase{200, 512, true}
			t.Run(fmt.Sprintf("%s/st=%d/sr=%d", typeName(typ), tile[0], tile[1]), func(t *testing.T) {
				w := vkTestWeight(t, typ, s)
				r := rand.New(rand.NewPCG(uint64(tile[0]), uint64(tile[1])))
				x := randFloats(r, T*w.Cols, 1)
				ds, err := matMulCoopTile(d.Caps(), typeName(typ), T, w.Rows, w.Cols, w.Rows, tile[0], tile[1], 1, 0)
				if err != nil {
					t.Fatal(err)
				}
				out := vktest.RunOn(t, d, ds, w.DeviceData(), vktest.F32Bytes(x), vktest.Poisoned(4*T*w.Rows))
				testutil.CheckClose(t, "matmul_coop", vktest.Floats(out[2]), coopReference(w, x, T), 1e-5)
			})
		}
	}
}

// TestMatMulCoopSplitVulkan checks products cut into runs of K: the runs'
// partial sums (pass 1 into the scratch) and their sum (pass 2) into a
// wider output, against the f16-rounded reference; runs may be uneven or
// empty.
func TestMatMulCoopSplitVulkan(t *testing.T) {
	d := coopDevice(t)
	for _, c := range []struct {
		typ           quant.Type
		T, kparts, ld int
		s             shapeCase
	}{
		{quant.Q4_K, 150, 3, 200, shapeCase{200, 2560, true}},
		{quant.Q6_K, 70, 2, 130, shapeCase{130, 768, false}},
		{quant.F16, 33, 4, 40, shapeCase{40, 200, false}},  // 4 slices: one each
		{quant.Q4_0, 100, 4, 70, shapeCase{70, 192, true}}, // 3 slices: one run empty
	} {
		t.Run(fmt.Sprintf("%s/T=%d/kparts=%d/%v", typeName(c.typ), c.T, c.kparts, c.s), func(t *testing.T) {
			w := vkTestWeight(t, c.typ, c.s)
			r := rand.New(rand.NewPCG(uint64(c.T), uint64(c.kparts)))
			x := randFloats(r, c.T*w.Cols, 1)
			ds, err := MatMulCoopSplitVk(d.Caps(), c.typ, c.T, w.Rows, w.Cols, c.ld, c.kparts, false)
			if err != nil {
				t.Fatal(err)
			}
			parts := vktest.RunOn(t, d, ds[0], w.DeviceData(), vktest.F32Bytes(x), vktest.Poisoned(MatMulCoopSplitScratch(c.T, w.Rows, c.kparts)))[2]
			out := vktest.RunOn(t, d, ds[1], parts, vktest.Poisoned(4*((c.T-1)*c.ld+w.Rows)))[1]
			got := vktest.Floats(out)
			y := make([]float32, c.T*w.Rows)
			for tt := 0; tt < c.T; tt++ {
				copy(y[tt*w.Rows:], got[tt*c.ld:tt*c.ld+w.Rows])
			}
			testutil.CheckClose(t, "matmul_coop split", y, coopReference(w, x, c.T), 1e-5)
		})
	}
}

// TestCoopMatMulSplits checks the choice of K runs at the 4B and 1B
// models' prefill shapes: 4B o and down (80 workgroups) in 3, 4B q (64)
// and 1B down (36) in 4, the rest whole.
func TestCoopMatMulSplits(t *testing.T) {
	for _, c := range []struct{ T, rows, cols, want int }{
		{512, 2560, 10240, 3}, {512, 2560, 2048, 3}, {512, 10240, 2560, 1}, {512, 2048, 2560, 4},
		{512, 1024, 2560, 1}, {64, 2560, 10240, 4}, {512, 1152, 6912, 4}, {512, 1024, 1152, 1},
	} {
		if got := CoopMatMulSplits(c.T, c.rows, c.cols); got != c.want {
			t.Errorf("T=%d %d×%d: %d runs, want %d", c.T, c.rows, c.cols, got, c.want)
		}
	}
}

// TestMatMulCoopPartVulkan checks that a part of a weight writes only its
// columns of the wider output, and that activations beyond the f16 range
// saturate instead of turning the sums infinite.
func TestMatMulCoopPartVulkan(t *testing.T) {
	d := coopDevice(t)
	const T, rows, cols, ldy = 70, 48, 256, 80
	w := vkTestWeight(t, quant.Q4_K, shapeCase{rows, cols, false})
	r := rand.New(rand.NewPCG(3, 4))
	x := randFloats(r, T*cols, 1)
	for i := 0; i < len(x); i += 97 {
		x[i] = 1e6 * float32(1-2*(i&1))
	}
	ds, err := MatMulCoopPartVk(d.Caps(), quant.Q4_K, T, rows, cols, ldy, false)
	if err != nil {
		t.Fatal(err)
	}
	out := vktest.RunOn(t, d, ds, w.DeviceData(), vktest.F32Bytes(x), vktest.Poisoned(4*((T-1)*ldy+rows)))
	got := vktest.Floats(out[2])
	want := coopReference(w, x, T)
	part := make([]float32, T*rows)
	for tt := 0; tt < T; tt++ {
		copy(part[tt*rows:], got[tt*ldy:tt*ldy+rows])
		for c := rows; c < ldy && tt < T-1; c++ {
			if v := got[tt*ldy+c]; !math.IsNaN(float64(v)) {
				t.Fatalf("token %d column %d outside the part was written: %g", tt, c, v)
			}
		}
	}
	testutil.CheckClose(t, "matmul_coop part", part, want, 1e-5)
}

// TestMatMulCoopRejects checks the lowering's errors.
func TestMatMulCoopRejects(t *testing.T) {
	c := gpu.Caps{CoopMat: true, SubgroupSize: 32, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 48 << 10}
	for _, tc := range []struct {
		name             string
		caps             gpu.Caps
		typ              quant.Type
		T, rows, cols, l int
	}{
		{"no coopmat", gpu.Caps{SubgroupSize: 32}, quant.F16, 4, 8, 8, 8},
		{"ragged cols", c, quant.F16, 4, 8, 12, 8},
		{"no tokens", c, quant.Q4_0, 0, 8, 32, 8},
		{"narrow stride", c, quant.Q4_0, 4, 8, 32, 7},
		{"no decoder", c, quant.IQ4_NL, 4, 8, 32, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := MatMulCoopPartVk(tc.caps, tc.typ, tc.T, tc.rows, tc.cols, tc.l, false); err == nil {
				t.Fatal("lowered")
			}
			if CoopMatMulSupported(tc.caps, tc.typ, tc.cols) && tc.T > 0 && tc.l >= tc.rows {
				t.Fatal("reported as supported")
			}
		})
	}
	if !CoopMatMulSupported(c, quant.Q4_K, 2560) {
		t.Fatal("Q4_K 2560 columns not supported")
	}
}
