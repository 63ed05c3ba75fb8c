package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// dotImpl is one implementation of the canonical dot product; dotImpls (in
// dot_impls_test.go or dot_impls_simd_test.go, by build) lists those this
// build can run on this CPU.
type dotImpl struct {
	name string
	row  func(t Type, row []byte, x []float32) float32
	f32  func(a, b []float32) float32
}

// identityLengths are the row lengths the bit-identity tests use for block
// size be: one block, several blocks, and the Gemma 3 widths it divides; the
// plain float types also get lengths that leave a partial 16-lane chunk.
func identityLengths(be int) []int {
	ls := []int{be, 3 * be}
	// 4352 and 10240 span several of the SIMD kernels' chunks (4096).
	for _, n := range []int{640, 1152, 2048, 2560, 4352, 10240} {
		if n%be == 0 {
			ls = append(ls, n)
		}
	}
	if be == 1 {
		ls = append(ls, 0, 7, 15, 17, 33, 100, 1153)
	}
	return ls
}

// TestDotRowBitIdentity checks, for every supported type and several
// lengths, that every implementation (portable, AVX2, AVX-512 where the
// build and CPU have them), DotRow itself, and DotF32 of the dequantized row
// return the same float32 bits as the portable DotRow.
func TestDotRowBitIdentity(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	impls := dotImpls()
	for _, typ := range supportedTypes() {
		for _, n := range identityLengths(typ.BlockElems()) {
			t.Run(fmt.Sprintf("type=%s/n=%d", typ, n), func(t *testing.T) {
				for trial := 0; trial < 4; trial++ {
					row := randomRow(typ, n, r)
					x := gaussian(n, uint64(1000*trial+n))
					want := dotRowPortable(typ, row, x)
					check := func(what string, got float32) {
						t.Helper()
						if math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("trial %d: %s = %v (%#08x), portable = %v (%#08x)",
								trial, what, got, math.Float32bits(got), want, math.Float32bits(want))
						}
					}
					for _, im := range impls {
						check(im.name, im.row(typ, row, x))
					}
					check("DotRow", DotRow(typ, row, x))
					w := make([]float32, n)
					DequantizeRow(typ, row, w)
					check("DotF32(DequantizeRow)", DotF32(w, x))
					for _, im := range impls {
						check(im.name+" f32 of dequantized", im.f32(w, x))
					}
				}
			})
		}
	}
}

// TestDotF32BitIdentity checks DotF32's implementations against the portable
// one for every length up to 80 and some long ones, with data of mixed
// magnitudes and signs so that roundings matter.
func TestDotF32BitIdentity(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	lengths := []int{640, 1024, 1152, 2048, 2560, 4099}
	for n := 0; n <= 80; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		a, b := make([]float32, n), make([]float32, n+3) // b may be longer
		for i := range a {
			a[i] = float32(r.NormFloat64() * math.Exp2(float64(r.IntN(20)-10)))
		}
		for i := range b {
			b[i] = float32(r.NormFloat64())
		}
		want := dotF32Portable(a, b)
		for _, im := range dotImpls() {
			if got := im.f32(a, b); math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("n=%d: %s = %v, portable = %v", n, im.name, got, want)
			}
		}
		if got := DotF32(a, b); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("n=%d: DotF32 = %v, portable = %v", n, got, want)
		}
	}
}

