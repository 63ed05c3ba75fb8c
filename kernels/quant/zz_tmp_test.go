package quant

import (
	"math"
	"os"
	"testing"
)

func TestTmpBig(t *testing.T) {
	raw, _ := os.ReadFile("/tmp/kref/big.f32")
	in := make([]float32, len(raw)/4)
	for i := range in {
		in[i] = math.Float32frombits(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
	}
	for _, name := range []string{"q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q4_0", "q5_0", "q8_0"} {
		typ, _ := ParseType(map[string]string{"q2_K": "Q2_K", "q3_K": "Q3_K", "q4_K": "Q4_K", "q5_K": "Q5_K", "q6_K": "Q6_K", "q4_0": "Q4_0", "q5_0": "Q5_0", "q8_0": "Q8_0"}[name])
		got, _ := Quantize(typ, in)
		for _, v := range []string{"", "fma."} {
			want, _ := os.ReadFile("/tmp/kref/big." + v + name)
			bb := typ.BlockBytes()
			bad := 0
			for o := 0; o < len(got); o += bb {
				if string(got[o:o+bb]) != string(want[o:o+bb]) {
					bad++
				}
			}
			t.Logf("%s %s: %d of %d blocks differ", name, v, bad, len(got)/bb)
		}
	}
}
