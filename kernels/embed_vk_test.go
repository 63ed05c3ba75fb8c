package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
)

// Tolerance: the GPU decodes with the reference's formulas but may fuse a
// product into the following add, one rounding fewer.
func TestEmbedVulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, typ := range vkTestTypes {
		for i, s := range vkShapes(typ) {
			T := []int{1, 5, 17, 3, 9}[i%5]
			t.Run(fmt.Sprintf("type=%s/vocab=%d/cols=%d/T=%d", typeName(typ), s.rows, s.cols, T), func(t *testing.T) {
				e := vkTestWeight(t, typ, s)
				r := rand.New(rand.NewPCG(5, uint64(T)))
				ids := make([]int32, T)
				for j := range ids {
					ids[j] = int32(r.IntN(s.rows))
				}
				if T >= 5 { // bad ids, each must come back as a NaN row
					ids[1], ids[T-1] = -1, int32(s.rows)
				}
				const scale = 1.75
				want := make([]float32, T*s.cols)
				for j, id := range ids {
					if id < 0 || int(id) >= s.rows {
						continue
					}
					if err := Embed(want, ids, e, scale, j, j+1); err != nil {
						t.Fatal(err)
					}
				}
				ds, err := EmbedVk(d.Caps(), typ, T, s.rows, s.cols, scale)
				if err != nil {
					t.Fatal(err)
				}
				out := vktest.Run(t, ds, e.DeviceData(), vktest.I32Bytes(ids), vktest.Poisoned(4*T*s.cols))
				got := vktest.Floats(out[2])
				for j, id := range ids {
					if id >= 0 && int(id) < s.rows {
						continue
					}
					row := got[j*s.cols : (j+1)*s.cols]
					for k, v := range row {
						if math.Float32bits(v) != 0x7fc00000 {
							t.Fatalf("token %d (id %d) element %d: %#x, want the NaN 0x7fc00000", j, id, k, math.Float32bits(v))
						}
					}
					copy(row, want[j*s.cols:(j+1)*s.cols]) // zeros, compared below
				}
				testutil.CheckClose(t, "y", got, want, 1e-6)
				if !bytes.Equal(out[0], e.DeviceData()) {
					t.Error("E changed")
				}
			})
		}
	}
}

// TestEmbedVulkanManyTokens runs more tokens than one group dimension
// holds. Tolerance: exact (f32 table, power-of-two scale).
func TestEmbedVulkanManyTokens(t *testing.T) {
	d := vktest.Device(t)
	const T, vocab, cols = 65537, 3, 1
	ids := make([]int32, T)
	for i := range ids {
		ids[i] = int32(i % vocab)
	}
	table := []float32{1, -2, 3}
	ds, err := EmbedVk(d.Caps(), 0, T, vocab, cols, 2) // F32
	if err != nil {
		t.Fatal(err)
	}
	if ds.Groups[1] < 2 {
		t.Fatalf("groups %v: want a second dimension", ds.Groups)
	}
	out := vktest.Run(t, ds, vktest.F32Bytes(table), vktest.I32Bytes(ids), vktest.Poisoned(4*T*cols))
	got := vktest.Floats(out[2])
	for i, v := range got {
		if want := 2 * table[i%vocab]; v != want {
			t.Fatalf("y[%d] = %v, want %v", i, v, want)
		}
	}
}
