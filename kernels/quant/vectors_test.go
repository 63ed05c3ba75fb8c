package quant

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"testing"
)

// vectors.json is produced by testdata/gen_vectors.py from gguf-py, llama.cpp's
// numpy implementation of the block formats (see testdata/README.md).
type vectorFile struct {
	Provenance string `json:"provenance"`
	Dequant    []struct {
		Type   string   `json:"type"`
		Data   string   `json:"data"`
		Values []uint32 `json:"values"`
	} `json:"dequant"`
	Quant struct {
		Input            []uint32      `json:"input"`
		BF16SpecialInput []uint32      `json:"bf16_special_input"`
		BF16Special      string        `json:"bf16_special"`
		Results          []quantResult `json:"results"`
	} `json:"quant"`
}

// quantResult is a reference encoder's blocks (hex) for one type.
type quantResult struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

// checkQuantized runs Quantize on in for every result's type and requires
// the reference encoder's (who) blocks byte for byte.
func checkQuantized(t *testing.T, in []float32, results []quantResult, who string) {
	t.Helper()
	for _, c := range results {
		typ, err := ParseType(c.Type)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("type="+c.Type, func(t *testing.T) {
			want := mustHex(t, c.Data)
			got, err := Quantize(typ, in)
			if err != nil {
				t.Fatal(err)
			}
			sameBlocks(t, typ, got, want, who)
		})
	}
}

func loadVectors(t *testing.T) *vectorFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func floatsFromBits(bits []uint32) []float32 {
	out := make([]float32, len(bits))
	for i, b := range bits {
		out[i] = math.Float32frombits(b)
	}
	return out
}

// TestDequantizeVectors requires bit-identical floats to gguf-py.
func TestDequantizeVectors(t *testing.T) {
	v := loadVectors(t)
	t.Logf("vectors from %s", v.Provenance)
	seen := map[Type]bool{}
	for _, c := range v.Dequant {
		typ, err := ParseType(c.Type)
		if err != nil {
			t.Fatal(err)
		}
		seen[typ] = true
		t.Run("type="+c.Type, func(t *testing.T) {
			data := mustHex(t, c.Data)
			got := make([]float32, len(c.Values))
			if err := Dequantize(typ, data, got); err != nil {
				t.Fatal(err)
			}
			bad := 0
			for i, g := range got {
				if math.Float32bits(g) != c.Values[i] {
					if bad++; bad <= 5 {
						t.Errorf("element %d = %v (%#08x), gguf-py %v (%#08x)", i, g, math.Float32bits(g),
							math.Float32frombits(c.Values[i]), c.Values[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d elements differ", bad, len(got))
			}
		})
	}
	for id := Type(0); id < 64; id++ {
		if Supported(id) && id != F32 && !seen[id] {
			t.Errorf("no gguf-py vector for supported type %s", id)
		}
	}
}

// TestQuantizeVectors requires byte-identical blocks to gguf-py's quantizers.
// gguf-py evaluates x·id + 8.5 (Q4_0; 16.5 for Q5_0) as two float32 roundings
// with no fused multiply-add, as Quantize does, so they agree exactly. A
// llama.cpp binary whose compiler contracted that expression into an FMA could
// differ from both by one quant step on a rare exact tie; that ambiguity is
// in the C build, not in the format, so no tolerance is granted here.
func TestQuantizeVectors(t *testing.T) {
	v := loadVectors(t)
	checkQuantized(t, floatsFromBits(v.Quant.Input), v.Quant.Results, "gguf-py")
	t.Run("type=BF16/special", func(t *testing.T) {
		want := mustHex(t, v.Quant.BF16Special)
		got, err := Quantize(BF16, floatsFromBits(v.Quant.BF16SpecialInput))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("got %x, gguf-py %x", got, want)
		}
	})
}

// TestQuantizeKVectors requires byte-identical K-quant blocks to llama.cpp's
// C reference quantizers (gguf-py has none); see testdata/README.md.
func TestQuantizeKVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/kquant_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Provenance string        `json:"provenance"`
		Input      string        `json:"input"`
		Results    []quantResult `json:"results"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	t.Logf("vectors from %s", v.Provenance)
	inBytes := mustHex(t, v.Input)
	in := make([]float32, len(inBytes)/4)
	for i := range in {
		in[i] = math.Float32frombits(uint32(inBytes[4*i]) | uint32(inBytes[4*i+1])<<8 | uint32(inBytes[4*i+2])<<16 | uint32(inBytes[4*i+3])<<24)
	}
	checkQuantized(t, in, v.Results, "llama.cpp")
}

// sameBlocks fails the test for every block of got that differs from the
// reference encoder's (who), showing the first three.
func sameBlocks(t *testing.T, typ Type, got, want []byte, who string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d bytes, %s %d", len(got), who, len(want))
	}
	bb := typ.BlockBytes()
	bad := 0
	for o := 0; o < len(got); o += bb {
		if string(got[o:o+bb]) != string(want[o:o+bb]) {
			if bad++; bad <= 3 {
				t.Errorf("block %d:\n got %x\nwant %x", o/bb, got[o:o+bb], want[o:o+bb])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d blocks differ from %s", bad, len(got)/bb, who)
	}
}
