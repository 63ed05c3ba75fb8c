package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"gemmavk/kernels/quant"
)

// TestMatMulSameBitsForAnyT checks that a token's output row does not depend
// on how many tokens share the call: T = 1 takes quant.DotRow on the encoded
// weights, T > 1 decodes each row and takes Dot, and the two must agree bit
// for bit.
func TestMatMulSameBitsForAnyT(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const rows, cols, T = 9, 512, 6 // rows: two tiles of four and a tail
	for _, typ := range []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q5_0, quant.Q4_K, quant.Q5_K, quant.Q6_K} {
		t.Run(typ.String(), func(t *testing.T) {
			data, err := quant.Quantize(typ, randVec(r, rows*cols))
			if err != nil {
				t.Fatal(err)
			}
			w, err := NewWeight("w", typ, rows, cols, data)
			if err != nil {
				t.Fatal(err)
			}
			x := randVec(r, T*cols)
			yT := make([]float32, T*rows)
			MatMul(yT, x, w, T, make([]float32, 4*cols), 0, rows)
			for tok := 0; tok < T; tok++ {
				y1 := make([]float32, rows)
				MatMul(y1, x[tok*cols:(tok+1)*cols], w, 1, nil, 0, rows)
				for row := range y1 {
					if got, want := yT[tok*rows+row], y1[row]; math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("token %d row %d: T=%d gives %v, T=1 gives %v", tok, row, T, got, want)
					}
				}
			}
		})
	}
}
