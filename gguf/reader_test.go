package gguf

import (
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

func TestParseErrors(t *testing.T) {
	valid := smallFile(t)
	badMagic := append([]byte("GGUG"), valid[4:]...)
	kv1 := func() *rawFile { return header(3, 0, 1) }
	long := strings.Repeat("x", 64)
	for _, tc := range []struct {
		name  string
		img   []byte
		want  string
		class error
	}{
		{"not-gguf-text", []byte("#!/bin/sh\necho this is not a model\n"), "not a GGUF file", ErrNotGGUF},
		{"bad-magic", badMagic, `magic "GGUG"`, ErrNotGGUF},
		{"empty", nil, "too short", ErrTruncated},
		{"len=2", []byte("GG"), "too short", ErrTruncated},
		{"version=0", header(0, 0, 0).b, "invalid version 0", ErrVersion},
		{"version=1", header(1, 0, 0).b, "no longer supported", ErrVersion},
		{"version=4", header(4, 0, 0).b, "unsupported version 4", ErrVersion},
		{"version=byte-swapped", header(0x03000000, 0, 0).b, "byte-swapped (big-endian)", ErrVersion},
		{"header-truncated", header(3, 0, 0).b[:20], "kv count", ErrTruncated},
		{"lying-tensor-offset", oneTensor("blk.0.w", []uint64{8}, 0, 1<<20, 32), `tensor "blk.0.w": offset 1048576 size 32`, ErrTruncated},
		{"tensor-offset-overflow", oneTensor("w", []uint64{8}, 0, math.MaxUint64-31, 32), "beyond the end of the file", ErrTruncated},
		{"tensor-data-short", oneTensor("w", []uint64{8}, 0, 0, 31), "beyond the end of the file", ErrTruncated},
		{"offset-unaligned", oneTensor("blk.3.attn_q.weight", []uint64{8}, 0, 16, 64), `tensor "blk.3.attn_q.weight": offset 16 not a multiple of alignment 32`, ErrInvalid},
		{"tensor-type=4", oneTensor("w", []uint64{32}, 4, 0, 64), "unsupported/invalid tensor type id 4 (removed", ErrInvalid},
		{"tensor-type=32", oneTensor("w", []uint64{32}, 32, 0, 64), "tensor type id 32 (removed", ErrInvalid},
		{"tensor-type=43", oneTensor("w", []uint64{32}, 43, 0, 64), "tensor type id 43", ErrInvalid},
		{"tensor-type=99", oneTensor("w", []uint64{32}, 99, 0, 64), "tensor type id 99", ErrInvalid},
		{"ne0-not-block-multiple", oneTensor("w", []uint64{33}, uint32(quant.Q8_0), 0, 64), "ne[0] = 33 is not a multiple of the Q8_0 block size 32", ErrInvalid},
		{"n_dims=0", oneTensor("w", nil, 0, 0, 32), "n_dims 0", ErrInvalid},
		{"n_dims=5", oneTensor("w", []uint64{1, 1, 1, 1, 1}, 0, 0, 32), "n_dims 5", ErrInvalid},
		{"dims-overflow-2d", oneTensor("w", []uint64{1 << 32, 1 << 32}, 0, 0, 32), "element count overflows", ErrInvalid},
		{"dims-overflow-4d", oneTensor("w", []uint64{1 << 16, 1 << 16, 1 << 16, 1 << 16}, 0, 0, 32), "element count overflows", ErrInvalid},
		{"bytes-overflow", oneTensor("w", []uint64{1 << 62}, 0, 0, 32), "too large", ErrInvalid},
		{"bytes-overflow-rows", oneTensor("w", []uint64{1 << 20, 1 << 42}, 0, 0, 32), "byte size overflows", ErrInvalid},
		{"ne-negative", oneTensor("w", []uint64{1 << 63}, 0, 0, 32), "negative", ErrInvalid},
		{"empty-tensor-name", oneTensor("", []uint64{8}, 0, 0, 32), "empty tensor name", ErrInvalid},
		{"long-tensor-name", oneTensor(long, []uint64{8}, 0, 0, 32), "name length 64 exceeds", ErrInvalid},
		{"duplicate-tensor", header(3, 2, 0).tensor("w", []uint64{8}, 0, 0).tensor("w", []uint64{8}, 0, 32).padTo(32).zeros(64).b, `duplicate tensor name "w"`, ErrInvalid},
		{"tensor-info-truncated", header(3, 1, 0).str("w").u32(2).u64(8).b, "tensor count 1 cannot fit in the 21 remaining bytes", ErrTruncated},
		{"huge-key-length", kv1().u64(1 << 62).zeros(16).b, "string length 4611686018427387904", ErrTruncated},
		{"huge-string-value", kv1().kv("k", TypeString).u64(1 << 62).zeros(16).b, `kv "k": STRING value: string length 4611686018427387904`, ErrTruncated},
		{"huge-array-count", kv1().kv("k", TypeArray).u32(uint32(TypeUint32)).u64(1 << 62).zeros(16).b, "array count 4611686018427387904", ErrTruncated},
		{"huge-string-array", kv1().kv("k", TypeArray).u32(uint32(TypeString)).u64(1 << 61).zeros(16).b, "array count", ErrTruncated},
		{"huge-string-in-array", kv1().kv("k", TypeArray).u32(uint32(TypeString)).u64(2).str("a").u64(1 << 40).b, "element 1: string length 1099511627776", ErrTruncated},
		{"huge-tensor-count", header(3, 1<<62, 0).zeros(64).b, "tensor count 4611686018427387904", ErrTruncated},
		{"huge-kv-count", header(3, 0, 1<<62).zeros(64).b, "kv count 4611686018427387904", ErrTruncated},
		{"max-counts", header(3, math.MaxUint64, math.MaxUint64).b, "kv count", ErrTruncated},
		{"kv-truncated", header(3, 0, 2).kv("a", TypeUint8).u8(1).b, "kv count 2 at offset 16 cannot fit", ErrTruncated},
		{"value-truncated", kv1().kv("abcdefgh", TypeUint64).u32(0).b, `kv "abcdefgh": UINT64 value: need 8 bytes`, ErrTruncated},
		{"bool=2", kv1().kv("flag", TypeBool).u8(2).b, `kv "flag": BOOL value: invalid bool byte 2`, ErrInvalid},
		{"bool-array=2", kv1().kv("flags", TypeArray).u32(uint32(TypeBool)).u64(3).raw(1, 0, 2).b, "element 2: invalid bool byte 2", ErrInvalid},
		{"array-of-arrays", kv1().kv("k", TypeArray).u32(uint32(TypeArray)).u64(1).u32(uint32(TypeUint8)).u64(0).b, "array of arrays", ErrInvalid},
		{"unknown-value-type", kv1().kv("k", 13).u64(0).b, `kv "k": unknown value type 13`, ErrInvalid},
		{"unknown-array-type", kv1().kv("k", TypeArray).u32(99).u64(0).b, "unknown value type 99", ErrInvalid},
		{"empty-key", kv1().kv("", TypeUint64).u64(1).b, "empty key", ErrInvalid},
		{"duplicate-key", header(3, 0, 2).kv("k", TypeUint8).u8(1).kv("k", TypeUint8).u8(2).b, `duplicate key "k"`, ErrInvalid},
		{"alignment=0", kv1().kv(AlignmentKey, TypeUint32).u32(0).b, "alignment 0 is not a non-zero power of two", ErrInvalid},
		{"alignment=3", kv1().kv(AlignmentKey, TypeUint32).u32(3).b, "alignment 3 is not a non-zero power of two", ErrInvalid},
		{"alignment-string", kv1().kv(AlignmentKey, TypeString).str("32").b, "want a non-negative integer", ErrInvalid},
		{"alignment-negative", kv1().kv(AlignmentKey, TypeInt32).u32(math.MaxUint32).b, "want a non-negative integer", ErrInvalid},
		{"alignment-array", kv1().kv(AlignmentKey, TypeArray).u32(uint32(TypeUint32)).u64(1).u32(32).b, "want a non-negative integer", ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.img)
			if err == nil {
				t.Fatalf("Parse succeeded (%d tensors), want an error containing %q", len(f.Tensors), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "gguf: ") {
				t.Errorf("error %q lacks the gguf: prefix", err)
			}
			if !errors.Is(err, tc.class) {
				t.Errorf("error %q is not %v", err, tc.class)
			}
		})
	}
}

