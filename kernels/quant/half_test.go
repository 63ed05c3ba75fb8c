package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// halfValue is an independent binary16 decoder: sign·2^(e−15)·(1 + m/1024)
// for normals, sign·m·2^−24 for subnormals, computed in float64.
func halfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10&0x1f), float64(h&0x3ff)
	switch e {
	case 0x1f:
		if m != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	case 0:
		return sign * math.Ldexp(m, -24)
	}
	return sign * math.Ldexp(1+m/1024, e-15)
}

func TestF16ExhaustiveRoundTrip(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToF32(h)
		want := halfValue(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("F16ToF32(%#04x) = %v, want NaN", h, f)
			}
			back := F32ToF16(f)
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("F32ToF16(NaN from %#04x) = %#04x, not a NaN", h, back)
			}
			if h&0x200 != 0 && back != h { // quiet NaNs keep sign and payload
				t.Fatalf("quiet NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if float64(f) != want || math.Signbit(float64(f)) != (h&0x8000 != 0) {
			t.Fatalf("F16ToF32(%#04x) = %v, want %v", h, f, want)
		}
		if back := F32ToF16(f); back != h {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)) = %#04x", h, back)
		}
	}
}

func TestF32ToF16Rounding(t *testing.T) {
	cases := []struct {
		name string
		in   float64
		want uint16
	}{
		{"one", 1, 0x3c00},
		{"tie_down_to_even", 1 + math.Ldexp(1, -11), 0x3c00},
		{"tie_up_to_even", 1 + 3*math.Ldexp(1, -11), 0x3c02},
		{"above_tie", 1 + math.Ldexp(1, -11) + math.Ldexp(1, -20), 0x3c01},
		{"max_half", 65504, 0x7bff},
		{"below_overflow_tie", 65519.99, 0x7bff},
		{"overflow_tie_to_inf", 65520, 0x7c00},
		{"huge", 1e30, 0x7c00},
		{"neg_huge", -1e30, 0xfc00},
		{"min_subnormal", math.Ldexp(1, -24), 0x0001},
		{"half_min_subnormal_tie_to_zero", math.Ldexp(1, -25), 0x0000},
		{"above_half_min_subnormal", math.Ldexp(1, -25) * (1 + 1.0/1024), 0x0001},
		{"subnormal_tie_up_to_even", 3 * math.Ldexp(1, -25), 0x0002},
		{"subnormal_tie_down_to_even", 5 * math.Ldexp(1, -25), 0x0002},
		{"largest_subnormal", 1023 * math.Ldexp(1, -24), 0x03ff},
		{"subnormal_rounds_to_min_normal", 1023.5 * math.Ldexp(1, -24), 0x0400},
		{"tiny", 1e-30, 0x0000},
		{"neg_zero", math.Copysign(0, -1), 0x8000},
		{"neg_subnormal", -math.Ldexp(3, -24), 0x8003},
		{"inf", math.Inf(1), 0x7c00},
		{"neg_inf", math.Inf(-1), 0xfc00},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := F32ToF16(float32(c.in)); got != c.want {
				t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.in, got, c.want)
			}
		})
	}
	t.Run("nan", func(t *testing.T) {
		for _, bits := range []uint32{0x7fc00000, 0x7f800001, 0xffc12345, 0x7fffffff} {
			h := F32ToF16(math.Float32frombits(bits))
			if h&0x7c00 != 0x7c00 || h&0x3ff == 0 || (h&0x8000 != 0) != (bits>>31 == 1) {
				t.Errorf("F32ToF16(NaN %#08x) = %#04x", bits, h)
			}
		}
	})
}

// TestF32ToF16Nearest checks on random float32s that the result is a nearest
// half, and the even one on a tie.
func TestF32ToF16Nearest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		f := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(f)) || math.Abs(float64(f)) >= 65520 {
			continue
		}
		h := F32ToF16(f)
		got := halfValue(h)
		err := math.Abs(float64(f) - got)
		for _, nb := range []uint16{h - 1, h + 1, h ^ 0x8000} {
			if nb&0x7c00 == 0x7c00 {
				continue
			}
			e2 := math.Abs(float64(f) - halfValue(nb))
			if e2 < err || (e2 == err && h&1 == 1 && nb != h^0x8000) {
				t.Fatalf("F32ToF16(%g) = %#04x (%g), but %#04x (%g) is nearer or even", f, h, got, nb, halfValue(nb))
			}
		}
	}
}

func TestBF16(t *testing.T) {
	cases := []struct {
		name string
		in   uint32
		want uint16
	}{
		{"one", 0x3f800000, 0x3f80},
		{"tie_down_to_even", 0x3f808000, 0x3f80},
		{"tie_up_to_even", 0x3f818000, 0x3f82},
		{"above_tie", 0x3f808001, 0x3f81},
		{"below_tie", 0x3f807fff, 0x3f80},
		{"max_float_rounds_to_inf", 0x7f7fffff, 0x7f80},
		{"inf", 0x7f800000, 0x7f80},
		{"neg_inf", 0xff800000, 0xff80},
		{"quiet_nan", 0x7fc00000, 0x7fc0},
		{"signalling_nan_quieted", 0x7f800001, 0x7fc0},
		{"nan_payload_kept", 0xff812345, 0xffc1},
		{"smallest_subnormal", 0x00000001, 0x0000},
		{"subnormal_tie_odd", 0x00018000, 0x0002},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := F32ToBF16(math.Float32frombits(c.in)); got != c.want {
				t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
			}
		})
	}
	t.Run("exhaustive_decode", func(t *testing.T) {
		for i := 0; i < 1<<16; i++ {
			f := BF16ToF32(uint16(i))
			if math.Float32bits(f) != uint32(i)<<16 {
				t.Fatalf("BF16ToF32(%#04x) bits %#08x", i, math.Float32bits(f))
			}
			if math.IsNaN(float64(f)) {
				continue
			}
			if back := F32ToBF16(f); back != uint16(i) {
				t.Fatalf("F32ToBF16(BF16ToF32(%#04x)) = %#04x", i, back)
			}
		}
	})
}
