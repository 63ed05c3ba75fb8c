package kernels

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
)

// vkTestTypes are the weight types of the matrix and embedding shaders.
var vkTestTypes = []quant.Type{
	quant.F32, quant.F16, quant.BF16,
	quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1, quant.Q8_0,
	quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K,
}

// f16Fields are the byte offsets of the binary16 scale fields in a block,
// patched to small finite values in random blocks.
var f16Fields = map[quant.Type][]int{
	quant.Q4_0: {0}, quant.Q4_1: {0, 2}, quant.Q5_0: {0}, quant.Q5_1: {0, 2}, quant.Q8_0: {0},
	quant.Q2_K: {80, 82}, quant.Q3_K: {108}, quant.Q4_K: {0, 2}, quant.Q5_K: {0, 2}, quant.Q6_K: {208},
}

// shapeCase is a weight shape. raw asks for random bytes with finite
// scales instead of quantized random floats: every bit pattern of the
// quants and packed scales turns up, which quantizing smooth data misses.
type shapeCase struct {
	rows, cols int
	raw        bool
}

// vkShapes returns the weight shapes tested for type t: rows off every
// multiple of the workgroup's rows and the subgroup, cols a few blocks
// (and ragged for the plain types).
func vkShapes(t quant.Type) []shapeCase {
	switch t.BlockElems() {
	case 1:
		return []shapeCase{{1, 1, false}, {7, 7, false}, {33, 257, false}, {130, 256, false}, {5, 2560, false}, {3, 96, false}}
	case 32:
		return []shapeCase{{1, 32, false}, {7, 96, true}, {33, 256, false}, {130, 2560, true}, {5, 2560, false}}
	}
	return []shapeCase{{1, 256, false}, {7, 768, true}, {33, 2560, false}, {130, 512, true}, {5, 2560, true}}
}

func (s shapeCase) String() string {
	src := "quantized"
	if s.raw {
		src = "raw"
	}
	return fmt.Sprintf("rows=%d/cols=%d/%s", s.rows, s.cols, src)
}

// vkTestWeight returns a seeded [rows, cols] weight of type t (see shapeCase).
func vkTestWeight(t testing.TB, typ quant.Type, s shapeCase) *Weight {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(typ), uint64(s.rows*100003+s.cols)))
	var data []byte
	if offs, ok := f16Fields[typ]; ok && s.raw {
		nb := s.rows * s.cols / typ.BlockElems()
		bb := typ.BlockBytes()
		data = make([]byte, nb*bb)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		for b := 0; b < nb; b++ {
			for _, o := range offs {
				h := quant.F32ToF16((2*r.Float32() - 1) / 16)
				binary.LittleEndian.PutUint16(data[b*bb+o:], h)
			}
		}
	} else {
		var err error
		data, err = quant.Quantize(typ, randFloats(r, s.rows*s.cols, 1))
		if err != nil {
			t.Fatal(err)
		}
	}
	w, err := NewWeight("w", typ, s.rows, s.cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func typeName(t quant.Type) string { return strings.ToLower(t.String()) }

// runMatVec runs one matvec dispatch against the CPU reference.
func runMatVec(t *testing.T, ds gpu.Dispatch, w *Weight) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, uint64(w.Cols)))
	x := randFloats(r, w.Cols, 1)
	want := make([]float32, w.Rows)
	MatMul(want, x, w, 1, nil, 0, w.Rows)
	out := vktest.Run(t, ds, w.DeviceData(), vktest.F32Bytes(x), vktest.Poisoned(4*w.Rows))
	testutil.CheckClose(t, "y", vktest.Floats(out[2]), want, 1e-5)
	if !bytes.Equal(out[0], w.DeviceData()) {
		t.Error("W changed")
	}
	testutil.CheckClose(t, "x unchanged", vktest.Floats(out[1]), x, 0)
}

// Tolerance: f32 accumulation in another order than the reference's dot
// products (and scales applied per element rather than per block).
func TestMatVecVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, typ := range vkTestTypes {
		for _, s := range vkShapes(typ) {
			t.Run(fmt.Sprintf("type=%s/%v", typeName(typ), s), func(t *testing.T) {
				w := vkTestWeight(t, typ, s)
				ds, err := MatVecVk(d.Caps(), typ, s.rows, s.cols)
				if err != nil {
					t.Fatal(err)
				}
				runMatVec(t, ds, w)
			})
		}
	}
}

