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
				out := vktest.RunOn(t, d, ds, w.Data, vktest.F32Bytes(x), vktest.Poisoned(4*c.T*w.Rows))
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
				ds, err := matMulCoopTile(d.Caps(), typeName(typ), T, w.Rows, w.Cols, w.Rows, tile[0], tile[1])
				if err != nil {
					t.Fatal(err)
				}
				out := vktest.RunOn(t, d, ds, w.Data, vktest.F32Bytes(x), vktest.Poisoned(4*T*w.Rows))
				testutil.CheckClose(t, "matmul_coop", vktest.Floats(out[2]), coopReference(w, x, T), 1e-5)
			})
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
	ds, err := MatMulCoopPartVk(d.Caps(), quant.Q4_K, T, rows, cols, ldy)
	if err != nil {
		t.Fatal(err)
	}
	out := vktest.RunOn(t, d, ds, w.Data, vktest.F32Bytes(x), vktest.Poisoned(4*((T-1)*ldy+rows)))
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
			if _, err := MatMulCoopPartVk(tc.caps, tc.typ, tc.T, tc.rows, tc.cols, tc.l); err == nil {
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

// gatedCoopReference is matmul_coop_gelu's reference: gate and up as in
// coopReference (f16-rounded inputs, float64 sums, rounded to f32), then
// gelu(gate) * up with the shader's form of the GELU (gelu.glsl) in
// float64.
func gatedCoopReference(wg, wu *Weight, x []float32, T int) []float32 {
	g, u := coopReference(wg, x, T), coopReference(wu, x, T)
	y := make([]float32, len(g))
	for i := range y {
		v := float64(g[i])
		z := 0.7978845608028654 * (v + 0.044715*v*v*v)
		y[i] = float32(v / (1 + math.Exp(-2*z)) * float64(u[i]))
	}
	return y
}

// runMatMulGeluCoop runs one matmul_coop_gelu dispatch on T random tokens
// against gatedCoopReference, output poisoned, inputs checked unchanged.
// Tolerance 2e-5 of max |y|: each of the two f32 sums rounds as
// matmul_coop's (1e-5) and both reach y.
func runMatMulGeluCoop(t *testing.T, d *gpu.Device, ds gpu.Dispatch, wg, wu *Weight, T int) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(T), uint64(wg.Rows*1000+wg.Cols)))
	x := randFloats(r, T*wg.Cols, 1)
	out := vktest.RunOn(t, d, ds, wg.Data, wu.Data, vktest.F32Bytes(x), vktest.Poisoned(4*T*wg.Rows))
	testutil.CheckClose(t, "matmul_coop_gelu", vktest.Floats(out[3]), gatedCoopReference(wg, wu, x, T), 2e-5)
	if !bytes.Equal(out[0], wg.Data) || !bytes.Equal(out[1], wu.Data) {
		t.Error("a weight changed")
	}
	testutil.CheckClose(t, "x unchanged", vktest.Floats(out[2]), x, 0)
}

// TestMatMulGeluCoopVulkan checks matmul_coop_gelu for every weight type
// against the f16-rounded reference: T off the token tiles (one to four
// subgroups along tokens), rows off the 16- and 32-row blocks of y.
func TestMatMulGeluCoopVulkan(t *testing.T) {
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
				wg, wu := gateUp(t, typ, c.s.rows, c.s.cols, c.s.raw && typ.BlockElems() > 1)
				ds, err := MatMulGeluCoopVk(d.Caps(), typ, c.T, wg.Rows, wg.Cols)
				if err != nil {
					t.Fatal(err)
				}
				runMatMulGeluCoop(t, d, ds, wg, wu, c.T)
			})
		}
	}
}

// TestMatMulGeluCoopTilesVulkan checks every workgroup tile of
// matmul_coop_gelu on a shape off the tiles' edges.
func TestMatMulGeluCoopTilesVulkan(t *testing.T) {
	d := coopDevice(t)
	for _, typ := range []quant.Type{quant.F16, quant.Q4_K, quant.Q6_K, quant.Q5_0} {
		for _, tile := range [][2]int{{4, 2}, {2, 2}, {4, 1}, {2, 1}, {1, 1}} {
			const T, rows, cols = 150, 100, 512
			t.Run(fmt.Sprintf("%s/st=%d/sr=%d", typeName(typ), tile[0], tile[1]), func(t *testing.T) {
				wg, wu := gateUp(t, typ, rows, cols, false)
				ds, err := matMulGeluCoopTile(d.Caps(), typeName(typ), T, rows, cols, tile[0], tile[1])
				if err != nil {
					t.Fatal(err)
				}
				runMatMulGeluCoop(t, d, ds, wg, wu, T)
			})
		}
	}
}

