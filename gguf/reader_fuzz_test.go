package gguf

import (
	"bytes"
	"reflect"
	"testing"

	"gemmavk/kernels/quant"
)

// fuzzSeeds are small valid files made by the Writer.
func fuzzSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{smallFile(t)}

	w := NewWriter()
	w.SetAlignment(64)
	for _, kv := range allValues {
		must(t, w.Add(kv.key, kv.v))
	}
	must(t, w.AddTensor("q", quant.Q4_K, []uint64{256, 1}, pattern(144, 3)))
	must(t, w.AddTensor("h", quant.F16, []uint64{2, 2, 1, 1}, pattern(8, 4)))
	seeds = append(seeds, encode(t, w))

	w = NewWriter()
	must(t, w.Add("only.key", []int32{1, 2, 3}))
	seeds = append(seeds, encode(t, w))

	w = NewWriter()
	must(t, w.AddTensor("z", quant.Q8_0, []uint64{32, 0}, nil))
	seeds = append(seeds, encode(t, w))
	return seeds
}

// FuzzParse checks that Parse never panics and that everything a successful
// parse exposes is usable: every accessor on every key, TensorData of every
// tensor, and a re-encode through the Writer that parses back identically.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			if g != nil {
				t.Fatalf("Parse returned a File with error %v", err)
			}
			return
		}
		for _, kv := range g.KVs {
			if _, ok := g.Get(kv.Key); !ok {
				t.Fatalf("Get(%q) missed", kv.Key)
			}
			g.String(kv.Key)
			g.Uint(kv.Key)
			g.Int(kv.Key)
			g.Float(kv.Key)
			g.Bool(kv.Key)
			g.Strings(kv.Key)
			g.Float32s(kv.Key)
			g.Int32s(kv.Key)
			_ = kv.Value.String()
		}
		for _, ti := range g.Tensors {
			if _, ok := g.Tensor(ti.Name); !ok {
				t.Fatalf("Tensor(%q) missed", ti.Name)
			}
			b, err := g.TensorData(ti.Name)
			if err != nil || uint64(len(b)) != ti.Size {
				t.Fatalf("TensorData(%q): %d bytes, want %d: %v", ti.Name, len(b), ti.Size, err)
			}
			_ = ti.Elements()
		}
		if len(data) > 1<<12 {
			return // keep the re-encode cheap: padding grows with the alignment
		}
		w := NewWriter()
		for _, kv := range g.KVs {
			if err := w.AddTyped(kv.Key, kv.Value); err != nil {
				t.Fatalf("re-add %q: %v", kv.Key, err)
			}
		}
		for _, ti := range g.Tensors {
			b, _ := g.TensorData(ti.Name)
			if err := w.AddTensor(ti.Name, ti.Type, ti.Dims, b); err != nil {
				t.Fatalf("re-add tensor %q: %v", ti.Name, err)
			}
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		h, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(kvBits(h.KVs), kvBits(g.KVs)) || h.Alignment != g.Alignment || len(h.Tensors) != len(g.Tensors) {
			t.Fatalf("re-encoded file differs")
		}
		for i, ti := range g.Tensors {
			a, _ := g.TensorData(ti.Name)
			b, _ := h.TensorData(ti.Name)
			if h.Tensors[i].Name != ti.Name || !bytes.Equal(a, b) {
				t.Fatalf("re-encoded tensor %d differs", i)
			}
		}
	})
}

// kvBits re-encodes each value so that NaNs compare by bit pattern.
func kvBits(kvs []KV) [][]byte {
	out := make([][]byte, len(kvs))
	for i, kv := range kvs {
		out[i] = appendValue([]byte(kv.Key), kv.Value)
	}
	return out
}