// TestDotF32Canonical checks the definition on small cases: the lane of each
// element, the reduction tree, and that the products are rounded before they
// are added (no fused multiply-add, whatever GOAMD64 lets the compiler do).
func TestDotF32Canonical(t *testing.T) {
	// Lane l holds 2^l; the tree sums exactly.
	a := make([]float32, 16)
	ones := make([]float32, 16)
	for l := range a {
		a[l], ones[l] = float32(math.Exp2(float64(l))), 1
	}
	for _, im := range dotImpls() {
		if got := im.f32(a, ones); got != 65535 {
			t.Errorf("%s: lanes 2^l sum to %v, want 65535", im.name, got)
		}
	}
	// Order matters: lane 0 gets 1e8 and then −1e8 and lane 8 gets 1: the
	// lane cancels exactly, s8[0] = 0 + 1 = 1. A serial sum would give
	// ((1e8 + 1) − 1e8) = 0 in float32.
	a = make([]float32, 17)
	b := make([]float32, 17)
	a[0], a[8], a[16] = 1e8, 1, -1e8
	b[0], b[8], b[16] = 1, 1, 1
	for _, im := range dotImpls() {
		if got := im.f32(a, b); got != 1 {
			t.Errorf("%s: lane order: got %v, want 1", im.name, got)
		}
	}
	// p = fl(p1·p2) with p1·p2 = 1 + 2⁻²⁴ exactly (2²⁴+1 = 172961·97), a tie
	// that rounds to 1; lane 0 first holds 2⁻²⁵. Unfused: 2⁻²⁵ + 1 → 1.
	// Fused: 1 + 2⁻²⁴ + 2⁻²⁵ → 1 + 2⁻²³.
	p1, p2 := float32(172961*math.Exp2(-18)), float32(97*math.Exp2(-6))
	a = make([]float32, 17)
	b = make([]float32, 17)
	a[0], b[0] = float32(math.Exp2(-25)), 1
	a[16], b[16] = p1, p2
	row := make([]byte, 4*17)
	for i, v := range a {
		binary.LittleEndian.PutUint32(row[4*i:], math.Float32bits(v))
	}
	for _, im := range dotImpls() {
		if got := im.f32(a, b); got != 1 {
			t.Errorf("%s: DotF32 = %v, want 1 (unfused); fused would give %v", im.name, got, 1+math.Exp2(-23))
		}
		if got := im.row(F32, row, b); got != 1 {
			t.Errorf("%s: DotRow(F32) = %v, want 1 (unfused)", im.name, got)
		}
	}
}

// TestFloat64FMAIsNotFloat32FMA documents why the canonical arithmetic is
// unfused: emulating a float32 FMA as float32(math.FMA(a, b, c)) in float64
// rounds twice and can differ from the single rounding of the exact a·b + c.
func TestFloat64FMAIsNotFloat32FMA(t *testing.T) {
	a, b, c := float32(172961*math.Exp2(-18)), float32(97*math.Exp2(-6)), float32(math.Exp2(-80))
	double := float32(math.FMA(float64(a), float64(b), float64(c)))
	exact := new(big.Float).SetPrec(200).Mul(big.NewFloat(float64(a)), big.NewFloat(float64(b)))
	exact.Add(exact, big.NewFloat(float64(c)))
	single, _ := exact.Float32()
	if double != 1 || single != float32(1+math.Exp2(-23)) {
		t.Fatalf("double rounding %v, single rounding %v: the example no longer shows the difference", double, single)
	}
}

// TestDotRowHalfValues checks every finite half and every non-finite one
// through DotRow's F16 path: a row holding one half h at position k (the
// rest zero) dotted with the one-hot x at k is h itself.
func TestDotRowHalfValues(t *testing.T) {
	row := make([]byte, 2*16)
	x := make([]float32, 16)
	for _, im := range dotImpls() {
		for h := 0; h < 1<<16; h++ {
			k := h % 16
			clear(row)
			clear(x)
			binary.LittleEndian.PutUint16(row[2*k:], uint16(h))
			x[k] = 1
			want := F16ToF32(uint16(h))
			got := im.row(F16, row, x)
			switch {
			case want != want:
				if got == got {
					t.Fatalf("%s: half %#04x (NaN) gave %v", im.name, h, got)
				}
			case want == 0:
				if got != 0 {
					t.Fatalf("%s: half %#04x (zero) gave %v", im.name, h, got)
				}
			case math.Float32bits(got) != math.Float32bits(want):
				t.Fatalf("%s: half %#04x: got %v (%#08x), want %v (%#08x)", im.name, h, got, math.Float32bits(got), want, math.Float32bits(want))
			}
		}
	}
	// All finite halves in one row, against random x.
	var vals []uint16
	for h := 0; h < 1<<16; h++ {
		if uint16(h)&0x7c00 != 0x7c00 {
			vals = append(vals, uint16(h))
		}
	}
	rand.New(rand.NewPCG(15, 16)).Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
	row = make([]byte, 2*len(vals))
	for i, h := range vals {
		binary.LittleEndian.PutUint16(row[2*i:], h)
	}
	x = gaussian(len(vals), 17)
	want := dotRowPortable(F16, row, x)
	for _, im := range dotImpls() {
		if got := im.row(F16, row, x); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("%s: all finite halves: %v, portable %v", im.name, got, want)
		}
	}
}