// TestMatMulGeluCoopRejects checks the fused lowering's errors and its
// layout: one workgroup per 64 rows of y at the 4B shape.
func TestMatMulGeluCoopRejects(t *testing.T) {
	c := gpu.Caps{CoopMat: true, SubgroupSize: 32, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 48 << 10}
	for _, tc := range []struct {
		name          string
		caps          gpu.Caps
		typ           quant.Type
		T, rows, cols int
	}{
		{"no coopmat", gpu.Caps{SubgroupSize: 32}, quant.F16, 4, 8, 8},
		{"ragged cols", c, quant.F16, 4, 8, 12},
		{"no tokens", c, quant.Q4_0, 0, 8, 32},
		{"no rows", c, quant.Q4_0, 4, 0, 32},
		{"no decoder", c, quant.IQ4_NL, 4, 8, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := MatMulGeluCoopVk(tc.caps, tc.typ, tc.T, tc.rows, tc.cols); err == nil {
				t.Fatal("lowered")
			}
		})
	}
	if CoopMatMulGeluSupported(gpu.Caps{SubgroupSize: 32}, quant.Q4_K, 2560) || !CoopMatMulGeluSupported(c, quant.Q4_K, 2560) {
		t.Fatal("support of Q4_K 2560 columns misreported")
	}
	ds, err := MatMulGeluCoopVk(c, quant.Q4_K, 512, 10240, 2560)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Shader != "matmul_coop_gelu_q4_k" || ds.Spec[0] != 256 || ds.Spec[1] != 4 || ds.Spec[2] != 2 ||
		ds.Groups != [3]uint32{160, 4, 1} {
		t.Fatalf("layout %s spec %v groups %v", ds.Shader, ds.Spec, ds.Groups)
	}
}

// BenchmarkMatMulGeluCoop measures the fused gate/up/GELU product on
// cooperative matrices against the unfused path the graph records without
// it (the gate and up products at one level, then gelu_mul_f32) at the 4B
// model's MLP shape.
func BenchmarkMatMulGeluCoop(b *testing.B) {
	d := coopDevice(b)
	c := d.Caps()
	r := rand.New(rand.NewPCG(7, 8))
	for _, typ := range []quant.Type{quant.Q4_K, quant.F16} {
		for _, s := range []struct{ T, rows, cols int }{{512, 10240, 2560}, {128, 10240, 2560}} {
			row, err := quant.Quantize(typ, randFloats(r, s.cols, 1))
			if err != nil {
				b.Fatal(err)
			}
			ws := benchBuffers(b, d, 2, uint64(len(row)*s.rows), row)
			x := benchBuffers(b, d, 1, uint64(4*s.T*s.cols), vktest.F32Bytes(randFloats(r, 4096, 1)))[0]
			outs := benchBuffers(b, d, 3, uint64(4*s.T*s.rows), vktest.Poisoned(4)) // gate, up, y
			flops := 4.0 * float64(s.T*s.rows*s.cols)
			b.Run(fmt.Sprintf("%s/T=%d/%dx%d/kernel=fused", typeName(typ), s.T, s.rows, s.cols), func(b *testing.B) {
				ds, err := MatMulGeluCoopVk(c, typ, s.T, s.rows, s.cols)
				if err != nil {
					b.Skip(err)
				}
				bound, err := d.Bind(ds, ws[0], ws[1], x, outs[2])
				if err != nil {
					b.Fatal(err)
				}
				defer bound.Close()
				times := gpuTimes(b, d, 10, func(int) *gpu.Bound { return bound })
				b.ReportMetric(flops/median(times)/1e12, "TFLOP/s")
				b.ReportMetric(median(times)*1e6, "us/op")
			})
			b.Run(fmt.Sprintf("%s/T=%d/%dx%d/kernel=unfused", typeName(typ), s.T, s.rows, s.cols), func(b *testing.B) {
				mm, err := MatMulCoopVk(c, typ, s.T, s.rows, s.cols)
				if err != nil {
					b.Skip(err)
				}
				var bound [3]*gpu.Bound
				for i, bufs := range [][]gpu.Buffer{{ws[0], x, outs[0]}, {ws[1], x, outs[1]}} {
					if bound[i], err = d.Bind(mm, bufs...); err != nil {
						b.Fatal(err)
					}
					defer bound[i].Close()
				}
				if bound[2], err = d.Bind(GeluMulVk(c, s.T*s.rows), outs[0], outs[1], outs[2]); err != nil {
					b.Fatal(err)
				}
				defer bound[2].Close()
				times := gpuTimesOf(b, d, 10, func(rec *gpu.Recorder, _ int) {
					rec.Dispatch(bound[0])
					rec.Dispatch(bound[1])
					rec.Barrier()
					rec.Dispatch(bound[2])
					rec.Barrier()
				})
				b.ReportMetric(flops/median(times)/1e12, "TFLOP/s")
				b.ReportMetric(median(times)*1e6, "us/op")
			})
		}
	}
}
