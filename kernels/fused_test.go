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

// gateUp returns two different seeded [rows, cols] weights of type typ: the
// two halves of one [2·rows, cols] test weight (vkTestWeight).
func gateUp(t *testing.T, typ quant.Type, rows, cols int, raw bool) (wg, wu *Weight) {
	t.Helper()
	w := vkTestWeight(t, typ, shapeCase{rows: 2 * rows, cols: cols, raw: raw})
	rb := w.RowBytes()
	wg = &Weight{Name: "gate", Type: typ, Rows: rows, Cols: cols, Data: w.Data[:rows*rb]}
	wu = &Weight{Name: "up", Type: typ, Rows: rows, Cols: cols, Data: w.Data[rows*rb:]}
	return wg, wu
}

// sameBits fails the test unless got and want are equal bit for bit.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s[%d] = %g, want %g (unfused)", what, i, got[i], want[i])
		}
	}
}

// TestMatVecGelu checks the CPU reference against the unfused path (MatMul
// for gate and up, then GeluMul) bit for bit, whole and in row ranges.
func TestMatVecGelu(t *testing.T) {
	for _, typ := range []quant.Type{quant.F32, quant.Q8_0, quant.Q4_K} {
		const rows, cols = 37, 256
		t.Run(fmt.Sprintf("type=%s/rows=%d/cols=%d", typeName(typ), rows, cols), func(t *testing.T) {
			wg, wu := gateUp(t, typ, rows, cols, false)
			x := randFloats(rand.New(rand.NewPCG(1, 2)), cols, 1)
			g, u := make([]float32, rows), make([]float32, rows)
			MatMul(g, x, wg, 1, nil, 0, rows)
			MatMul(u, x, wu, 1, nil, 0, rows)
			want := make([]float32, rows)
			GeluMul(want, g, u, 0, rows)
			got := make([]float32, rows)
			scratch := make([]float32, rows)
			for _, cut := range [][2]int{{0, 5}, {5, 6}, {6, 6}, {6, rows}} {
				MatVecGelu(got, x, wg, wu, scratch, cut[0], cut[1])
			}
			sameBits(t, "y", got, want)
		})
	}
}

// TestAddRMSNorm checks the CPU reference against the unfused path
// (RMSNorm, Add, RMSNorm) bit for bit, with and without the second norm and
// with xnew in place of x.
func TestAddRMSNorm(t *testing.T) {
	const rows, n, eps = 3, 33, 1e-6
	r := rand.New(rand.NewPCG(3, 4))
	o, x := randFloats(r, rows*n, 4), randFloats(r, rows*n, 4)
	g1, g2 := randFloats(r, n, 2), randFloats(r, n, 2)
	tmp := make([]float32, rows*n)
	RMSNorm(tmp, o, g1, eps, 0, rows)
	wantX := make([]float32, rows*n)
	Add(wantX, x, tmp, 0, rows*n)
	wantF := make([]float32, rows*n)
	RMSNorm(wantF, wantX, g2, eps, 0, rows)

	xnew, f := make([]float32, rows*n), make([]float32, rows*n)
	AddRMSNorm(xnew, f, o, x, g1, g2, eps, 0, 1)
	AddRMSNorm(xnew, f, o, x, g1, g2, eps, 1, rows)
	sameBits(t, "xnew", xnew, wantX)
	sameBits(t, "f", f, wantF)

	clear(xnew)
	AddRMSNorm(xnew, nil, o, x, g1, nil, eps, 0, rows)
	sameBits(t, "xnew (no second norm)", xnew, wantX)

	inPlace := append([]float32(nil), x...)
	AddRMSNorm(inPlace, f, o, inPlace, g1, g2, eps, 0, rows)
	sameBits(t, "xnew (in place)", inPlace, wantX)
	sameBits(t, "f (in place)", f, wantF)
}

// matVecGeluCols are the row lengths tested for typ: a few blocks, and for
// the plain types ragged lengths (the element loop) as well.
func matVecGeluCols(typ quant.Type) []int {
	switch typ.BlockElems() {
	case 1:
		return []int{64, 1152, 7, 257}
	case 32:
		return []int{32, 96, 2560}
	}
	return []int{256, 768, 2560}
}

// runMatVecGelu runs one matvec_gelu dispatch against MatVecGelu, output
// poisoned, inputs checked unchanged.
func runMatVecGelu(t *testing.T, ds gpu.Dispatch, wg, wu *Weight) {
	t.Helper()
	rows, cols := wg.Rows, wg.Cols
	x := randFloats(rand.New(rand.NewPCG(9, uint64(cols))), cols, 1)
	want := make([]float32, rows)
	MatVecGelu(want, x, wg, wu, make([]float32, rows), 0, rows)
	out := vktest.Run(t, ds, wg.DeviceData(), wu.DeviceData(), vktest.F32Bytes(x), vktest.Poisoned(4*rows))
	checkGated(t, vktest.Floats(out[3]), want, x, wg, wu, 1e-5)
	if !bytes.Equal(out[0], wg.DeviceData()) {
		t.Error("Wg changed")
	}
	if !bytes.Equal(out[1], wu.DeviceData()) {
		t.Error("Wu changed")
	}
	testutil.CheckClose(t, "x unchanged", vktest.Floats(out[2]), x, 0)
}

