package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gemmavk/kernels/quant"
)

// allValues covers every scalar type, an array of every element type, and
// empty arrays.
var allValues = []struct {
	key string
	v   any
}{
	{"t.u8", uint8(200)},
	{"t.i8", int8(-100)},
	{"t.u16", uint16(60000)},
	{"t.i16", int16(-30000)},
	{"t.u32", uint32(4_000_000_000)},
	{"t.i32", int32(-2_000_000_000)},
	{"t.f32", float32(1e-6)},
	{"t.bool.true", true},
	{"t.bool.false", false},
	{"t.str", "héllo ▁world\x00\n"},
	{"t.str.empty", ""},
	{"t.u64", uint64(math.MaxUint64)},
	{"t.i64", int64(math.MinInt64)},
	{"t.f64", math.Pi},
	{"a.u8", []uint8{0, 1, 255}},
	{"a.i8", []int8{-128, 0, 127}},
	{"a.u16", []uint16{0, 65535}},
	{"a.i16", []int16{-32768, 32767}},
	{"a.u32", []uint32{0, 7, math.MaxUint32}},
	{"a.i32", []int32{math.MinInt32, 1, 2, 3}},
	{"a.f32", []float32{1.5, float32(math.Inf(-1)), 3.25e10}},
	{"a.bool", []bool{true, false, true}},
	{"a.str", []string{"a", "", "<0x0A>", "▁the"}},
	{"a.u64", []uint64{math.MaxUint64, 0}},
	{"a.i64", []int64{math.MinInt64, math.MaxInt64}},
	{"a.f64", []float64{-0.5, 1e300}},
	{"a.empty.i32", []int32{}},
	{"a.empty.str", []string{}},
	{"typed", Value{Type: TypeUint32, V: uint32(42)}},
}

// allTensors covers plain, half and quantized types, 1 to 4 dims, and sizes
// that need padding.
var allTensors = []struct {
	name string
	typ  quant.Type
	dims []uint64
}{
	{"f32.vec", quant.F32, []uint64{8}},
	{"f16.mat", quant.F16, []uint64{16, 3}},
	{"bf16.odd", quant.BF16, []uint64{5}},
	{"q8_0", quant.Q8_0, []uint64{64, 2}},
	{"blk.0.q4_k", quant.Q4_K, []uint64{256, 2, 3}},
	{"blk.1.q6_k", quant.Q6_K, []uint64{256, 1, 1, 2}},
	{"i8", quant.I8, []uint64{3}},
	{"q4_0", quant.Q4_0, []uint64{32}},
	{"empty", quant.F32, []uint64{0, 4}},
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		align    uint64 // 0: leave the default
		wantKV   bool   // general.alignment expected in the output
		effAlign uint64
	}{
		{0, false, 32},
		{32, true, 32},
		{64, true, 64},
		{1, true, 1},
		{4096, true, 4096},
	} {
		t.Run(fmt.Sprintf("align=%d", tc.align), func(t *testing.T) {
			w := NewWriter()
			if tc.align != 0 {
				w.SetAlignment(tc.align)
			}
			var want []KV
			for _, kv := range allValues {
				must(t, w.Add(kv.key, kv.v))
				v, err := valueOf(kv.v)
				must(t, err)
				want = append(want, KV{Key: kv.key, Value: v})
			}
			if tc.wantKV {
				want = append(want, KV{Key: AlignmentKey, Value: Value{Type: TypeUint32, V: uint32(tc.align)}})
			}
			data := map[string][]byte{}
			for i, tt := range allTensors {
				data[tt.name] = pattern(sizeOf(t, tt.typ, tt.dims), uint32(i+1))
				must(t, w.AddTensor(tt.name, tt.typ, tt.dims, data[tt.name]))
			}
			img := encode(t, w)
			f, err := Parse(img)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			defer f.Close()
			if f.Version != 3 || f.Alignment != tc.effAlign {
				t.Errorf("version %d alignment %d, want 3 and %d", f.Version, f.Alignment, tc.effAlign)
			}
			if !reflect.DeepEqual(f.KVs, want) {
				t.Errorf("KVs differ:\n got %v\nwant %v", f.KVs, want)
			}
			if f.DataOffset%tc.effAlign != 0 {
				t.Errorf("DataOffset %d not aligned to %d", f.DataOffset, tc.effAlign)
			}
			if len(f.Tensors) != len(allTensors) {
				t.Fatalf("%d tensors, want %d", len(f.Tensors), len(allTensors))
			}
			var off uint64
			for i, tt := range allTensors {
				got := f.Tensors[i]
				if got.Name != tt.name || got.Type != tt.typ || !reflect.DeepEqual(got.Dims, tt.dims) {
					t.Errorf("tensor %d = %s %s %v, want %s %s %v", i, got.Name, got.Type, got.Dims, tt.name, tt.typ, tt.dims)
				}
				if got.Size != uint64(len(data[tt.name])) || got.Offset != off {
					t.Errorf("tensor %q: size %d offset %d, want %d and %d", tt.name, got.Size, got.Offset, len(data[tt.name]), off)
				}
				if abs := f.DataOffset + got.Offset; abs%tc.effAlign != 0 || (tc.effAlign >= 32 && abs%32 != 0) {
					t.Errorf("tensor %q at absolute offset %d, not aligned to %d", tt.name, abs, tc.effAlign)
				}
				off += (got.Size + tc.effAlign - 1) / tc.effAlign * tc.effAlign
				b, err := f.TensorData(tt.name)
				if err != nil || !bytes.Equal(b, data[tt.name]) || cap(b) != len(b) {
					t.Errorf("TensorData(%q): %d bytes (cap %d), err %v; want the %d bytes written", tt.name, len(b), cap(b), err, len(data[tt.name]))
				}
				if info, ok := f.Tensor(tt.name); !ok || info.Name != tt.name {
					t.Errorf("Tensor(%q) = %v, %v", tt.name, info, ok)
				}
			}
			if uint64(len(img)) != f.DataOffset+off {
				t.Errorf("file is %d bytes, want data start %d + %d", len(img), f.DataOffset, off)
			}
		})
	}
}