// TestTruncatedPrefixes checks that every proper prefix of a valid file is
// rejected without a panic.
func TestTruncatedPrefixes(t *testing.T) {
	img := smallFile(t)
	f, err := Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	last := f.Tensors[len(f.Tensors)-1]
	if f.DataOffset+last.Offset+last.Size != uint64(len(img)) {
		t.Fatalf("test file has trailing padding; prefixes would not all be invalid")
	}
	for n := range len(img) {
		if _, err := Parse(img[:n:n]); err == nil {
			t.Errorf("Parse of the first %d of %d bytes succeeded", n, len(img))
		}
	}
}

func TestParseAccepts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		img   []byte
		align uint64
	}{
		{"alignment-u8", header(3, 0, 1).kv(AlignmentKey, TypeUint8).u8(16).b, 16},
		{"alignment-u64", header(3, 0, 1).kv(AlignmentKey, TypeUint64).u64(1 << 20).b, 1 << 20},
		{"alignment-i32", header(3, 0, 1).kv(AlignmentKey, TypeInt32).u32(8).b, 8},
		{"zero-extent", oneTensor("w", []uint64{0, 1 << 40}, uint32(quant.Q4_K), 0, 0), 32},
		{"offsets-out-of-order", header(3, 2, 0).tensor("b", []uint64{8}, 0, 32).tensor("a", []uint64{8}, 0, 0).padTo(32).zeros(64).b, 32},
		{"overlapping-offsets", header(3, 2, 0).tensor("b", []uint64{8}, 0, 0).tensor("a", []uint64{4}, 0, 0).padTo(32).zeros(32).b, 32},
		{"no-kv-no-tensor", header(3, 0, 0).b, 32},
		{"empty-arrays", header(3, 0, 2).kv("s", TypeArray).u32(uint32(TypeString)).u64(0).kv("u", TypeArray).u32(uint32(TypeUint8)).u64(0).b, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.img)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if f.Alignment != tc.align {
				t.Errorf("alignment %d, want %d", f.Alignment, tc.align)
			}
			for _, ti := range f.Tensors {
				if b, err := f.TensorData(ti.Name); err != nil || uint64(len(b)) != ti.Size {
					t.Errorf("TensorData(%q): %d bytes, %v", ti.Name, len(b), err)
				}
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	w := NewWriter()
	for _, kv := range []struct {
		key string
		v   any
	}{
		{"u8", uint8(7)}, {"i8.neg", int8(-3)}, {"i16", int16(300)}, {"u32", uint32(1 << 31)},
		{"i64.neg", int64(-5)}, {"u64.big", uint64(math.MaxUint64)}, {"f32", float32(0.25)},
		{"f64", 1e-12}, {"b", true}, {"s", "gemma3"},
		{"ss", []string{"x", "y"}}, {"fs", []float32{1, 2}}, {"i32s", []int32{-1, 5}},
		{"u8s", []uint8{0, 255}}, {"u32s.fit", []uint32{1, math.MaxInt32}}, {"u32s.big", []uint32{1, math.MaxInt32 + 1}},
		{"i64s.fit", []int64{math.MinInt32, 2}}, {"i64s.big", []int64{math.MinInt32 - 1}}, {"u64s", []uint64{3}},
		{"i8s", []int8{-128}}, {"i16s", []int16{-1}}, {"u16s", []uint16{65535}}, {"f64s", []float64{1}},
	} {
		must(t, w.Add(kv.key, kv.v))
	}
	f, err := Parse(encode(t, w))
	if err != nil {
		t.Fatal(err)
	}
	call := func(acc, key string) (any, bool) {
		switch acc {
		case "String":
			return f.String(key)
		case "Uint":
			return f.Uint(key)
		case "Int":
			return f.Int(key)
		case "Float":
			return f.Float(key)
		case "Bool":
			return f.Bool(key)
		case "Strings":
			return f.Strings(key)
		case "Float32s":
			return f.Float32s(key)
		case "Int32s":
			return f.Int32s(key)
		}
		v, ok := f.Get(key)
		return v.V, ok
	}
	for _, tc := range []struct {
		acc, key string
		want     any // nil: expect ok == false
	}{
		{"Get", "u8", uint8(7)}, {"Get", "missing", nil},
		{"String", "s", "gemma3"}, {"String", "u8", nil}, {"String", "missing", nil},
		{"Uint", "u8", uint64(7)}, {"Uint", "i16", uint64(300)}, {"Uint", "u64.big", uint64(math.MaxUint64)},
		{"Uint", "i8.neg", nil}, {"Uint", "f32", nil}, {"Uint", "s", nil}, {"Uint", "missing", nil},
		{"Int", "i8.neg", int64(-3)}, {"Int", "u32", int64(1 << 31)}, {"Int", "i64.neg", int64(-5)},
		{"Int", "u64.big", nil}, {"Int", "f64", nil}, {"Int", "i32s", nil},
		{"Float", "f32", 0.25}, {"Float", "f64", 1e-12}, {"Float", "i8.neg", -3.0}, {"Float", "u64.big", float64(math.MaxUint64)},
		{"Float", "b", nil}, {"Float", "missing", nil},
		{"Bool", "b", true}, {"Bool", "u8", nil}, {"Bool", "missing", nil},
		{"Strings", "ss", []string{"x", "y"}}, {"Strings", "s", nil}, {"Strings", "missing", nil},
		{"Float32s", "fs", []float32{1, 2}}, {"Float32s", "f64s", nil}, {"Float32s", "missing", nil},
		{"Int32s", "i32s", []int32{-1, 5}}, {"Int32s", "u8s", []int32{0, 255}}, {"Int32s", "u32s.fit", []int32{1, math.MaxInt32}},
		{"Int32s", "u32s.big", nil}, {"Int32s", "i64s.fit", []int32{math.MinInt32, 2}}, {"Int32s", "i64s.big", nil},
		{"Int32s", "u64s", []int32{3}}, {"Int32s", "i8s", []int32{-128}}, {"Int32s", "i16s", []int32{-1}},
		{"Int32s", "u16s", []int32{65535}}, {"Int32s", "fs", nil}, {"Int32s", "s", nil}, {"Int32s", "missing", nil},
	} {
		t.Run(fmt.Sprintf("%s(%s)", tc.acc, tc.key), func(t *testing.T) {
			got, ok := call(tc.acc, tc.key)
			if tc.want == nil {
				if ok {
					t.Errorf("= %v, true; want false", got)
				}
				return
			}
			if !ok || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("= %#v, %v; want %#v, true", got, ok, tc.want)
			}
		})
	}
	if _, ok := f.Tensor("nope"); ok {
		t.Error("Tensor(nope) found")
	}
}

func TestValueString(t *testing.T) {
	for _, tc := range []struct {
		v    Value
		want string
	}{
		{Value{Type: TypeString, V: "a b"}, `"a b"`},
		{Value{Type: TypeUint32, V: uint32(5)}, "5"},
		{Value{Type: TypeArray, ArrayType: TypeFloat32, V: []float32{1, 2}}, "FLOAT32[2]"},
		{Value{Type: 77}, "<nil>"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.v.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
	if got := ValueType(77).String(); got != "ValueType(77)" {
		t.Errorf("ValueType(77).String() = %q", got)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, data, 0o644))
		return p
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "missing.gguf"), "no such file"},
		{"empty", write("empty.gguf", nil), "too short"},
		{"text", write("text.gguf", []byte("hello, world: not a model file")), "not a GGUF file"},
		{"truncated", write("trunc.gguf", smallFile(t)[:100]), "trunc.gguf"},
		{"directory", dir, "gguf:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Open(tc.path)
			if err == nil {
				f.Close()
				t.Fatalf("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
