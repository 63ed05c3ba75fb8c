package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gemmavk/internal/vktest"
)

// convertInputs returns n f32 values: first the edge cases of binary16
// (overflow boundary, rounding ties, the subnormal range and below it,
// zeros, infinities, NaNs with payloads), then random values spread over
// exponents -30 .. 17 with random mantissas, so ties and subnormal halves
// occur.
func convertInputs(r *rand.Rand, n int) []float32 {
	bits := []uint32{
		0x477fe000, // 65504, the largest half
		0x477fefff, // just below the tie 65520: rounds to 65504
		0x477ff000, // 65520, tie: rounds to Inf
		0x47800000, // 65536
		0x7f7fffff, // largest f32
		0x33800000, // 2^-24, the smallest subnormal half
		0x33000000, // 2^-25, tie with 0: rounds to 0
		0x33000001, // just above: rounds to 2^-24
		0x33c00000, // 1.5*2^-24, tie: rounds to 2^-23 (even)
		0x38800000, // 2^-14, the smallest normal half
		0x387fc000, // just below it: tie, rounds up into the normals
		0x387fe000,
		0x00000001, // f32 subnormals
		0x807fffff,
		0x00000000, 0x80000000, // ±0
		0x7f800000, 0xff800000, // ±Inf
		0x7fc00000, 0xffc00001, // quiet NaNs
		0x7f800001, 0x7fa00000, // signaling NaNs: low or high payload
		0x3f801000, 0x3f803000, // 1 + ties at the last half bit: even rounding
		0x3f801001, 0x3f802fff,
	}
	x := make([]float32, n)
	for i := range x {
		if i < len(bits) {
			x[i] = math.Float32frombits(bits[i])
			continue
		}
		e := r.IntN(48) - 30
		m := r.Uint32() & 0x7fffff
		if r.IntN(4) == 0 {
			m = m&^0x1fff | 0x1000 // a tie for normal halves
		}
		v := math.Float32frombits(uint32(e+127)<<23 | m)
		if r.IntN(2) == 0 {
			v = -v
		}
		x[i] = v
	}
	return x
}

// words returns the little-endian uint32 words of b.
func words(b []byte) []uint32 {
	v := vktest.Ints(b)
	out := make([]uint32, len(v))
	for i, w := range v {
		out[i] = uint32(w)
	}
	return out
}

func wordBytes(v []uint32) []byte {
	w := make([]int32, len(v))
	for i, x := range v {
		w[i] = int32(x)
	}
	return vktest.I32Bytes(w)
}

// checkWords fails on the first few words that differ from want.
func checkWords(t *testing.T, what string, got, want []uint32) {
	t.Helper()
	bad := 0
	for i := range want {
		if got[i] != want[i] {
			if bad++; bad <= 5 {
				t.Errorf("%s word %d = %#08x, want %#08x", what, i, got[i], want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d words differ", what, bad, len(want))
	}
}

// Exact, bit for bit: both directions are integer code on the GPU.
func TestF32ToF16Vulkan(t *testing.T) {
	d := vktest.Device(t)
	for _, n := range []int{1, 2, 7, 8, 9, 31, 32, 33, 255, 257, 1152, 2560, 100001} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			x := convertInputs(rand.New(rand.NewPCG(uint64(n), 9)), n)
			want := make([]uint32, (n+1)/2)
			F32ToF16(want, x)
			in := vktest.F32Bytes(x)
			out := vktest.Run(t, F32ToF16Vk(d.Caps(), n), in, vktest.Poisoned(4*len(want)))
			checkWords(t, "f16", words(out[1]), want)
			checkWords(t, "x unchanged", words(out[0]), words(in))
		})
	}
}

// Exact: every half value (all 65536 patterns), in sizes that leave the
// last word half used; NaNs compared by their bits.
func TestF16ToF32Vulkan(t *testing.T) {
	d := vktest.Device(t)
	all := make([]uint32, 1<<15)
	for i := range all {
		all[i] = uint32(2*i) | uint32(2*i+1)<<16
	}
	r := rand.New(rand.NewPCG(1, 3))
	for _, n := range []int{1, 7, 8, 9, 33, 257, 2560, 1 << 16, 1<<16 - 1} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			x := all[:(n+1)/2]
			if n < 1<<15 { // a random sample for the small sizes
				x = make([]uint32, (n+1)/2)
				for i := range x {
					x[i] = r.Uint32()
				}
			}
			want := make([]float32, n)
			F16ToF32(want, x)
			in := wordBytes(x)
			out := vktest.Run(t, F16ToF32Vk(d.Caps(), n), in, vktest.Poisoned(4*n))
			checkWords(t, "f32", words(out[1]), words(vktest.F32Bytes(want)))
			checkWords(t, "x unchanged", words(out[0]), x)
		})
	}
}

// TestF32ToF16RoundTrip checks the CPU pair on the packing: halves decode
// to themselves, and an odd count leaves the last upper half zero.
func TestF32ToF16RoundTrip(t *testing.T) {
	x := []float32{1, -2, 0.5, 65504, 3}
	w := make([]uint32, 3)
	F32ToF16(w, x)
	if w[0] != 0xc0003c00 || w[2] != 0x4200 {
		t.Errorf("packed %#08x", w)
	}
	y := make([]float32, len(x))
	F16ToF32(y, w)
	for i := range x {
		if y[i] != x[i] {
			t.Errorf("element %d: %g, want %g", i, y[i], x[i])
		}
	}
}