// checkGated fails the test when some |got - want| exceeds tol times the
// largest error scale of a row, |gate|_1 |up| + |gate| |up|_1, where
// |gate|_1 = sum_c |Wg[r][c] x[c]| bounds the rounding of the f32 sum
// gate (likewise up). That is how the sums' rounding reaches y: gate's
// through gelu's slope (at most 1.13) times |up|, up's through
// |gelu(gate)| <= |gate|. Relative to max |y| instead, a row whose gate is
// far below 0 (y ~ 0) or whose products cancel would fail on noise.
func checkGated(t *testing.T, got, want, x []float32, wg, wu *Weight, tol float64) {
	t.Helper()
	rows, cols := wg.Rows, wg.Cols
	row := make([]float32, cols)
	// dot returns sum_c w[c] x[c] and sum_c |w[c] x[c]| of row r.
	dot := func(w *Weight, r int) (s, a float64) {
		w.DecodeRow(r, row)
		for c, v := range row {
			p := float64(v) * float64(x[c])
			s, a = s+p, a+math.Abs(p)
		}
		return s, a
	}
	scale := 0.0
	for r := 0; r < rows; r++ {
		g, ga := dot(wg, r)
		u, ua := dot(wu, r)
		scale = max(scale, ga*math.Abs(u)+math.Abs(g)*ua, math.Abs(float64(want[r])))
	}
	worst := 0.0
	for r := 0; r < rows; r++ {
		e := math.Abs(float64(got[r]) - float64(want[r]))
		if !(e <= tol*scale) {
			t.Fatalf("y[%d] = %g, want %g: error %.3g of the error scale %.3g", r, got[r], want[r], e/scale, scale)
		}
		worst = max(worst, e/scale)
	}
	t.Logf("y: largest error %.3g of the error scale", worst)
}

// Tolerance 1e-5 of the rows' largest error scale (checkGated): gate and up are
// f32 sums in another order than the reference's dot products (as
// TestMatVecVulkan), and the GPU's gelu is a few ulp off GeluTanh
// (TestElementwiseVulkan).
func TestMatVecGeluVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, typ := range vkTestTypes {
		for i, cols := range matVecGeluCols(typ) {
			for j, rows := range []int{1, 7, 33, 130} {
				raw := (i+j)%2 == 1 && typ.BlockElems() > 1
				s := shapeCase{rows: rows, cols: cols, raw: raw}
				t.Run(fmt.Sprintf("type=%s/%v", typeName(typ), s), func(t *testing.T) {
					wg, wu := gateUp(t, typ, rows, cols, raw)
					ds, err := MatVecGeluVk(d.Caps(), typ, rows, cols)
					if err != nil {
						t.Fatal(err)
					}
					runMatVecGelu(t, ds, wg, wu)
				})
			}
		}
	}
}

// TestMatVecGeluVulkanLayouts runs every type with a workgroup layout the
// lowering does not pick: two rows per subgroup with a ragged last set, two
// units per step, and a workgroup of one subgroup that loops over its row
// sets (one layout for all three, as pipelines with both weights unrolled
// take lavapipe about a second each to compile). Tolerance as
// TestMatVecGeluVulkan.
func TestMatVecGeluVulkanLayouts(t *testing.T) {
	d := vktest.Device(t)
	sg := uint32(subgroupSize(d.Caps()))
	layouts := []struct {
		name                        string
		wg, rowsPer, wgRows, unroll uint32
	}{
		{"rows2-unroll2-one-subgroup", sg, 2, 6, 2},
	}
	for _, typ := range vkTestTypes {
		s := layoutShape(typ)
		wg, wu := gateUp(t, typ, s.rows, s.cols, s.raw)
		for _, l := range layouts {
			t.Run(fmt.Sprintf("type=%s/%v/%s", typeName(typ), s, l.name), func(t *testing.T) {
				ds, err := MatVecGeluVk(d.Caps(), typ, s.rows, s.cols)
				if err != nil {
					t.Fatal(err)
				}
				ds.Spec = []uint32{l.wg, l.rowsPer, l.wgRows, l.unroll}
				ds.Groups = rowGroups(int(ceilDiv(s.rows, int(l.wgRows))))
				runMatVecGelu(t, ds, wg, wu)
			})
		}
	}
}

