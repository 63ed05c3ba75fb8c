package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
)

// halfBytes packs v as the _h producers store it: clamped to the f16
// range, then as f16Bytes (pairs in uint words, low half first, rounded to
// nearest even).
func halfBytes(v []float32) []byte {
	c := make([]float32, len(v))
	for i, f := range v {
		c[i] = min(max(f, -65504), 65504)
	}
	return f16Bytes(c)
}

// staged rounds v as halfBytes does, in f32.
func staged(v []float32) []float32 { return f16Floats(halfBytes(v)) }

// TestHalfProducersVulkan checks the _h variants of rmsnorm, addnorm and
// gelu_mul against the CPU references rounded to f16, on rows that are not
// multiples of the workgroup or subgroup size, and that values past the
// f16 range saturate at ±65504 instead of becoming infinite. Tolerance
// 1e-3: the GPU's f32 value may round to the half next to the
// reference's (a relative step of at most 2^-10).
func TestHalfProducersVulkan(t *testing.T) {
	d := vktest.Device(t)
	const eps = 1e-6
	for _, c := range []struct {
		rows, n int
		scale   float32 // of the inputs: past the f16 range for gelu_mul
	}{
		{1, 2, 1}, {3, 34, 1}, {5, 640, 4}, {2, 2560, 1}, {4, 1152, 3e3},
	} {
		t.Run(fmt.Sprintf("rmsnorm/rows=%d/n=%d", c.rows, c.n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.rows), uint64(c.n)))
			x, g := randFloats(r, c.rows*c.n, c.scale), randFloats(r, c.n, 2)
			want := make([]float32, len(x))
			RMSNorm(want, x, g, eps, 0, c.rows)
			ds, err := RMSNormHalfVk(d.Caps(), c.rows, c.n, eps)
			if err != nil {
				t.Fatal(err)
			}
			out := vktest.RunOn(t, d, ds, vktest.F32Bytes(x), vktest.F32Bytes(g), vktest.Poisoned(2*len(x)))
			testutil.CheckClose(t, "rmsnorm_f32_h", f16Floats(out[2]), staged(want), 1e-3)
		})
		t.Run(fmt.Sprintf("addnorm/rows=%d/n=%d", c.rows, c.n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.n), uint64(c.rows)))
			o, x := randFloats(r, c.rows*c.n, c.scale), randFloats(r, c.rows*c.n, c.scale)
			g1, g2 := randFloats(r, c.n, 2), randFloats(r, c.n, 2)
			wantX, wantF := make([]float32, len(x)), make([]float32, len(x))
			AddRMSNorm(wantX, wantF, o, x, g1, g2, eps, 0, c.rows)
			ds, err := AddRMSNormHalfVk(d.Caps(), c.rows, c.n, eps)
			if err != nil {
				t.Fatal(err)
			}
			out := vktest.RunOn(t, d, ds, vktest.F32Bytes(o), vktest.F32Bytes(x), vktest.F32Bytes(g1),
				vktest.F32Bytes(g2), vktest.Poisoned(4*len(x)), vktest.Poisoned(2*len(x)))
			testutil.CheckClose(t, "xnew", vktest.Floats(out[4]), wantX, 1e-5)
			testutil.CheckClose(t, "f", f16Floats(out[5]), staged(wantF), 1e-3)
		})
		t.Run(fmt.Sprintf("gelu_mul/n=%d", c.rows*c.n), func(t *testing.T) {
			n := c.rows * c.n
			r := rand.New(rand.NewPCG(uint64(n), 7))
			a, b := randFloats(r, n, 2), randFloats(r, n, c.scale*c.scale)
			want := make([]float32, n)
			GeluMul(want, a, b, 0, n)
			ds, err := GeluMulHalfVk(d.Caps(), n)
			if err != nil {
				t.Fatal(err)
			}
			out := vktest.RunOn(t, d, ds, vktest.F32Bytes(a), vktest.F32Bytes(b), vktest.Poisoned(2*n))
			got := f16Floats(out[2])
			for i, v := range got {
				if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
					t.Fatalf("y[%d] = %v, want it saturated", i, v)
				}
			}
			testutil.CheckClose(t, "gelu_mul_h", got, staged(want), 1e-3)
		})
	}
	for name, f := range map[string]func() error{
		"rmsnorm":  func() error { _, err := RMSNormHalfVk(d.Caps(), 2, 33, eps); return err },
		"addnorm":  func() error { _, err := AddRMSNormHalfVk(d.Caps(), 2, 33, eps); return err },
		"gelu_mul": func() error { _, err := GeluMulHalfVk(d.Caps(), 33); return err },
	} {
		if f() == nil {
			t.Errorf("%s: odd length accepted for f16 output", name)
		}
	}
}

// TestMatMulCoopHalfXVulkan checks the f16-x products (matmul_coop_xh_*,
// whole and cut into runs of K) against the f32-x ones on the same x: both
// stage the same halves, so the results are the same bits.
func TestMatMulCoopHalfXVulkan(t *testing.T) {
	d := coopDevice(t)
	for _, c := range []struct {
		typ       quant.Type
		T, kparts int
		s         shapeCase
	}{
		{quant.Q4_K, 97, 1, shapeCase{130, 512, true}},
		{quant.Q6_K, 200, 1, shapeCase{64, 256, false}},
		{quant.Q5_0, 40, 1, shapeCase{70, 96, false}},
		{quant.F16, 33, 1, shapeCase{40, 200, false}},
		{quant.Q4_K, 150, 3, shapeCase{200, 2560, true}},
	} {
		t.Run(fmt.Sprintf("%s/T=%d/kparts=%d/%v", typeName(c.typ), c.T, c.kparts, c.s), func(t *testing.T) {
			w := vkTestWeight(t, c.typ, c.s)
			r := rand.New(rand.NewPCG(uint64(c.T), uint64(w.Cols)))
			x := randFloats(r, c.T*w.Cols, 3e4) // some past the f16 range
			var got [2][]float32
			for i, half := range []bool{false, true} {
				xb := vktest.F32Bytes(x)
				if half {
					xb = halfBytes(x)
				}
				if c.kparts == 1 {
					ds, err := MatMulCoopPartVk(d.Caps(), c.typ, c.T, w.Rows, w.Cols, w.Rows, half)
					if err != nil {
						t.Fatal(err)
					}
					got[i] = vktest.Floats(vktest.RunOn(t, d, ds, w.DeviceData(), xb, vktest.Poisoned(4*c.T*w.Rows))[2])
					continue
				}
				ds, err := MatMulCoopSplitVk(d.Caps(), c.typ, c.T, w.Rows, w.Cols, w.Rows, c.kparts, half)
				if err != nil {
					t.Fatal(err)
				}
				parts := vktest.RunOn(t, d, ds[0], w.DeviceData(), xb, vktest.Poisoned(MatMulCoopSplitScratch(c.T, w.Rows, c.kparts)))[2]
				got[i] = vktest.Floats(vktest.RunOn(t, d, ds[1], parts, vktest.Poisoned(4*c.T*w.Rows))[1])
			}
			testutil.CheckClose(t, "f16 x against f32 x", got[1], got[0], 0)
			testutil.CheckClose(t, "against the reference", got[1], coopReference(w, x, c.T), 1e-5)
		})
	}
	if _, err := MatMulCoopPartVk(d.Caps(), quant.F32, 2, 16, 64, 16, true); err == nil {
		t.Error("f16 x accepted for F32 weights")
	}
}
