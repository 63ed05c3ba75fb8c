package quant

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// Hand-built blocks. Each case lays out bytes from the FORMATS.md §2 tables
// and states the expected value of element e as a small formula written from
// the spec text, independently of the decoders. Scales are powers of two and
// quants small integers, so every expectation is exact in float32.

// iq4nlTable is FORMATS.md's IQ4_NL table, restated.
var iq4nlTable = [16]float64{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

type knownBlock struct {
	typ  Type
	data []byte
	want func(e int) float64
}

// nib returns the low (hi=false) or high nibble of b.
func nib(b byte, hi bool) int {
	if hi {
		return int(b >> 4)
	}
	return int(b & 0xF)
}

func knownBlocks() map[string]knownBlock {
	m := map[string]knownBlock{}
	le16 := func(b []byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }

	// F32/F16/BF16: element e is the e-th little-endian value.
	{
		vals := []float32{1, -2.5, 0.15625, 3e-40, float32(math.Inf(-1))}
		b := make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		m["F32"] = knownBlock{F32, b, func(e int) float64 { return float64(vals[e]) }}
	}
	{
		halves := []uint16{0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0xfc00, 0x8000}
		want := []float64{1, -2, 0x555p-10 * 0.25, 0x1p-24, 65504, math.Inf(-1), 0}
		b := make([]byte, 2*len(halves))
		for i, h := range halves {
			le16(b, 2*i, h)
		}
		m["F16"] = knownBlock{F16, b, func(e int) float64 { return want[e] }}
	}
	{
		halves := []uint16{0x3f80, 0xc020, 0x4049, 0x0080}
		want := []float64{1, -2.5, 3.140625, 0x1p-126}
		b := make([]byte, 2*len(halves))
		for i, h := range halves {
			le16(b, 2*i, h)
		}
		m["BF16"] = knownBlock{BF16, b, func(e int) float64 { return want[e] }}
	}

	// 32-element blocks: qs[j] = j | (15−j)<<4, so element e < 16 has nibble e
	// and element e ≥ 16 has nibble 15 − (e−16).
	legacyNib := func(e int) int {
		if e < 16 {
			return e
		}
		return 15 - (e - 16)
	}
	fillQS := func(b []byte) {
		for j := 0; j < 16; j++ {
			b[j] = byte(j) | byte(15-j)<<4
		}
	}
	{
		b := make([]byte, 18)
		le16(b, 0, 0x3800) // d = 0.5
		fillQS(b[2:])
		m["Q4_0"] = knownBlock{Q4_0, b, func(e int) float64 { return 0.5 * float64(legacyNib(e)-8) }}
	}
	{
		b := make([]byte, 20)
		le16(b, 0, 0x3800) // d = 0.5
		le16(b, 2, 0xc000) // m = −2
		fillQS(b[4:])
		m["Q4_1"] = knownBlock{Q4_1, b, func(e int) float64 { return 0.5*float64(legacyNib(e)) - 2 }}
	}
	const qh = 0xA5C3_0F96
	{
		b := make([]byte, 22)
		le16(b, 0, 0x3c00) // d = 1
		binary.LittleEndian.PutUint32(b[2:], qh)
		fillQS(b[6:])
		m["Q5_0"] = knownBlock{Q5_0, b, func(e int) float64 {
			return float64(legacyNib(e) + 16*int(qh>>e&1) - 16)
		}}
	}
	{
		b := make([]byte, 24)
		le16(b, 0, 0x3400) // d = 0.25
		le16(b, 2, 0x3c00) // m = 1
		binary.LittleEndian.PutUint32(b[4:], qh)
		fillQS(b[8:])
		m["Q5_1"] = knownBlock{Q5_1, b, func(e int) float64 {
			return 0.25*float64(legacyNib(e)+16*int(qh>>e&1)) + 1
		}}
	}
	{
		b := make([]byte, 34)
		le16(b, 0, 0xb800) // d = −0.5
		for k := 0; k < 32; k++ {
			b[2+k] = byte(int8(8*k - 128))
		}
		m["Q8_0"] = knownBlock{Q8_0, b, func(e int) float64 { return -0.5 * float64(8*e-128) }}
	}
	{
		b := make([]byte, 18)
		le16(b, 0, 0x4000) // d = 2
		fillQS(b[2:])
		m["IQ4_NL"] = knownBlock{IQ4_NL, b, func(e int) float64 { return 2 * iq4nlTable[legacyNib(e)] }}
	}

	// K-quants. Index helpers of FORMATS.md §2.3: n = e/128, r = e%128,
	// k = r/32, l = r%32.
	pattern := func(b []byte, mul, add int) {
		for i := range b {
			b[i] = byte(i*mul + add)
		}
	}
	{
		b := make([]byte, 84)
		for j := 0; j < 16; j++ {
			b[j] = byte(j) | byte(15-j)<<4 // scale j, min 15−j
		}
		pattern(b[16:80], 37, 11)
		le16(b, 80, 0x3800) // d = 0.5
		le16(b, 82, 0x3400) // dmin = 0.25
		qs := b[16:80]
		m["Q2_K"] = knownBlock{Q2_K, b, func(e int) float64 {
			n, k, l := e/128, e%128/32, e%32
			q := int(qs[32*n+l]>>(2*k)) & 3
			sc := e / 16
			return 0.5*float64(sc)*float64(q) - 0.25*float64(15-sc)
		}}
	}
	{
		// Stored 6-bit scales u_j; the signed scale is u_j − 32.
		u := [16]int{32, 33, 31, 40, 0, 63, 16, 48, 35, 29, 44, 20, 1, 62, 32, 47}
		b := make([]byte, 110)
		pattern(b[0:32], 29, 3)  // hmask
		pattern(b[32:96], 53, 7) // qs
		s := b[96:108]
		for j, v := range u { // spec: low4 in s[j] (j<8) or s[j−8]>>4, hi2 in s[8+j%4] at bit 2(j/4)
			if j < 8 {
				s[j] |= byte(v & 0xF)
			} else {
				s[j-8] |= byte(v&0xF) << 4
			}
			s[8+j%4] |= byte(v>>4) << (2 * (j / 4))
		}
		le16(b, 108, 0x3800) // d = 0.5
		hmask, qs := b[0:32], b[32:96]
		m["Q3_K"] = knownBlock{Q3_K, b, func(e int) float64 {
			n, k, l := e/128, e%128/32, e%32
			q := int(qs[32*n+l]>>(2*k)) & 3
			if hmask[e%32]>>(e/32)&1 == 0 { // hmask: bit b of byte m is element 32b + m
				q -= 4
			}
			return 0.5 * float64(u[e/16]-32) * float64(q)
		}}
	}
	// Q4_K/Q5_K scales, packed by hand (see FORMATS.md 6-bit scale unpack):
	// sc = {1,2,3,4,17,34,51,63}, mn = {5,6,7,8,18,35,52,60}.
	sc := [8]float64{1, 2, 3, 4, 17, 34, 51, 63}
	mn := [8]float64{5, 6, 7, 8, 18, 35, 52, 60}
	packed := []byte{0x41, 0x82, 0xC3, 0xC4, 0x45, 0x86, 0xC7, 0xC8, 0x21, 0x32, 0x43, 0xCF}
	{
		b := make([]byte, 144)
		le16(b, 0, 0x3800) // d = 0.5
		le16(b, 2, 0x3000) // dmin = 0.125
		copy(b[4:16], packed)
		pattern(b[16:144], 13, 5)
		qs := b[16:144]
		m["Q4_K"] = knownBlock{Q4_K, b, func(e int) float64 {
			q := nib(qs[32*(e/64)+e%32], e%64 >= 32)
			j := e / 32
			return 0.5*sc[j]*float64(q) - 0.125*mn[j]
		}}
	}
	{
		b := make([]byte, 176)
		le16(b, 0, 0x3800) // d = 0.5
		le16(b, 2, 0x3000) // dmin = 0.125
		copy(b[4:16], packed)
		pattern(b[16:48], 71, 9)
		pattern(b[48:176], 13, 5)
		qh, qs := b[16:48], b[48:176]
		m["Q5_K"] = knownBlock{Q5_K, b, func(e int) float64 {
			q := nib(qs[32*(e/64)+e%32], e%64 >= 32) + 16*int(qh[e%32]>>(e/32)&1)
			j := e / 32
			return 0.5*sc[j]*float64(q) - 0.125*mn[j]
		}}
	}
	{
		scales := [16]int8{1, -2, 3, -4, 5, -6, 7, -8, 127, -128, 16, -16, 0, 2, -1, 64}
		b := make([]byte, 210)
		pattern(b[0:128], 3, 1)
		pattern(b[128:192], 5, 2)
		for i, v := range scales {
			b[192+i] = byte(v)
		}
		le16(b, 208, 0x3800) // d = 0.5
		ql, qh := b[0:128], b[128:192]
		m["Q6_K"] = knownBlock{Q6_K, b, func(e int) float64 {
			n, k, l := e/128, e%128/32, e%32
			lo := nib(ql[64*n+l+32*(k&1)], k >= 2)
			hi := int(qh[32*n+l]>>(2*k)) & 3
			return 0.5 * float64(scales[e/16]) * float64(lo|hi<<4-32)
		}}
	}
	{
		ls := [8]int{0, 32, 63, 31, 33, 16, 48, 40}
		b := make([]byte, 136)
		le16(b, 0, 0x3c00) // d = 1
		var sh uint16
		for ib, v := range ls { // low 4 bits in scales_l[ib/2] at 4(ib%2), high 2 in scales_h at 2ib
			b[4+ib/2] |= byte(v&0xF) << (4 * (ib % 2))
			sh |= uint16(v>>4) << (2 * ib)
		}
		le16(b, 2, sh)
		pattern(b[8:136], 7, 3)
		qs := b[8:136]
		m["IQ4_XS"] = knownBlock{IQ4_XS, b, func(e int) float64 {
			ib, j := e/32, e%32
			return float64(ls[ib]-32) * iq4nlTable[nib(qs[16*ib+j%16], j >= 16)]
		}}
	}
	return m
}

func TestDequantizeKnownBlocks(t *testing.T) {
	for name, kb := range knownBlocks() {
		t.Run("type="+name, func(t *testing.T) {
			if name != kb.typ.String() {
				t.Fatalf("case %s has type %s", name, kb.typ)
			}
			n := len(kb.data) / kb.typ.BlockBytes() * kb.typ.BlockElems()
			got := make([]float32, n)
			if err := Dequantize(kb.typ, kb.data, got); err != nil {
				t.Fatal(err)
			}
			for e, g := range got {
				if w := kb.want(e); float64(g) != w && !(math.IsNaN(w) && math.IsNaN(float64(g))) {
					t.Fatalf("element %d = %v, want %v", e, g, w)
				}
			}
		})
	}
	// Every supported type has a hand-built case.
	kb := knownBlocks()
	for id := Type(0); id < 64; id++ {
		if _, ok := kb[id.String()]; Supported(id) && !ok {
			t.Errorf("no known-block case for supported type %s", id)
		}
	}
}

func TestDequantizeErrors(t *testing.T) {
	cases := []struct {
		name   string
		typ    Type
		nbytes int
		n      int
		want   string
	}{
		{"unsupported_iq2_xxs", 16, 66, 256, "type IQ2_XXS not supported"},
		{"unsupported_q8_k", Q8_K, 292, 256, "type Q8_K not supported"},
		{"unknown_id", 99, 4, 1, "type type(99) not supported"},
		{"partial_block", Q4_0, 18, 31, "31 elements is not a multiple of the Q4_0 block size 32"},
		{"short_src", Q4_K, 143, 256, "256 Q4_K elements need 144 bytes, got 143"},
		{"long_src", Q8_0, 35, 32, "32 Q8_0 elements need 34 bytes, got 35"},
		{"nil_src", Q6_K, 0, 256, "256 Q6_K elements need 210 bytes, got 0"},
		{"f16_odd_bytes", F16, 3, 2, "2 F16 elements need 4 bytes, got 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Dequantize(c.typ, make([]byte, c.nbytes), make([]float32, c.n))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
	t.Run("empty_is_ok", func(t *testing.T) {
		if err := Dequantize(Q4_K, nil, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestNoPanicOnAnySize feeds every type id and a spread of element and byte
// counts to Dequantize and Quantize: each call must return (an error or
// not) without panicking.
func TestNoPanicOnAnySize(t *testing.T) {
	sizes := []int{0, 1, 2, 17, 31, 32, 33, 84, 144, 210, 255, 256, 257, 512}
	for id := Type(0); id < 50; id++ {
		t.Run("type="+id.String(), func(t *testing.T) {
			for _, n := range sizes {
				for _, nb := range sizes {
					if err := Dequantize(id, make([]byte, nb), make([]float32, n)); err == nil {
						if want, _ := RowBytes(id, n); want != nb || !Supported(id) {
							t.Errorf("Dequantize(%s, %d bytes, %d elems) accepted", id, nb, n)
						}
					}
				}
				if out, err := Quantize(id, make([]float32, n)); err == nil {
					if want, _ := RowBytes(id, n); want != len(out) {
						t.Errorf("Quantize(%s, %d elems) gave %d bytes, want %d", id, n, len(out), want)
					}
				}
			}
		})
	}
}
