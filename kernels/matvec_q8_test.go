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

var q8TestTypes = []quant.Type{quant.Q4_0, quant.Q5_0, quant.Q8_0, quant.Q4_K, quant.Q6_K}

// q8Shapes are the weight shapes of the matvec_q8 tests: rows off the
// workgroup's 8 and 16, columns giving teams of 2 to 32 lanes.
func q8Shapes(t quant.Type) []shapeCase {
	if t.BlockElems() == 32 {
		return []shapeCase{{1, 32, false}, {7, 96, true}, {33, 256, false}, {13, 2560, true}, {4100, 64, true}}
	}
	return []shapeCase{{1, 256, false}, {7, 768, true}, {33, 2560, false}, {13, 10240, true}, {4100, 256, true}}
}

func TestQuantizeQ8(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := randFloats(r, 96, 3)
	for i := 32; i < 64; i++ {
		x[i] = 0 // an all-zero block quantizes to zeros
	}
	x[70] = -50 // one large value sets its block's scale
	got := QuantizeQ8(x)
	for b := 0; b < len(x); b += 32 {
		var amax float64
		for _, v := range x[b : b+32] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		s := amax / 127
		for i := b; i < b+32; i++ {
			if d := math.Abs(float64(got[i] - x[i])); d > s/2*(1+1e-6) {
				t.Errorf("x[%d] = %g quantized to %g: error %g > s/2 = %g", i, x[i], got[i], d, s/2)
			}
			if q := float64(got[i]) / s; s > 0 && math.Abs(q-math.Round(q)) > 1e-3 {
				t.Errorf("x[%d] quantized to %g, not a multiple of s = %g", i, got[i], s)
			}
		}
	}
	if got[70] != -50 {
		t.Errorf("block maximum -50 quantized to %g, want it exact", got[70])
	}
}

// Tolerance: the integer products are exact, but scales meet them in f32
// in another order than the reference, and a device's 127/amax may differ
// from the reference's in the last bit, which can move a rounding tie of
// one activation by one step (an error of s·|w| against outputs summed
// over all columns).
const q8Tol = 1e-3

func TestMatVecQ8Vulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, typ := range q8TestTypes {
		for _, s := range q8Shapes(typ) {
			t.Run(fmt.Sprintf("type=%s/%v", typeName(typ), s), func(t *testing.T) {
				w := vkTestWeight(t, typ, s)
				ds, err := MatVecQ8Vk(d.Caps(), typ, s.rows, s.cols)
				if err != nil {
					t.Fatal(err)
				}
				runMatVecQ8(t, ds, w, nil)
			})
		}
	}
}

// TestMatVecQ8VulkanLayouts runs other team widths and workgroup shapes
// than the lowering picks: teams narrower and wider than the row's units,
// fewer teams than rows per workgroup (teams loop, also over 64 rows), and
// a workgroup of one subgroup. Tolerance as TestMatVecQ8Vulkan.
func TestMatVecQ8VulkanLayouts(t *testing.T) {
	d := vktest.Device(t)
	sg := uint32(subgroupSize(d.Caps()))
	layouts := []struct {
		name                 string
		threads, team, wgRow uint32
	}{
		{"team2", 2 * sg, 2, 8},
		{"team-subgroup", 2 * sg, sg, 8},
		{"teams-loop", sg, sg / 2, 7},
		{"tall", min(8*sg, 256), sg, 64}, // an lm head's 64 rows a workgroup
	}
	for _, typ := range q8TestTypes {
		s := shapeCase{rows: 13, cols: 2 * typ.BlockElems() * 4, raw: true}
		w := vkTestWeight(t, typ, s)
		for _, l := range layouts {
			t.Run(fmt.Sprintf("type=%s/%v/%s", typeName(typ), s, l.name), func(t *testing.T) {
				ds, err := MatVecQ8Vk(d.Caps(), typ, s.rows, s.cols)
				if err != nil {
					t.Fatal(err)
				}
				ds.Spec = []uint32{l.threads, l.team, l.wgRow, uint32(s.cols)}
				ds.Groups = rowGroups(int(ceilDiv(s.rows, int(l.wgRow))))
				runMatVecQ8(t, ds, w, nil)
			})
		}
	}
}

