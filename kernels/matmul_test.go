package kernels

import (
	"fmt"
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

// TestDotIsDotF32 pins Dot to quant.DotF32 (which quant tests against its
// portable reference) for lengths with and without a partial 16-lane chunk.
func TestDotIsDotF32(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 15, 16, 17, 100, 256, 640, 1153} {
		a, b := randVec(r, n), randVec(r, n)
		if got, want := Dot(a, b), quant.DotF32(a, b); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("n=%d: Dot %v, DotF32 %v", n, got, want)
		}
		var ref float64
		for i := range a {
			ref += float64(a[i]) * float64(b[i])
		}
		if d := math.Abs(float64(Dot(a, b)) - ref); d > 1e-4*math.Sqrt(float64(n)+1) {
			t.Errorf("n=%d: Dot %v, float64 %v", n, Dot(a, b), ref)
		}
	}
}

// BenchmarkDot reports the bytes of both operands read per second.
func BenchmarkDot(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{256, 640, 2048} {
		a, c := randVec(r, n), randVec(r, n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.SetBytes(int64(8 * n))
			var sink float32
			for b.Loop() {
				sink += Dot(a, c)
			}
			_ = sink
		})
	}
}