// BenchmarkDotImpls reports the weight bytes streamed per second by each
// implementation this build can run, at n = 2048, and DotF32 (both operands'
// bytes) as type "f32dot".
func BenchmarkDotImpls(b *testing.B) {
	r := rand.New(rand.NewPCG(19, 20))
	const n = 2048
	x := gaussian(n, 2)
	for _, im := range dotImpls() {
		for _, typ := range []Type{F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS} {
			row := randomRow(typ, n, r)
			b.Run(fmt.Sprintf("impl=%s/type=%s", im.name, typ), func(b *testing.B) {
				b.SetBytes(int64(len(row)))
				var sink float32
				for b.Loop() {
					sink += im.row(typ, row, x)
				}
				_ = sink
			})
		}
		a := gaussian(n, 3)
		b.Run(fmt.Sprintf("impl=%s/type=f32dot", im.name), func(b *testing.B) {
			b.SetBytes(8 * n)
			var sink float32
			for b.Loop() {
				sink += im.f32(a, x)
			}
			_ = sink
		})
	}
}

// TestDotF32BatchIdentity: every output of the batched product equals
// DotF32 of its row, bit for bit, for row counts around the kernel's group
// of four and lengths with and without a tail.
func TestDotF32BatchIdentity(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 16, 37, 640, 1152} {
		for _, rows := range []int{1, 3, 4, 5, 8, 9} {
			t.Run(fmt.Sprintf("n=%d/rows=%d", n, rows), func(t *testing.T) {
				w, x := make([]float32, n), make([]float32, n*rows)
				for i := range w {
					w[i] = float32(r.NormFloat64())
				}
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				const stride = 3
				out := make([]float32, (rows-1)*stride+1)
				for i := range out {
					out[i] = float32(math.NaN())
				}
				DotF32Batch(w, x, out, stride)
				for k := 0; k < rows; k++ {
					want := DotF32(w, x[k*n:(k+1)*n])
					if math.Float32bits(out[k*stride]) != math.Float32bits(want) {
						t.Fatalf("row %d: %g, DotF32 %g", k, out[k*stride], want)
					}
				}
			})
		}
	}
}

// TestDotF32Batch4Identity: the four-vector tile product equals DotF32 of
// each vector with each row, bit for bit.
func TestDotF32Batch4Identity(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{1, 16, 37, 640} {
		for _, rows := range []int{1, 3, 4, 5, 8, 11} {
			t.Run(fmt.Sprintf("n=%d/rows=%d", n, rows), func(t *testing.T) {
				var w [4][]float32
				for k := range w {
					w[k] = make([]float32, n)
					for i := range w[k] {
						w[k][i] = float32(r.NormFloat64())
					}
				}
				x := make([]float32, n*rows)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				const stride = 6
				out := make([]float32, (rows-1)*stride+4)
				for i := range out {
					out[i] = float32(math.NaN())
				}
				DotF32Batch4(&w, x, out, stride)
				for row := 0; row < rows; row++ {
					for k := range w {
						want := DotF32(w[k], x[row*n:(row+1)*n])
						if got := out[row*stride+k]; math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("row %d vector %d: %g, DotF32 %g", row, k, got, want)
						}
					}
				}
			})
		}
	}
}

// TestAddScaledF32: the vector kernel and the portable loop agree bit for
// bit, with and without a partial 16-lane chunk.
func TestAddScaledF32(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, n := range []int{0, 1, 15, 16, 17, 256, 259} {
		dst, x := make([]float32, n), make([]float32, n)
		for i := range dst {
			dst[i], x[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		want := append([]float32(nil), dst...)
		addScaledF32Portable(want, 0.37, x)
		AddScaledF32(dst, 0.37, x)
		for i := range dst {
			if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d element %d: %g, portable %g", n, i, dst[i], want[i])
			}
		}
	}
}
