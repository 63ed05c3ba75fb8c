package safetensors

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic; whatever
// it accepts must yield in-range data for every tensor, survive the
// conversions, and re-encode through Writer to an equivalent file.
func FuzzParse(f *testing.F) {
	f.Add(encode(f, sampleTensors(), map[string]string{"format": "pt"}))
	f.Add(encode(f, []Tensor{F32Tensor("a", []int{1}, []float32{1})}, nil))
	f.Add(rawFile(`{}`, nil))
	f.Add(rawFile(`{"a": {"dtype": "BF16", "shape": [2, 1], "data_offsets": [0, 4]}, "__metadata__": {"k": "v"}}`, []byte{1, 2, 3, 4}))
	f.Add(rawFile(`{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}`, make([]byte, 12)))
	f.Add(rawFile(`{"a": {"dtype": "U64", "shape": [1], "data_offsets": [0, 8]}}`, []byte{0, 0, 0, 0, 0, 0, 0, 0xff}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{'})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		var w Writer
		reencode := true
		for _, name := range file.Names() {
			info, ok := file.Tensor(name)
			if !ok {
				t.Fatalf("listed tensor %q not found", name)
			}
			d, err := file.Data(name)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(d)) != info.Size {
				t.Fatalf("%q: %d bytes, info says %d", name, len(d), info.Size)
			}
			_, _ = Float32s(info, d)
			_, _ = Int64s(info, d)
			if name == "" {
				reencode = false
				continue
			}
			if err := w.Add(Tensor{Name: name, DType: info.DType, Shape: info.Shape, Data: d}); err != nil {
				t.Fatalf("re-adding %q: %v", name, err)
			}
		}
		if !reencode {
			return
		}
		for k, v := range file.Metadata() {
			w.SetMetadata(k, v)
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("re-encoded file rejected: %v", err)
		}
		if !slices.Equal(again.Names(), file.Names()) {
			t.Fatalf("names changed: %v -> %v", file.Names(), again.Names())
		}
		for _, name := range file.Names() {
			a, _ := file.Tensor(name)
			b, _ := again.Tensor(name)
			da, _ := file.Data(name)
			db, _ := again.Data(name)
			if a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || !bytes.Equal(da, db) {
				t.Fatalf("%q changed on re-encoding", name)
			}
		}
		m1, m2 := file.Metadata(), again.Metadata()
		if len(m1) != len(m2) {
			t.Fatalf("metadata changed: %v -> %v", m1, m2)
		}
		for k, v := range m1 {
			if m2[k] != v {
				t.Fatalf("metadata[%q] changed: %q -> %q", k, v, m2[k])
			}
		}
	})
}