// TestMatVecVulkanLayouts runs every type with other workgroup layouts than
// the lowering picks for the shape: two rows per subgroup with a ragged last
// set, two units per step, and a workgroup of one subgroup that loops over
// its row sets (as on a device whose subgroups are wider than assumed).
// Tolerance as TestMatVecVulkan.
func TestMatVecVulkanLayouts(t *testing.T) {
	d := vktest.Device(t)
	sg := uint32(subgroupSize(d.Caps()))
	layouts := []struct {
		name                       string
		wg, rowsPer, wgRows, unrol uint32
	}{
		{"rows2", 4 * sg, 2, 8, 1},
		{"rows2-unroll2", 2 * sg, 2, 4, 2},
		{"one-subgroup", sg, 2, 6, 2},
	}
	for _, typ := range vkTestTypes {
		s := layoutShape(typ)
		w := vkTestWeight(t, typ, s)
		for _, l := range layouts {
			t.Run(fmt.Sprintf("type=%s/%v/%s", typeName(typ), s, l.name), func(t *testing.T) {
				ds, err := MatVecVk(d.Caps(), typ, s.rows, s.cols)
				if err != nil {
					t.Fatal(err)
				}
				ds.Spec = []uint32{l.wg, l.rowsPer, l.wgRows, l.unrol}
				ds.Groups = rowGroups(int(ceilDiv(s.rows, int(l.wgRows))))
				runMatVec(t, ds, w)
			})
		}
	}
}

// TestMatVecVulkanTall covers a tall weight, where the lowering gives each
// subgroup two rows. Tolerance as TestMatVecVulkan.
func TestMatVecVulkanTall(t *testing.T) {
	d := vktest.Device(t)
	for _, typ := range []quant.Type{quant.Q4_0, quant.Q6_K, quant.F16} {
		s := shapeCase{rows: 8193, cols: typ.BlockElems() * 2, raw: true}
		if typ.BlockElems() == 1 {
			s.cols = 64
		}
		t.Run(fmt.Sprintf("type=%s/%v", typeName(typ), s), func(t *testing.T) {
			ds, err := MatVecVk(d.Caps(), typ, s.rows, s.cols)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Spec[1] != 2 {
				t.Fatalf("spec %v: want two rows per subgroup", ds.Spec)
			}
			runMatVec(t, ds, vkTestWeight(t, typ, s))
		})
	}
}

// Tolerance: f32 accumulation in another order than the reference's dot
// products.
func TestMatMulVulkan(t *testing.T) {
	d := vktest.Device(t)
	Ts := []int{1, 2, 5, 17, 64}
	for _, typ := range vkTestTypes {
		for i, s := range vkShapes(typ) {
			T := Ts[i%len(Ts)]
			t.Run(fmt.Sprintf("type=%s/%v/T=%d", typeName(typ), s, T), func(t *testing.T) {
				w := vkTestWeight(t, typ, s)
				r := rand.New(rand.NewPCG(11, uint64(T*s.cols)))
				x := randFloats(r, T*s.cols, 1)
				want := make([]float32, T*s.rows)
				MatMul(want, x, w, T, make([]float32, 4*s.cols), 0, s.rows)
				ds, err := MatMulVk(d.Caps(), typ, T, s.rows, s.cols)
				if err != nil {
					t.Fatal(err)
				}
				out := vktest.Run(t, ds, w.DeviceData(), vktest.F32Bytes(x), vktest.Poisoned(4*T*s.rows))
				testutil.CheckClose(t, "y", vktest.Floats(out[2]), want, 1e-5)
				if !bytes.Equal(out[0], w.DeviceData()) {
					t.Error("W changed")
				}
				testutil.CheckClose(t, "x unchanged", vktest.Floats(out[1]), x, 0)
			})
		}
	}
}

