package quant

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func gaussian(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// stepOf returns the quantization step (the weight of one quant unit) that
// element e of an encoded row of type t uses, read from the block's stored
// scales.
func stepOf(t Type, row []byte, e int) float64 {
	b := row[e/t.BlockElems()*t.BlockBytes():]
	i := e % t.BlockElems()
	switch t {
	case Q4_0, Q4_1, Q5_0, Q5_1, Q8_0:
		return math.Abs(float64(f16At(b, 0)))
	case Q2_K:
		return float64(f16At(b, 80)) * float64(b[i/16]&0xF)
	case Q3_K:
		return math.Abs(float64(f16At(b, 108)) * float64(q3Scale(i/16, (*[12]byte)(b[96:108]))))
	case Q4_K, Q5_K:
		sc, _ := scaleMinK4(i/32, (*[12]byte)(b[4:16]))
		return float64(f16At(b, 0)) * float64(sc)
	case Q6_K:
		return math.Abs(float64(f16At(b, 208)) * float64(int8(b[192+i/16])))
	}
	return 0
}

// TestQuantizeRoundTrip quantizes n = 4096 standard-normal values, decodes
// them and bounds the relative RMS error and the largest error in units of
// the element's quantization step. Measured values (this data) are in the
// comments; bounds leave ~15% headroom.
func TestQuantizeRoundTrip(t *testing.T) {
	cases := []struct {
		typ     Type
		maxRel  float64 // RMS(err)/RMS(x)
		maxStep float64 // max |err| / step
		why     string
	}{
		// 8-bit symmetric, d = amax/127: error ≤ ½ step plus the f16 rounding
		// of d times |q| ≤ 127 (127·2^-11 ≈ 0.062 step at most).
		{Q8_0, 0.006, 0.57, "measured 0.0052, 0.53 steps"},
		// 6-bit, per-16 scales from make_qx with 8-bit sub-scales; the rms is
		// the uniform-rounding value step/√12 for step ≈ max|x|/32.
		{Q6_K, 0.0205, 0.6, "measured 0.0178, 0.50 steps"},
		// 5-bit asymmetric, step = (max−min)/31: ½ step.
		{Q5_1, 0.044, 0.55, "measured 0.0379, 0.51 steps"},
		// 5-bit with per-32 least-squares scale+min (make_qkx2); the fitted
		// range may leave the extremes clamped, so more than ½ step.
		{Q5_K, 0.042, 0.85, "measured 0.0360, 0.74 steps"},
		// 5-bit symmetric: the absmax side maps to −16 and the other side is
		// clamped at +15, so up to one full step.
		{Q5_0, 0.05, 1.02, "measured 0.0429, 0.99 steps"},
		// 4-bit asymmetric, step = (max−min)/15: ½ step.
		{Q4_1, 0.088, 0.55, "measured 0.0768, 0.50 steps"},
		// 4-bit with per-32 fitted scale+min (as Q5_K).
		{Q4_K, 0.082, 0.8, "measured 0.0708, 0.61 steps"},
		// 4-bit symmetric, absmax side −8, other side clamped at +7: one step.
		{Q4_0, 0.098, 1.02, "measured 0.0849, 1.00 steps"},
		// 3-bit symmetric, per-16 scales from make_q3's coordinate descent.
		{Q3_K, 0.173, 0.9, "measured 0.150, 0.77 steps"},
		// 2-bit, per-16 scale+min fitted for absolute error (make_qkx2, MAD).
		{Q2_K, 0.34, 0.85, "measured 0.296, 0.71 steps"},
	}
	x := gaussian(4096, 1)
	var sx2 float64
	for _, v := range x {
		sx2 += float64(v) * float64(v)
	}
	for _, c := range cases {
		t.Run("type="+c.typ.String(), func(t *testing.T) {
			enc, err := Quantize(c.typ, x)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float32, len(x))
			if err := Dequantize(c.typ, enc, y); err != nil {
				t.Fatal(err)
			}
			var se2, worst float64
			for i := range x {
				d := float64(x[i]) - float64(y[i])
				se2 += d * d
				if s := stepOf(c.typ, enc, i); s > 0 {
					worst = max(worst, math.Abs(d)/s)
				}
			}
			rel := math.Sqrt(se2 / sx2)
			t.Logf("rms rel err %.4f, max err %.2f steps (%s)", rel, worst, c.why)
			if rel > c.maxRel {
				t.Errorf("rms rel err %.4f > %.4f", rel, c.maxRel)
			}
			if worst > c.maxStep {
				t.Errorf("max err %.3f steps > %.2f", worst, c.maxStep)
			}
		})
	}
	for _, typ := range []Type{F32, F16, BF16} {
		t.Run("type="+typ.String(), func(t *testing.T) {
			enc, err := Quantize(typ, x)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float32, len(x))
			if err := Dequantize(typ, enc, y); err != nil {
				t.Fatal(err)
			}
			rel := map[Type]float64{F32: 0, F16: 0x1p-11, BF16: 0x1p-8}[typ]
			for i := range x {
				if d := math.Abs(float64(x[i] - y[i])); d > rel*math.Abs(float64(x[i])) {
					t.Fatalf("element %d: %v -> %v", i, x[i], y[i])
				}
			}
		})
	}
}

// TestQuantizeSpecialBlocks covers blocks that take the zero / constant
// branches of the reference quantizers.
func TestQuantizeSpecialBlocks(t *testing.T) {
	inputs := map[string]func(i int) float32{
		"zero":     func(int) float32 { return 0 },
		"constant": func(int) float32 { return -1.25 },
		"positive": func(i int) float32 { return float32(i%32) / 8 },
		"one_hot":  func(i int) float32 { return map[bool]float32{true: 3}[i%256 == 77] },
	}
	for name, gen := range inputs {
		x := make([]float32, 512)
		for i := range x {
			x[i] = gen(i)
		}
		for id := Type(0); id < 64; id++ {
			if !QuantizeSupported(id) {
				continue
			}
			t.Run("input="+name+"/type="+id.String(), func(t *testing.T) {
				enc, err := Quantize(id, x)
				if err != nil {
					t.Fatal(err)
				}
				y := make([]float32, len(x))
				if err := Dequantize(id, enc, y); err != nil {
					t.Fatal(err)
				}
				for i := range x {
					if math.IsNaN(float64(y[i])) || math.Abs(float64(y[i]-x[i])) > 0.6 {
						t.Fatalf("element %d: %v -> %v", i, x[i], y[i])
					}
				}
				if name == "zero" {
					for i, v := range y {
						if v != 0 {
							t.Fatalf("element %d of a zero block decodes to %v", i, v)
						}
					}
				}
			})
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	cases := []struct {
		name string
		typ  Type
		n    int
		want string
	}{
		{"unsupported_q8_k", Q8_K, 256, "type Q8_K not supported"},
		{"unsupported_iq4_nl", IQ4_NL, 32, "type IQ4_NL not supported"},
		{"unknown_id", 77, 32, "type type(77) not supported"},
		{"partial_legacy_block", Q8_0, 33, "33 elements is not a multiple of the Q8_0 block size 32"},
		{"partial_k_block", Q4_K, 224, "224 elements is not a multiple of the Q4_K block size 256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Quantize(c.typ, make([]float32, c.n))
			if err == nil || out != nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("out %d bytes, err = %v, want it to contain %q", len(out), err, c.want)
			}
		})
	}
	t.Run("empty_is_ok", func(t *testing.T) {
		out, err := Quantize(Q6_K, nil)
		if err != nil || len(out) != 0 {
			t.Fatalf("out %d bytes, err %v", len(out), err)
		}
	})
}