// Tolerance as TestMatVecQ8Vulkan.
func TestMatVecGeluQ8Vulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, typ := range q8TestTypes {
		for _, s := range q8Shapes(typ)[1:4] {
			t.Run(fmt.Sprintf("type=%s/%v", typeName(typ), s), func(t *testing.T) {
				wg := vkTestWeight(t, typ, s)
				up := vkTestWeight(t, typ, shapeCase{rows: s.rows, cols: s.cols, raw: !s.raw})
				ds, err := MatVecGeluQ8Vk(d.Caps(), typ, s.rows, s.cols)
				if err != nil {
					t.Fatal(err)
				}
				runMatVecQ8(t, ds, wg, up)
			})
		}
	}
}

// runMatVecQ8 runs a matvec_q8 dispatch (the GELU variant when up is not
// nil) against the CPU reference on QuantizeQ8(x).
func runMatVecQ8(t *testing.T, ds gpu.Dispatch, w, up *Weight) {
	t.Helper()
	r := rand.New(rand.NewPCG(9, uint64(w.Cols)))
	x := randFloats(r, w.Cols, 2)
	xq := QuantizeQ8(x)
	want := make([]float32, w.Rows)
	bufs := [][]byte{w.DeviceData()}
	if up == nil {
		MatMul(want, xq, w, 1, nil, 0, w.Rows)
	} else {
		MatVecGelu(want, xq, w, up, make([]float32, w.Rows), 0, w.Rows)
		bufs = append(bufs, up.DeviceData())
	}
	bufs = append(bufs, vktest.F32Bytes(x), vktest.Poisoned(4*w.Rows))
	out := vktest.Run(t, ds, bufs...)
	testutil.CheckClose(t, "y", vktest.Floats(out[len(out)-1]), want, q8Tol)
	if !bytes.Equal(out[0], w.DeviceData()) {
		t.Error("W changed")
	}
	testutil.CheckClose(t, "x unchanged", vktest.Floats(out[len(out)-2]), x, 0)
	// The rounding of x is what the kernel adds: against the exact x the
	// error stays near the activation step.
	exact := make([]float32, w.Rows)
	if up == nil {
		MatMul(exact, x, w, 1, nil, 0, w.Rows)
		if e := testutil.RelErr(vktest.Floats(out[len(out)-1]), exact); e > 0.05 {
			t.Errorf("against unrounded x: relative error %.3g", e)
		}
	}
}

// TestMatVecQ8Supported checks which devices, types and shapes the
// lowering takes.
func TestMatVecQ8Supported(t *testing.T) {
	full := gpu.Caps{SubgroupSize: 32, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 48 << 10,
		IntegerDot: true, SubgroupArithmetic: true, SubgroupShuffle: true}
	noDot := full
	noDot.IntegerDot = false
	noCluster := full
	noCluster.SubgroupShuffle = false
	for _, c := range []struct {
		name string
		caps gpu.Caps
		typ  quant.Type
		cols int
		want bool
	}{
		{"q4_k", full, quant.Q4_K, 2560, true},
		{"q6_k-long", full, quant.Q6_K, 21504, true},
		{"too-long", full, quant.Q4_K, 40960, false},
		{"ragged", full, quant.Q4_K, 320, false},
		{"f16", full, quant.F16, 2560, false},
		{"q5_k", full, quant.Q5_K, 2560, false},
		{"q5_0", full, quant.Q5_0, 640, true},
		{"no-intdot", noDot, quant.Q4_0, 2560, false},
		{"no-shuffle", noCluster, quant.Q4_0, 2560, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := MatVecQ8Supported(c.caps, c.typ, c.cols); got != c.want {
				t.Errorf("MatVecQ8Supported = %v, want %v", got, c.want)
			}
			if _, err := MatVecQ8Vk(c.caps, c.typ, 8, c.cols); (err == nil) != c.want {
				t.Errorf("MatVecQ8Vk: err = %v", err)
			}
		})
	}
	ds, err := MatVecQ8Vk(full, quant.Q4_K, 3_000_000, 256)
	if err != nil {
		t.Fatal(err)
	}
	g, wgRows := ds.Groups, int(ds.Spec[2])
	if g[0] > maxGroups || g[1] > maxGroups || int(g[0])*int(g[1])*wgRows < 3_000_000 || ds.Spec[0]%32 != 0 {
		t.Errorf("groups %v, spec %v", g, ds.Spec)
	}
}