// TestMatVecVkLowering checks the lowerings' errors and their group counts
// for shapes too large to run here.
func TestMatVecVkLowering(t *testing.T) {
	caps := gpu.Caps{SubgroupSize: 32, MaxWorkgroupInvocations: 1024, MaxSharedMemory: 48 << 10}
	for _, c := range []struct {
		name       string
		typ        quant.Type
		rows, cols int
	}{
		{"unsupported", quant.IQ4_NL, 4, 32},
		{"unknown", quant.Q8_1, 4, 32},
		{"ragged", quant.Q4_K, 4, 320},
		{"ragged32", quant.Q8_0, 4, 48},
		{"empty", quant.F32, 0, 4},
		{"huge", quant.F32, 1 << 20, 1 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := MatVecVk(caps, c.typ, c.rows, c.cols); err == nil {
				t.Error("MatVecVk: no error")
			}
			if _, err := MatMulVk(caps, c.typ, 3, c.rows, c.cols); err == nil {
				t.Error("MatMulVk: no error")
			}
			if _, err := EmbedVk(caps, c.typ, 3, c.rows, c.cols, 1); err == nil {
				t.Error("EmbedVk: no error")
			}
			if _, err := MatVecGeluVk(caps, c.typ, c.rows, c.cols); err == nil {
				t.Error("MatVecGeluVk: no error")
			}
		})
	}
	if _, err := MatMulVk(caps, quant.F32, 0, 4, 4); err == nil {
		t.Error("MatMulVk: T = 0 accepted")
	}
	if _, err := MatVecVk(caps, quant.IQ4_XS, 4, 256); !errors.Is(err, ErrNoGPUDecoder) {
		t.Errorf("IQ4_XS: err = %v, want ErrNoGPUDecoder (callers fall back to the CPU on it)", err)
	}

	rows := 3_000_000
	ds, err := MatVecVk(caps, quant.Q4_0, rows, 32)
	if err != nil {
		t.Fatal(err)
	}
	g, wgRows := ds.Groups, int(ds.Spec[2])
	if g[0] > maxGroups || g[1] > maxGroups || int(g[0])*int(g[1])*wgRows < rows || ds.Spec[0]%32 != 0 {
		t.Errorf("matvec rows=%d: groups %v, spec %v", rows, g, ds.Spec)
	}
	rows = 5_000_000
	ds, err = MatMulVk(caps, quant.Q4_0, 100, rows, 32)
	if err != nil {
		t.Fatal(err)
	}
	g = ds.Groups
	if g[0] > maxGroups || g[2] > maxGroups || int(g[0])*int(g[2])*matmulRows < rows || int(g[1])*int(ds.Spec[2]) < 100 {
		t.Errorf("matmul rows=%d: groups %v, spec %v", rows, g, ds.Spec)
	}
}

// layoutShape is the weight shape the layout tests use for typ: 13 rows
// (not a multiple of any rows-per-workgroup), 16 units a row for block
// types, a ragged 71 columns for plain ones.
func layoutShape(typ quant.Type) shapeCase {
	s := shapeCase{rows: 13, cols: 512, raw: true}
	switch typ.BlockElems() {
	case 1:
		s = shapeCase{rows: 13, cols: 71}
	case 32:
		s.cols = 256
	}
	return s
}

// TestDeviceData checks the device layout of weights: Q6_K blocks padded
// to 224 bytes with their bytes in place and zeros after; Q4_0 blocks in
// groups of 8 (counted across rows), their quant runs first, then their
// scales, a last partial group padded with zeros; other types unchanged.
func TestDeviceData(t *testing.T) {
	w := vkTestWeight(t, quant.Q6_K, shapeCase{rows: 3, cols: 512, raw: true})
	got := w.DeviceData()
	if w.DeviceRowBytes() != 2*224 || len(got) != 3*2*224 || w.DeviceBytes() != int64(len(got)) {
		t.Fatalf("row %d bytes, %d in all (DeviceBytes %d)", w.DeviceRowBytes(), len(got), w.DeviceBytes())
	}
	for b := 0; b < 6; b++ {
		if !bytes.Equal(got[224*b:224*b+210], w.Data[210*b:210*(b+1)]) {
			t.Errorf("block %d moved", b)
		}
		if !bytes.Equal(got[224*b+210:224*(b+1)], make([]byte, 14)) {
			t.Errorf("block %d: padding not zero", b)
		}
	}
	w4 := vkTestWeight(t, quant.Q4_0, shapeCase{rows: 3, cols: 96, raw: true}) // 9 blocks
	got = w4.DeviceData()
	if w4.DeviceRowBytes() != 3*18 || len(got) != 2*144 || w4.DeviceBytes() != int64(len(got)) {
		t.Fatalf("Q4_0: row %d bytes, %d in all (DeviceBytes %d)", w4.DeviceRowBytes(), len(got), w4.DeviceBytes())
	}
	for b := 0; b < 9; b++ {
		g, j := 144*(b/8), b%8
		blk := w4.Data[18*b : 18*(b+1)]
		if !bytes.Equal(got[g+16*j:g+16*j+16], blk[2:]) || !bytes.Equal(got[g+128+2*j:g+130+2*j], blk[:2]) {
			t.Errorf("Q4_0 block %d not at group %d, place %d", b, b/8, j)
		}
	}
	if !bytes.Equal(got[144+16:144+128], make([]byte, 112)) || !bytes.Equal(got[144+130:], make([]byte, 14)) {
		t.Error("Q4_0: the last group's padding is not zero")
	}
	q := vkTestWeight(t, quant.Q4_K, shapeCase{rows: 3, cols: 512})
	if d := q.DeviceData(); &d[0] != &q.Data[0] || q.DeviceRowBytes() != q.RowBytes() {
		t.Error("Q4_K's device layout is not its encoding")
	}
}
