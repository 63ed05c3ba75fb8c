package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rawFile assembles a safetensors file from a header string and data.
func rawFile(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// encode writes tensors and metadata with a Writer into memory.
func encode(t testing.TB, tensors []Tensor, meta map[string]string) []byte {
	t.Helper()
	var w Writer
	for _, ts := range tensors {
		if err := w.Add(ts); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range meta {
		w.SetMetadata(k, v)
	}
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

// headerKeys returns the top-level keys of a header in file order.
func headerKeys(t *testing.T, hdr []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func u16s(v ...uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}

func sampleTensors() []Tensor {
	f64 := make([]byte, 16)
	binary.LittleEndian.PutUint64(f64, math.Float64bits(1.5))
	binary.LittleEndian.PutUint64(f64[8:], math.Float64bits(-1e300))
	i32 := make([]byte, 12)
	for i, v := range []int32{-1, 7, math.MinInt32} {
		binary.LittleEndian.PutUint32(i32[4*i:], uint32(v))
	}
	return []Tensor{
		F32Tensor("z.weight", []int{2, 3}, []float32{1, 2, 3, 4, 5, -6}),
		F32Tensor("a.scalar", nil, []float32{42}),
		{Name: "half", DType: F16, Shape: []int{3}, Data: u16s(0x3c00, 0xc000, 0x0001)},
		{Name: "brain", DType: BF16, Shape: []int{1, 2}, Data: u16s(0x3f80, 0xc2f7)},
		{Name: "double", DType: F64, Shape: []int{2}, Data: f64},
		I64Tensor("ids", []int{4}, []int64{2, -5, 1 << 40, 0}),
		{Name: "i32", DType: I32, Shape: []int{3}, Data: i32},
		{Name: "bytes", DType: U8, Shape: []int{5}, Data: []byte{0, 1, 2, 254, 255}},
		{Name: "flags", DType: Bool, Shape: []int{3}, Data: []byte{1, 0, 1}},
		{Name: "empty", DType: F32, Shape: []int{0, 7}, Data: nil},
	}
}

func TestRoundTrip(t *testing.T) {
	tensors := sampleTensors()
	meta := map[string]string{"format": "pt", "note": "<a & b>"}
	raw := encode(t, tensors, meta)

	n := binary.LittleEndian.Uint64(raw)
	if (8+n)%8 != 0 {
		t.Errorf("data buffer starts at %d, not 8-aligned", 8+n)
	}
	if !json.Valid(raw[8 : 8+n]) {
		t.Errorf("header is not valid JSON: %q", raw[8:8+n])
	}
	if !bytes.Contains(raw[8:8+n], []byte(`"<a & b>"`)) {
		t.Errorf("metadata HTML-escaped or missing: %q", raw[8:8+n])
	}
	if keys := headerKeys(t, raw[8:8+n]); !slices.IsSorted(keys) || len(keys) != len(tensors)+1 {
		t.Errorf("header keys %v not sorted or incomplete", keys)
	}

	f, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if int64(8+n) != f.DataStart() {
		t.Errorf("DataStart %d, want %d", f.DataStart(), 8+n)
	}
	var want []string
	for _, ts := range tensors {
		want = append(want, ts.Name)
	}
	slices.Sort(want)
	if got := f.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names %v, want %v", got, want)
	}
	var end int64
	for _, name := range f.Names() { // offsets contiguous in name order
		info, _ := f.Tensor(name)
		if info.Offset != end {
			t.Errorf("%s: offset %d, want %d", name, info.Offset, end)
		}
		end += info.Size
	}
	if end != int64(len(raw))-f.DataStart() {
		t.Errorf("data buffer %d bytes, tensors cover %d", int64(len(raw))-f.DataStart(), end)
	}
	for _, ts := range tensors {
		info, ok := f.Tensor(ts.Name)
		if !ok {
			t.Fatalf("tensor %q missing", ts.Name)
		}
		if info.Name != ts.Name || info.DType != ts.DType || !slices.Equal(info.Shape, ts.Shape) && len(ts.Shape)+len(info.Shape) > 0 {
			t.Errorf("%s: info %+v, want dtype %s shape %v", ts.Name, info, ts.DType, ts.Shape)
		}
		if info.Size != int64(len(ts.Data)) {
			t.Errorf("%s: size %d, want %d", ts.Name, info.Size, len(ts.Data))
		}
		data, err := f.Data(ts.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, ts.Data) {
			t.Errorf("%s: data %v, want %v", ts.Name, data, ts.Data)
		}
		if cap(data) != len(data) {
			t.Errorf("%s: cap %d > len %d", ts.Name, cap(data), len(data))
		}
	}
	if got := f.Metadata(); len(got) != 2 || got["format"] != "pt" || got["note"] != "<a & b>" {
		t.Errorf("Metadata %v", got)
	}
	if _, ok := f.Tensor("nope"); ok {
		t.Error("Tensor(nope) found")
	}
	if _, err := f.Data("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Data(nope) err %v", err)
	}

	// Through a real file (mmap on Unix).
	path := filepath.Join(t.TempDir(), "rt.safetensors")
	if err := WriteFile(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, raw) {
		t.Error("WriteFile and Writer.WriteTo disagree")
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if g.Path() != path {
		t.Errorf("Path %q", g.Path())
	}
	d, err := g.Data("z.weight")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := g.Tensor("z.weight")
	v, err := Float32s(info, d)
	if err != nil || !slices.Equal(v, []float32{1, 2, 3, 4, 5, -6}) {
		t.Errorf("Float32s = %v, %v", v, err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := g.Data("z.weight"); err == nil {
		t.Error("Data after Close succeeded")
	}
}

func TestTensorInfoIsACopy(t *testing.T) {
	f, err := Parse(encode(t, sampleTensors(), nil))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := f.Tensor("z.weight")
	info.Shape[0] = 99
	names := f.Names()
	names[0] = "x"
	f.Metadata()["k"] = "v"
	again, _ := f.Tensor("z.weight")
	if again.Shape[0] != 2 || f.Names()[0] == "x" || len(f.Metadata()) != 0 {
		t.Error("File state changed through returned values")
	}
	if n := again.NumElements(); n != 6 {
		t.Errorf("NumElements %d", n)
	}
}

func TestConversions(t *testing.T) {
	f, err := Parse(encode(t, sampleTensors(), nil))
	if err != nil {
		t.Fatal(err)
	}
	f32 := func(name string) []float32 {
		t.Helper()
		info, _ := f.Tensor(name)
		d, _ := f.Data(name)
		v, err := Float32s(info, d)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	i64 := func(name string) []int64 {
		t.Helper()
		info, _ := f.Tensor(name)
		d, _ := f.Data(name)
		v, err := Int64s(info, d)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	checkF := func(name string, got, want []float32) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	checkF("half", f32("half"), []float32{1, -2, float32(math.Ldexp(1, -24))})
	checkF("brain", f32("brain"), []float32{1, -123.5})
	checkF("double", f32("double"), []float32{1.5, float32(math.Inf(-1))})
	checkF("a.scalar", f32("a.scalar"), []float32{42})
	checkF("empty", f32("empty"), []float32{})
	if got := i64("ids"); !slices.Equal(got, []int64{2, -5, 1 << 40, 0}) {
		t.Errorf("ids %v", got)
	}
	if got := i64("i32"); !slices.Equal(got, []int64{-1, 7, math.MinInt32}) {
		t.Errorf("i32 %v", got)
	}
	if got := i64("bytes"); !slices.Equal(got, []int64{0, 1, 2, 254, 255}) {
		t.Errorf("bytes %v", got)
	}
	if got := i64("flags"); !slices.Equal(got, []int64{1, 0, 1}) {
		t.Errorf("flags %v", got)
	}

	// F16 specials and every subnormal / normal boundary.
	for _, c := range []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0}, {0x8000, float32(math.Copysign(0, -1))}, {0x03ff, float32(1023 * math.Ldexp(1, -24))},
		{0x0400, float32(math.Ldexp(1, -14))}, {0x7bff, 65504}, {0x7c00, float32(math.Inf(1))},
		{0xfc00, float32(math.Inf(-1))}, {0x3555, 0.333251953125}, {0xc400, -4},
	} {
		if got := halfToFloat32(c.h); math.Float32bits(got) != math.Float32bits(c.want) {
			t.Errorf("half %#04x = %g, want %g", c.h, got, c.want)
		}
	}
	if got := halfToFloat32(0x7e00); !math.IsNaN(float64(got)) {
		t.Errorf("half NaN = %g", got)
	}

	// Errors.
	info, _ := f.Tensor("ids")
	d, _ := f.Data("ids")
	if _, err := Float32s(info, d); err == nil {
		t.Error("Float32s accepted I64")
	}
	info, _ = f.Tensor("z.weight")
	d, _ = f.Data("z.weight")
	if _, err := Int64s(info, d); err == nil {
		t.Error("Int64s accepted F32")
	}
	if _, err := Float32s(info, d[:20]); err == nil {
		t.Error("Float32s accepted short data")
	}
	big := TensorInfo{Name: "u", DType: U64, Shape: []int{1}, Size: 8}
	if _, err := Int64s(big, []byte{0, 0, 0, 0, 0, 0, 0, 0x80}); err == nil {
		t.Error("Int64s accepted U64 above MaxInt64")
	}
	if _, err := Float32s(TensorInfo{DType: "X9", Shape: []int{1}, Size: 1}, []byte{0}); err == nil {
		t.Error("Float32s accepted unknown dtype")
	}
}

func TestWriterRejects(t *testing.T) {
	cases := map[string]Tensor{
		"empty tensor name": {Name: "", DType: F32, Shape: []int{1}, Data: make([]byte, 4)},
		"reserved":          {Name: "__metadata__", DType: F32, Shape: []int{1}, Data: make([]byte, 4)},
		"unknown dtype":     {Name: "x", DType: "F12", Shape: []int{1}, Data: make([]byte, 4)},
		"needs 8 bytes":     {Name: "x", DType: F32, Shape: []int{2}, Data: make([]byte, 4)},
		"negative":          {Name: "x", DType: F32, Shape: []int{-1}, Data: nil},
	}
	for want, ts := range cases {
		var w Writer
		if err := w.Add(ts); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Add(%+v) = %v, want error containing %q", ts, err, want)
		}
	}
	var w Writer
	if err := w.Add(F32Tensor("a", []int{1}, []float32{1})); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(F32Tensor("a", []int{1}, []float32{1})); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate Add: %v", err)
	}
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := WriteFile(path, []Tensor{{Name: "x", DType: F32, Shape: []int{3}}}, nil); err == nil {
		t.Error("WriteFile accepted a bad tensor")
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("WriteFile left a file behind after failing")
	}
}

func TestBadHeaders(t *testing.T) {
	data := make([]byte, 16)
	cases := []struct {
		name, header string
		data         []byte
		want         string
	}{
		{"invalid json", `{"a": {"dtype": "F32",`, data, "invalid JSON"},
		{"not object", `[1, 2]`, data, "not an object"},
		{"empty", ``, data, "invalid JSON"},
		{"trailing", `{} {}`, data, "after the JSON"},
		{"trailing garbage", `{}x`, data, "after the JSON"},
		{"duplicate", `{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}`, data, `duplicate key "a"`},
		{"unknown dtype", `{"a": {"dtype": "F7", "shape": [1], "data_offsets": [0, 4]}}`, data, `unknown dtype "F7"`},
		{"dtype not string", `{"a": {"dtype": 3, "shape": [1], "data_offsets": [0, 4]}}`, data, `tensor "a"`},
		{"missing dtype", `{"a": {"shape": [1], "data_offsets": [0, 4]}}`, data, "missing dtype"},
		{"missing shape", `{"a": {"dtype": "F32", "data_offsets": [0, 4]}}`, data, "missing shape"},
		{"missing offsets", `{"a": {"dtype": "F32", "shape": [1]}}`, data, "missing data_offsets"},
		{"entry not object", `{"a": 5}`, data, `tensor "a"`},
		{"size mismatch", `{"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 16]}}`, data, "needs 24 bytes"},
		{"overflow", `{"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]}}`, data, "overflow"},
		{"overflow by dtype", `{"a": {"dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 16]}}`, data, "overflow"},
		{"zero dim after huge", `{"a": {"dtype": "F32", "shape": [4294967296, 4294967296, 0], "data_offsets": [0, 0]}}`, data, ""},
		{"negative dim", `{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}`, data, "dimension 0 is -1"},
		{"fractional dim", `{"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}`, data, `tensor "a"`},
		{"huge offset", `{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 99999999999999999999]}}`, data, `tensor "a"`},
		{"begin > end", `{"a": {"dtype": "U8", "shape": [0], "data_offsets": [8, 4]}}`, data, "ascending"},
		{"negative begin", `{"a": {"dtype": "U8", "shape": [4], "data_offsets": [-4, 0]}}`, data, "ascending"},
		{"past end", `{"a": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}}`, data, "run past the 16-byte"},
		{"three offsets", `{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}`, data, "3 entries"},
		{"overlap", `{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}`, data, "overlap"},
		{"metadata number", `{"__metadata__": {"k": 1}}`, data, `__metadata__["k"] is not a string`},
		{"metadata array", `{"__metadata__": [1]}`, data, "__metadata__ is not an object"},
		{"ok empty", `{}`, nil, ""},
		{"ok null metadata", `{"__metadata__": null}`, nil, ""},
		{"ok padded", `{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}      `, data, ""},
		{"ok gap and shared empty", `{"a": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]}, "b": {"dtype": "U8", "shape": [0], "data_offsets": [9, 9]}}`, data, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse(rawFile(c.header, c.data))
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				for _, n := range f.Names() {
					if _, err := f.Data(n); err != nil {
						t.Error(err)
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestBadLength(t *testing.T) {
	for _, c := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"nil", nil, "too short"},
		{"7 bytes", make([]byte, 7), "too short"},
		{"header past end", rawFile(`{}`, nil)[:9], "header length 2 exceeds the 1 bytes"},
		{"header over limit", binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1), "limit"},
		{"header max u64", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "limit"},
	} {
		if _, err := Parse(c.raw); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// TestTruncated cuts a small valid file at every length: each proper prefix
// must be rejected, in memory and on disk.
func TestTruncated(t *testing.T) {
	raw := encode(t, []Tensor{
		F32Tensor("a", []int{2}, []float32{1, 2}),
		{Name: "b", DType: F16, Shape: []int{3}, Data: u16s(1, 2, 3)},
		I64Tensor("c", []int{1}, []int64{7}),
	}, map[string]string{"k": "v"})
	if _, err := Parse(raw); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for n := 0; n < len(raw); n++ {
		if f, err := Parse(raw[:n:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes parsed: %v", n, len(raw), f.Names())
		}
		path := filepath.Join(dir, "t.safetensors")
		if err := os.WriteFile(path, raw[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path)
		if err == nil {
			f.Close()
			t.Fatalf("prefix file of %d/%d bytes opened", n, len(raw))
		}
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name the file", err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing.safetensors")); err == nil || !strings.Contains(err.Error(), "missing.safetensors") {
		t.Errorf("Open(missing) = %v", err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("Open(dir) = %v", err)
	}
}

func TestInt64sAllTypes(t *testing.T) {
	for _, c := range []struct {
		dt   DType
		data []byte
		want []int64
	}{
		{I16, []byte{0xfe, 0xff, 0x02, 0x00}, []int64{-2, 2}},
		{I8, []byte{0xff, 0x7f}, []int64{-1, 127}},
		{U16, []byte{0xfe, 0xff, 0x02, 0x00}, []int64{65534, 2}},
		{U32, []byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0}, []int64{math.MaxUint32, 1}},
		{U64, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 3, 0, 0, 0, 0, 0, 0, 0}, []int64{math.MaxInt64, 3}},
		{Bool, []byte{0, 2}, []int64{0, 1}},
	} {
		info := TensorInfo{Name: "x", DType: c.dt, Shape: []int{2}, Size: int64(len(c.data))}
		got, err := Int64s(info, c.data)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, %v; want %v", c.dt, got, err, c.want)
		}
	}
}

// failWriter fails after n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, os.ErrClosed
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteToError(t *testing.T) {
	var w Writer
	if err := w.Add(F32Tensor("a", []int{4}, []float32{1, 2, 3, 4})); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 4, 8, 60} {
		if _, err := w.WriteTo(&failWriter{n: n}); err == nil {
			t.Errorf("WriteTo succeeded with a writer failing after %d bytes", n)
		}
	}
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "such", "dir.safetensors"), nil, nil); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}