// TestMatVecGeluVkLowering checks the lowering's shader name and its
// groups for a shape too large to run here (TestMatVecVkLowering checks
// its errors with the other products').
func TestMatVecGeluVkLowering(t *testing.T) {
	caps := gpu.Caps{SubgroupSize: 32, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 48 << 10}
	rows := 3_000_000
	ds, err := MatVecGeluVk(caps, quant.Q4_K, rows, 256)
	if err != nil {
		t.Fatal(err)
	}
	g, wgRows := ds.Groups, int(ds.Spec[2])
	if ds.Shader != "matvec_gelu_q4_k" || g[0] > maxGroups || g[1] > maxGroups || int(g[0])*int(g[1])*wgRows < rows {
		t.Errorf("rows=%d: %s groups %v, spec %v", rows, ds.Shader, g, ds.Spec)
	}
}

// runAddNorm runs one addnorm dispatch on o, x, g1, g2, poisoned xnew and
// f; with inPlace, xnew is bound to x's buffer (binding 4 = binding 1). It
// returns xnew, f and the inputs as they are after the run.
func runAddNorm(t *testing.T, ds gpu.Dispatch, o, x, g1, g2 []float32, inPlace bool) (xnew, f []float32, ins [4][]float32) {
	t.Helper()
	d := vktest.Device(t)
	before := len(d.Messages())
	n := len(x)
	data := [][]byte{vktest.F32Bytes(o), vktest.F32Bytes(x), vktest.F32Bytes(g1), vktest.F32Bytes(g2),
		vktest.Poisoned(4 * n), vktest.Poisoned(4 * n)}
	bufs := make([]gpu.Buffer, len(data))
	for i, b := range data {
		if inPlace && i == 4 {
			bufs[i] = bufs[1]
			continue
		}
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
	run := vktest.Record(t, d, ds, bufs...)
	if err := run.Run(); err != nil {
		t.Fatal(err)
	}
	got := make([][]float32, len(bufs))
	for i, b := range bufs {
		img := make([]byte, len(data[i]))
		if err := d.Download(img, b); err != nil {
			t.Fatal(err)
		}
		got[i] = vktest.Floats(img)
	}
	if msgs := d.Messages(); len(msgs) > before {
		t.Fatalf("validation: %v", msgs[before:])
	}
	return got[4], got[5], [4][]float32{got[0], got[1], got[2], got[3]}
}

// Tolerance 1e-5 relative to the largest output: the GPU sums squares in
// f32 in another order than RMSNorm's float64 (as TestRMSNormVulkan), and
// f normalizes an xnew that carries that error.
func TestAddRMSNormVulkan(t *testing.T) {
	d := vktest.Device(t)
	const eps = 1e-6
	for _, rows := range []int{1, 3, 64} {
		for _, n := range []int{1, 7, 33, 257, 640, 2560} {
			for _, second := range []bool{true, false} {
				// In place for a few shapes (xnew bound to x's buffer).
				inPlace := n == 257 || (rows == 3 && n == 2560)
				name := fmt.Sprintf("rows=%d/n=%d/second=%v/inplace=%v", rows, n, second, inPlace)
				t.Run(name, func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(rows), uint64(n)))
					o, x := randFloats(r, rows*n, 4), randFloats(r, rows*n, 4)
					g1, g2 := randFloats(r, n, 2), randFloats(r, n, 2)
					wantX, wantF := make([]float32, rows*n), make([]float32, rows*n)
					if second {
						AddRMSNorm(wantX, wantF, o, x, g1, g2, eps, 0, rows)
					} else {
						AddRMSNorm(wantX, nil, o, x, g1, nil, eps, 0, rows)
					}
					ds := AddRMSNormVk(d.Caps(), rows, n, eps, second)
					xnew, f, ins := runAddNorm(t, ds, o, x, g1, g2, inPlace)
					testutil.CheckClose(t, "xnew", xnew, wantX, 1e-5)
					if second {
						testutil.CheckClose(t, "f", f, wantF, 1e-5)
					} else if !bytes.Equal(vktest.F32Bytes(f), vktest.Poisoned(4*rows*n)) {
						t.Error("f written without the second norm")
					}
					testutil.CheckClose(t, "o unchanged", ins[0], o, 0)
					if !inPlace {
						testutil.CheckClose(t, "x unchanged", ins[1], x, 0)
					}
					testutil.CheckClose(t, "g1 unchanged", ins[2], g1, 0)
					testutil.CheckClose(t, "g2 unchanged", ins[3], g2, 0)
				})
			}
		}
	}
}