// TestMatVecQ8NormVulkan runs the NORM variants against AddRMSNorm, then
// QuantizeQ8 and the product, on the CPU; with write set the residual sum
// is checked too. Tolerance as TestMatVecQ8Vulkan (the norms' sums add
// f32 reordering of about 1e-7).
func TestMatVecQ8NormVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, typ := range q8TestTypes {
		for _, s := range q8Shapes(typ)[1:3] {
			for _, gelu := range []bool{false, true} {
				t.Run(fmt.Sprintf("type=%s/%v/gelu=%v", typeName(typ), s, gelu), func(t *testing.T) {
					w := vkTestWeight(t, typ, s)
					up := vkTestWeight(t, typ, shapeCase{rows: s.rows, cols: s.cols, raw: !s.raw})
					r := rand.New(rand.NewPCG(5, uint64(s.cols)))
					o, x := randFloats(r, s.cols, 3), randFloats(r, s.cols, 1)
					g1, g2 := randFloats(r, s.cols, 2), randFloats(r, s.cols, 2)
					const eps = 1e-6
					xnew, f := make([]float32, s.cols), make([]float32, s.cols)
					AddRMSNorm(xnew, f, o, x, g1, g2, eps, 0, 1)
					want := make([]float32, s.rows)
					lower := MatVecQ8NormVk
					bufs := [][]byte{w.DeviceData()}
					if gelu {
						lower = MatVecGeluQ8NormVk
						MatVecGelu(want, QuantizeQ8(f), w, up, make([]float32, s.rows), 0, s.rows)
						bufs = append(bufs, up.DeviceData())
					} else {
						MatMul(want, QuantizeQ8(f), w, 1, nil, 0, s.rows)
					}
					ds, err := lower(d.Caps(), typ, s.rows, s.cols, eps, true)
					if err != nil {
						t.Fatal(err)
					}
					n := len(bufs)
					bufs = append(bufs, vktest.F32Bytes(o), vktest.Poisoned(4*s.rows), vktest.F32Bytes(x),
						vktest.F32Bytes(g1), vktest.F32Bytes(g2), vktest.Poisoned(4*s.cols))
					out := vktest.Run(t, ds, bufs...)
					testutil.CheckClose(t, "y", vktest.Floats(out[n+1]), want, q8Tol)
					testutil.CheckClose(t, "xnew", vktest.Floats(out[n+5]), xnew, 1e-6)
				})
			}
		}
	}
	// Without write, xnew is left alone.
	typ, s := quant.Q4_K, shapeCase{rows: 9, cols: 512}
	w := vkTestWeight(t, typ, s)
	ds, err := MatVecQ8NormVk(d.Caps(), typ, s.rows, s.cols, 1e-6, false)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(6, 6))
	out := vktest.Run(t, ds, w.DeviceData(), vktest.F32Bytes(randFloats(r, s.cols, 1)), vktest.Poisoned(4*s.rows),
		vktest.F32Bytes(randFloats(r, s.cols, 1)), vktest.F32Bytes(randFloats(r, s.cols, 1)),
		vktest.F32Bytes(randFloats(r, s.cols, 1)), vktest.Poisoned(4*s.cols))
	if !bytes.Equal(out[6], vktest.Poisoned(4*s.cols)) {
		t.Error("xnew written with write = 0")
	}
}