func TestVersion2Accepted(t *testing.T) {
	img := smallFile(t)
	binary.LittleEndian.PutUint32(img[4:], 2)
	f, err := Parse(img)
	if err != nil {
		t.Fatalf("Parse(version 2): %v", err)
	}
	if f.Version != 2 || len(f.Tensors) != 2 {
		t.Errorf("version %d with %d tensors, want 2 and 2", f.Version, len(f.Tensors))
	}
}

func TestNoTensorsNoPadding(t *testing.T) {
	w := NewWriter()
	must(t, w.Add("k", "v"))
	img := encode(t, w)
	if want := 4 + 4 + 8 + 8 + 8 + 1 + 4 + 8 + 1; len(img) != want {
		t.Errorf("file is %d bytes, want %d (no padding without tensors)", len(img), want)
	}
	f, err := Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := f.String("k"); !ok || s != "v" {
		t.Errorf("String(k) = %q, %v", s, ok)
	}
}

func TestWriteFileAndOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.gguf")
	w := NewWriter()
	must(t, w.Add("general.architecture", "test"))
	payload := pattern(sizeOf(t, quant.Q8_0, []uint64{32, 4}), 9)
	must(t, w.AddTensor("w", quant.Q8_0, []uint64{32, 4}, payload))
	must(t, w.WriteFile(path))

	f, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if a, _ := f.String("general.architecture"); a != "test" {
		t.Errorf("architecture %q", a)
	}
	b, err := f.TensorData("w")
	if err != nil || !bytes.Equal(b, payload) {
		t.Errorf("TensorData: %v, equal=%v", err, bytes.Equal(b, payload))
	}
	if _, err := f.TensorData("missing"); err == nil || !strings.Contains(err.Error(), `no tensor named "missing"`) {
		t.Errorf("TensorData(missing) error = %v", err)
	}
	must(t, f.Close())
	must(t, f.Close())
	if _, err := f.TensorData("w"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("TensorData after Close: error = %v", err)
	}
}