// TestAddRMSNormVulkanGrid runs more rows than one grid dimension holds,
// so rowGroups spreads them over x and y. Tolerance as TestAddRMSNormVulkan
// (rows of 8, not fewer: among 65538 rows of 2 some xnew cancels to near 0
// and its norm magnifies xnew's rounding past 1e-5).
func TestAddRMSNormVulkanGrid(t *testing.T) {
	d := vktest.Device(t)
	const rows, n, eps = maxGroups + 3, 8, 1e-6
	ds := AddRMSNormVk(d.Caps(), rows, n, eps, true)
	if ds.Groups[1] < 2 {
		t.Fatalf("groups %v: want a 2D grid", ds.Groups)
	}
	r := rand.New(rand.NewPCG(5, 6))
	o, x := randFloats(r, rows*n, 4), randFloats(r, rows*n, 4)
	g1, g2 := randFloats(r, n, 2), randFloats(r, n, 2)
	wantX, wantF := make([]float32, rows*n), make([]float32, rows*n)
	AddRMSNorm(wantX, wantF, o, x, g1, g2, eps, 0, rows)
	out := vktest.Run(t, ds, vktest.F32Bytes(o), vktest.F32Bytes(x), vktest.F32Bytes(g1), vktest.F32Bytes(g2),
		vktest.Poisoned(4*rows*n), vktest.Poisoned(4*rows*n))
	testutil.CheckClose(t, "xnew", vktest.Floats(out[4]), wantX, 1e-5)
	testutil.CheckClose(t, "f", vktest.Floats(out[5]), wantF, 1e-5)
}

// BenchmarkMatVecGelu times the fused gate/up product of one token against
// the unfused path (matvec gate, matvec up, gelu_mul: three dispatches
// with barriers), at Gemma 3 4B and 12B MLP shapes, as microseconds per
// product and GB/s of both weights; "fused/rp=2" is the fused kernel with
// two rows per subgroup.
func BenchmarkMatVecGelu(b *testing.B) {
	d := vktest.Device(b)
	for _, sh := range [][2]int{{10240, 2560}, {15360, 3840}} {
		for _, qt := range []quant.Type{quant.Q4_K, quant.Q6_K, quant.Q8_0, quant.F16} {
			rows, cols := sh[0], sh[1]
			r := rand.New(rand.NewPCG(uint64(rows), uint64(qt)))
			row := deviceRow(b, qt, randFloats(r, cols, 1))
			wBytes := uint64(len(row) * rows)
			copies := int(max(2, rotateBytes/(2*wBytes)))
			ws := allocBuffers(b, d, 2*copies, wBytes, row)
			x := allocBuffers(b, d, 1, uint64(4*cols), vktest.F32Bytes(randFloats(r, cols, 1)))[0]
			tmp := allocBuffers(b, d, 3, uint64(4*rows), vktest.Poisoned(4))
			name, _ := vkWeight("matvec", qt, rows, cols)
			fused, _ := MatVecGeluVk(d.Caps(), qt, rows, cols)
			fused2 := fused
			fused2.Spec = []uint32{fused.Spec[0], 2, 2 * fused.Spec[2], fused.Spec[3]}
			fused2.Groups = rowGroups(int(ceilDiv(rows, int(2*fused.Spec[2]))))
			mv, _ := MatVecVk(d.Caps(), qt, rows, cols)
			for _, c := range []struct {
				name string
				ds   []gpu.Dispatch
			}{
				{"fused/rp=1", []gpu.Dispatch{fused}},
				{"fused/rp=2", []gpu.Dispatch{fused2}},
				{"unfused", []gpu.Dispatch{mv, mv, GeluMulVk(d.Caps(), rows)}},
			} {
				b.Run(fmt.Sprintf("type=%s/rows=%d/cols=%d/%s", name, rows, cols, c.name), func(b *testing.B) {
					var bounds []*gpu.Bound
					bind := func(ds gpu.Dispatch, bufs ...gpu.Buffer) {
						bd, err := d.Bind(ds, bufs...)
						if err != nil {
							b.Fatal(err)
						}
						bounds = append(bounds, bd)
					}
					for i := 0; i < copies; i++ {
						wg, wu := ws[2*i], ws[2*i+1]
						if len(c.ds) == 1 {
							bind(c.ds[0], wg, wu, x, tmp[2])
						} else {
							bind(c.ds[0], wg, x, tmp[0])
							bind(c.ds[1], wu, x, tmp[1])
							bind(c.ds[2], tmp[0], tmp[1], tmp[2])
						}
					}
					defer func() {
						for _, bd := range bounds {
							bd.Close()
						}
					}()
					k := len(c.ds)
					times := gpuTimes(b, d, 4*copies*k, func(i int) *gpu.Bound { return bounds[i%len(bounds)] })
					per := median(times) * float64(k)
					b.ReportMetric(float64(2*wBytes)/per/1e9, "GB/s")
					b.ReportMetric(per*1e6, "us/op")
				})
			}
			for _, w := range append(append(ws, x), tmp...) {
				d.Free(w)
			}
		}
	}
}