// TestMatVecQ8Handoff runs the gated product writing its y as a q8
// activation (plain and with the seam's norms) and the next product
// reading it: the activation holds y quantized as QuantizeQ8 does, with
// each block's sums, and the reading product gives what it gives when it
// quantizes y itself. The y the q8 variant quantizes is the f32 variant's
// up to the order of its sums (its workgroups take more rows, which a
// compiler may schedule differently), so both checks allow for the last
// bits of y.
func TestMatVecQ8Handoff(t *testing.T) {
	d := vktest.Device(t)
	for _, typ := range q8TestTypes {
		// F: the gated product's rows, the reading product's columns.
		F := 512
		if typ.BlockElems() == 32 {
			F = 96
		}
		for _, norm := range []bool{false, true} {
			t.Run(fmt.Sprintf("type=%s/norm=%v", typeName(typ), norm), func(t *testing.T) {
				const C, R, eps = 256, 37, 1e-6
				wg := vkTestWeight(t, typ, shapeCase{rows: F, cols: C, raw: true})
				wu := vkTestWeight(t, typ, shapeCase{rows: F, cols: C})
				wd := vkTestWeight(t, typ, shapeCase{rows: R, cols: F, raw: true})
				r := rand.New(rand.NewPCG(11, uint64(typ)))
				x, o := randFloats(r, C, 1), randFloats(r, C, 3)
				g1, g2 := randFloats(r, C, 2), randFloats(r, C, 2)
				gated := func(q8out bool) []byte {
					var ds gpu.Dispatch
					var err error
					y := vktest.Poisoned(4 * F)
					if q8out {
						y = vktest.Poisoned(Q8ActBytes(F))
					}
					bufs := [][]byte{wg.DeviceData(), wu.DeviceData(), vktest.F32Bytes(x), y}
					switch {
					case norm && q8out:
						ds, err = MatVecGeluQ8NormOutVk(d.Caps(), typ, F, C, eps, false)
					case norm:
						ds, err = MatVecGeluQ8NormVk(d.Caps(), typ, F, C, eps, false)
					case q8out:
						ds, err = MatVecGeluQ8OutVk(d.Caps(), typ, F, C)
					default:
						ds, err = MatVecGeluQ8Vk(d.Caps(), typ, F, C)
					}
					if err != nil {
						t.Fatal(err)
					}
					if norm {
						bufs = [][]byte{wg.DeviceData(), wu.DeviceData(), vktest.F32Bytes(o), y, vktest.F32Bytes(x),
							vktest.F32Bytes(g1), vktest.F32Bytes(g2), vktest.Poisoned(4 * C)}
					}
					return vktest.Run(t, ds, bufs...)[3]
				}
				y := vktest.Floats(gated(false))
				act := gated(true)
				checkQ8Act(t, act, y)

				plain, err := MatVecQ8Vk(d.Caps(), typ, R, F)
				if err != nil {
					t.Fatal(err)
				}
				in, err := MatVecQ8InVk(d.Caps(), typ, R, F)
				if err != nil {
					t.Fatal(err)
				}
				want := vktest.Run(t, plain, wd.DeviceData(), vktest.F32Bytes(y), vktest.Poisoned(4*R))[2]
				got := vktest.Run(t, in, wd.DeviceData(), act, vktest.Poisoned(4*R))[2]
				if !bytes.Equal(got, want) {
					testutil.CheckClose(t, "down from the q8 activation", vktest.Floats(got), vktest.Floats(want), 1e-5)
				}
			})
		}
	}
	if _, err := MatVecGeluQ8OutVk(d.Caps(), quant.Q8_0, 48, 64); err == nil {
		t.Error("q8 output of 48 rows (not whole blocks) lowered")
	}
}

// checkQ8Act checks a q8 activation of y: each block's scale is its
// largest magnitude over 127 (as QuantizeQ8 computes it, to a few ulps:
// the activation's y may differ from y in its last bits), each value the
// nearest multiple of the scale (ties either way, for the same reason),
// and each half's stored sum the sum of its int8 values.
func checkQ8Act(t *testing.T, act []byte, y []float32) {
	t.Helper()
	n := len(y)
	for b := 0; b < n/32; b++ {
		blk := act[n+8*b:]
		s := math.Float32frombits(binary.LittleEndian.Uint32(blk))
		var amax float64
		for _, v := range y[32*b : 32*b+32] {
			amax = max(amax, math.Abs(float64(v)))
		}
		if want := amax / 127; !(math.Abs(float64(s)-want) <= 1e-6*want) {
			t.Fatalf("block %d: scale %g, want %g", b, s, want)
		}
		var sums [2]int
		for i := 0; i < 32; i++ {
			q := int(int8(act[32*b+i]))
			sums[i/16] += q
			if s == 0 {
				if q != 0 {
					t.Fatalf("value %d: q %d in a block of zeros", 32*b+i, q)
				}
				continue
			}
			if d := math.Abs(float64(y[32*b+i])/float64(s) - float64(q)); !(d <= 0.5+1e-4) {
				t.Fatalf("value %d: q %d for y/scale %g", 32*b+i, q, float64(y[32*b+i])/float64(s))
			}
		}
		packed := binary.LittleEndian.Uint32(blk[4:])
		if int(int16(packed)) != sums[0] || int(int16(packed>>16)) != sums[1] {
			t.Fatalf("block %d: sums %d, %d stored, %v counted", b, int16(packed), int16(packed>>16), sums)
		}
	}
}
