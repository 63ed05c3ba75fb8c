package kernels

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
)

// f16Weight returns a random F16 weight and its packed bytes.
func f16Weight(t *testing.T, r *rand.Rand, rows, cols int) *Weight {
	t.Helper()
	data := make([]byte, 2*rows*cols)
	for i := 0; i < rows*cols; i++ {
		binary.LittleEndian.PutUint16(data[2*i:], quant.F32ToF16((2*r.Float32()-1)*0.5))
	}
	w, err := NewWeight("w", quant.F16, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Tolerance: x is rounded to f16 for both sides, so products are exact in
// f32 and only the order of the f32 sums differs: 1e-5 relative.
func TestMatMulCoopVulkan(t *testing.T) {
	d := vktest.Device(t)
	if !d.Caps().CoopMat {
		// The validation layer may be too old for the extension: check the
		// results on a device opened without it.
		d = vktest.Unvalidated(t)
	}
	if !d.Caps().CoopMat {
		t.Skipf("%s has no cooperative matrices (VK_KHR_cooperative_matrix)", d.Info.Name)
	}
	for _, c := range []struct{ T, rows, cols int }{
		{1, 1, 16}, {5, 33, 40}, {64, 64, 32}, {65, 130, 257}, {200, 96, 1152},
	} {
		t.Run(fmt.Sprintf("T=%d/rows=%d/cols=%d", c.T, c.rows, c.cols), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.T), uint64(c.rows*c.cols)))
			w := f16Weight(t, r, c.rows, c.cols)
			x := randFloats(r, c.T*c.cols, 1)
			x16 := make([]float32, len(x))
			for i, v := range x {
				x16[i] = quant.F16ToF32(quant.F32ToF16(v))
			}
			want := make([]float32, c.T*c.rows)
			MatMul(want, x16, w, c.T, make([]float32, 4*c.cols), 0, c.rows)
			ds, err := MatMulCoopVk(d.Caps(), quant.F16, c.T, c.rows, c.cols)
			if err != nil {
				t.Fatal(err)
			}
			out := vktest.RunOn(t, d, ds, w.Data, vktest.F32Bytes(x), vktest.Poisoned(4*len(want)))
			testutil.CheckClose(t, "matmul_coopmat", vktest.Floats(out[2]), want, 1e-5)
		})
	}
}