func TestWriteFileError(t *testing.T) {
	w := NewWriter()
	w.SetAlignment(3)
	path := filepath.Join(t.TempDir(), "bad.gguf")
	if err := w.WriteFile(path); err == nil {
		t.Fatal("WriteFile with alignment 3 succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial file left behind: %v", err)
	}
	if err := w.WriteFile(filepath.Join(t.TempDir(), "no", "such", "dir.gguf")); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWriteToPropagatesErrors(t *testing.T) {
	w := NewWriter()
	must(t, w.AddTensor("x", quant.F32, []uint64{3}, make([]byte, 12)))
	for after := range 4 {
		t.Run(fmt.Sprintf("after=%d", after), func(t *testing.T) {
			if _, err := w.WriteTo(&failingWriter{after: after}); err == nil || !strings.Contains(err.Error(), "disk full") {
				t.Errorf("error = %v, want disk full", err)
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	long := strings.Repeat("n", 64)
	for _, tc := range []struct {
		name string
		do   func(w *Writer) error
		want string
	}{
		{"int", func(w *Writer) error { return w.Add("k", 1) }, "unsupported Go type int"},
		{"map", func(w *Writer) error { return w.Add("k", map[string]int{}) }, "unsupported Go type"},
		{"nil", func(w *Writer) error { return w.Add("k", nil) }, "unsupported Go type"},
		{"slice-of-slices", func(w *Writer) error { return w.Add("k", [][]uint8{{1}}) }, "unsupported Go type"},
		{"empty-key", func(w *Writer) error { return w.Add("", uint8(1)) }, "empty key"},
		{"duplicate-key", func(w *Writer) error { _ = w.Add("k", uint8(1)); return w.Add("k", uint8(2)) }, "duplicate key"},
		{"typed-mismatch", func(w *Writer) error { return w.AddTyped("k", Value{Type: TypeUint8, V: int32(1)}) }, "declared UINT8"},
		{"typed-array-mismatch", func(w *Writer) error {
			return w.AddTyped("k", Value{Type: TypeArray, ArrayType: TypeInt32, V: []uint32{1}})
		}, "declared ARRAY of INT32"},
		{"typed-array-of-arrays", func(w *Writer) error {
			return w.AddTyped("k", Value{Type: TypeArray, ArrayType: TypeArray, V: []uint32{1}})
		}, "arrays of arrays"},
		{"typed-unknown", func(w *Writer) error { return w.AddTyped("k", Value{Type: 13, V: uint8(1)}) }, "unknown value type 13"},
		{"typed-nested", func(w *Writer) error {
			return w.AddTyped("k", Value{Type: TypeUint8, V: Value{Type: TypeUint8, V: uint8(1)}})
		}, "nested Value"},
		{"tensor-size", func(w *Writer) error { return w.AddTensor("t", quant.F32, []uint64{4}, make([]byte, 15)) }, "needs 16"},
		{"tensor-type", func(w *Writer) error { return w.AddTensor("t", quant.Type(4), []uint64{32}, nil) }, "tensor type id 4"},
		{"tensor-block", func(w *Writer) error { return w.AddTensor("t", quant.Q4_K, []uint64{32}, nil) }, "block size 256"},
		{"tensor-dims", func(w *Writer) error { return w.AddTensor("t", quant.F32, nil, nil) }, "n_dims 0"},
		{"tensor-empty-name", func(w *Writer) error { return w.AddTensor("", quant.F32, []uint64{1}, make([]byte, 4)) }, "empty tensor name"},
		{"tensor-long-name", func(w *Writer) error { return w.AddTensor(long, quant.F32, []uint64{1}, make([]byte, 4)) }, "exceeds"},
		{"tensor-duplicate", func(w *Writer) error {
			_ = w.AddTensor("t", quant.F32, []uint64{1}, make([]byte, 4))
			return w.AddTensor("t", quant.F32, []uint64{1}, make([]byte, 4))
		}, "duplicate tensor name"},
		{"alignment-0", func(w *Writer) error { w.SetAlignment(0); _, err := w.WriteTo(&bytes.Buffer{}); return err }, "power of two"},
		{"alignment-3", func(w *Writer) error { w.SetAlignment(3); _, err := w.WriteTo(&bytes.Buffer{}); return err }, "power of two"},
		{"alignment-conflict", func(w *Writer) error {
			_ = w.Add(AlignmentKey, uint32(64))
			w.SetAlignment(128)
			_, err := w.WriteTo(&bytes.Buffer{})
			return err
		}, "conflicts"},
		{"alignment-key-bad", func(w *Writer) error {
			_ = w.Add(AlignmentKey, "32")
			_, err := w.WriteTo(&bytes.Buffer{})
			return err
		}, "power of two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do(NewWriter())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestWriterAlignmentKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(w *Writer)
		want uint64
	}{
		{"added-as-key-u64", func(w *Writer) { must(t, w.Add(AlignmentKey, uint64(128))) }, 128},
		{"added-and-set-equal", func(w *Writer) { must(t, w.Add(AlignmentKey, uint16(16))); w.SetAlignment(16) }, 16},
		{"zero-writer-default", func(w *Writer) {}, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w Writer // the zero Writer must work too
			tc.set(&w)
			must(t, w.AddTensor("x", quant.F32, []uint64{1}, make([]byte, 4)))
			must(t, w.AddTensor("y", quant.F32, []uint64{1}, make([]byte, 4)))
			f, err := Parse(encode(t, &w))
			if err != nil {
				t.Fatal(err)
			}
			if f.Alignment != tc.want || f.Tensors[1].Offset != tc.want {
				t.Errorf("alignment %d, second offset %d, want %d", f.Alignment, f.Tensors[1].Offset, tc.want)
			}
			n := 0
			for _, kv := range f.KVs {
				if kv.Key == AlignmentKey {
					n++
				}
			}
			if want := map[bool]int{true: 0, false: 1}[tc.name == "zero-writer-default"]; n != want {
				t.Errorf("%d %s keys, want %d", n, AlignmentKey, want)
			}
		})
	}
}
