package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// f16Fields lists the byte offsets of the f16 scale fields of each block
// type, so random test rows can carry finite, moderate scales.
var f16Fields = map[Type][]int{
	Q4_0: {0}, Q4_1: {0, 2}, Q5_0: {0}, Q5_1: {0, 2}, Q8_0: {0}, IQ4_NL: {0},
	Q2_K: {80, 82}, Q3_K: {108}, Q4_K: {0, 2}, Q5_K: {0, 2}, Q6_K: {208}, IQ4_XS: {0},
}

// randomRow returns n elements of type t as random bytes whose scale fields
// (and, for F32/F16/BF16, values) are finite numbers of moderate size.
func randomRow(t Type, n int, r *rand.Rand) []byte {
	nb, _ := RowBytes(t, n)
	row := make([]byte, nb)
	for i := range row {
		row[i] = byte(r.Uint32())
	}
	scale := func() float32 { return float32(r.NormFloat64() * 0.02) }
	switch t {
	case F32:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(row[4*i:], math.Float32bits(float32(r.NormFloat64())))
		}
	case F16:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint16(row[2*i:], F32ToF16(float32(r.NormFloat64())))
		}
	case BF16:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint16(row[2*i:], F32ToBF16(float32(r.NormFloat64())))
		}
	default:
		bb := t.BlockBytes()
		for o := 0; o < nb; o += bb {
			for _, off := range f16Fields[t] {
				binary.LittleEndian.PutUint16(row[o+off:], F32ToF16(scale()))
			}
		}
	}
	return row
}

func supportedTypes() []Type {
	var ts []Type
	for id := Type(0); id < 64; id++ {
		if Supported(id) {
			ts = append(ts, id)
		}
	}
	return ts
}

// TestDotRowMatchesDequantize compares DotRow with a float64 dot product of
// DequantizeRow's output. DotRow sums in float32 (16 lanes of n/16 terms),
// so the bound is relative to Σ|w·x|, the size of the rounding errors,
// rather than to the possibly cancelling result. Bit identity with the
// portable code is TestDotRowBitIdentity's.
func TestDotRowMatchesDequantize(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, typ := range supportedTypes() {
		be := typ.BlockElems()
		lengths := []int{be, 3 * be, 2048}
		if be == 1 {
			lengths = []int{1, 7, 33, 100, 2048}
		}
		for _, n := range lengths {
			t.Run(fmt.Sprintf("type=%s/n=%d", typ, n), func(t *testing.T) {
				for trial := 0; trial < 5; trial++ {
					row := randomRow(typ, n, r)
					x := gaussian(n, uint64(trial+10*n))
					w := make([]float32, n)
					if err := Dequantize(typ, row, w); err != nil {
						t.Fatal(err)
					}
					var want, mag float64
					for i := range w {
						want += float64(w[i]) * float64(x[i])
						mag += math.Abs(float64(w[i]) * float64(x[i]))
					}
					got := DotRow(typ, row, x)
					if d := math.Abs(float64(got) - want); d > 1e-5*mag+1e-30 {
						t.Fatalf("trial %d: DotRow = %v, dequantize·x = %v (|diff| %.3g, Σ|wx| %.3g)", trial, got, want, d, mag)
					}
				}
			})
		}
	}
}

func TestDotRowAndDequantizeRowDoNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range supportedTypes() {
		t.Run("type="+typ.String(), func(t *testing.T) {
			row := randomRow(typ, 512, r)
			x := gaussian(512, 1)
			dst := make([]float32, 512)
			if a := testing.AllocsPerRun(20, func() { DotRow(typ, row, x) }); a != 0 {
				t.Errorf("DotRow: %v allocations", a)
			}
			if a := testing.AllocsPerRun(20, func() { DequantizeRow(typ, row, dst) }); a != 0 {
				t.Errorf("DequantizeRow: %v allocations", a)
			}
		})
	}
}

func TestDotRowEmpty(t *testing.T) {
	for _, typ := range supportedTypes() {
		if got := DotRow(typ, nil, nil); got != 0 {
			t.Errorf("%s: DotRow of an empty row = %v", typ, got)
		}
	}
}

// BenchmarkDotRow reports the weight bytes streamed per second.
func BenchmarkDotRow(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, typ := range []Type{Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS, F16, BF16, F32} {
		for _, n := range []int{2048, 8192} {
			row := randomRow(typ, n, r)
			x := gaussian(n, 2)
			b.Run(fmt.Sprintf("type=%s/n=%d", typ, n), func(b *testing.B) {
				b.SetBytes(int64(len(row)))
				var sink float32
				for b.Loop() {
					sink += DotRow(typ, row, x)
				}
				_ = sink
			})
		}
	}
}

// BenchmarkDequantizeRow reports the encoded bytes decoded per second.
func BenchmarkDequantizeRow(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	const n = 8192
	for _, typ := range []Type{Q4_0, Q8_0, Q5_0, Q4_K, Q6_K, F16} {
		row := randomRow(typ, n, r)
		dst := make([]float32, n)
		b.Run(fmt.Sprintf("type=%s/n=%d", typ, n), func(b *testing.B) {
			b.SetBytes(int64(len(row)))
			for b.Loop() {
				DequantizeRow(typ, row, dst)
			}
		})
	}
}
