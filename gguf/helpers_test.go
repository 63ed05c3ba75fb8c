package gguf

import (
	"bytes"
	"encoding/binary"
	"testing"

	"gemmavk/kernels/quant"
)

// rawFile builds GGUF byte images field by field, for inputs the Writer
// refuses to produce.
type rawFile struct{ b []byte }

func (r *rawFile) u8(v uint8) *rawFile   { r.b = append(r.b, v); return r }
func (r *rawFile) u32(v uint32) *rawFile { r.b = binary.LittleEndian.AppendUint32(r.b, v); return r }
func (r *rawFile) u64(v uint64) *rawFile { r.b = binary.LittleEndian.AppendUint64(r.b, v); return r }
func (r *rawFile) raw(p ...byte) *rawFile {
	r.b = append(r.b, p...)
	return r
}

func (r *rawFile) str(s string) *rawFile {
	r.u64(uint64(len(s)))
	r.b = append(r.b, s...)
	return r
}

// kv starts a pair: key and value type; the caller appends the value.
func (r *rawFile) kv(key string, t ValueType) *rawFile { return r.str(key).u32(uint32(t)) }

// tensor appends one tensor-info record.
func (r *rawFile) tensor(name string, dims []uint64, typ uint32, offset uint64) *rawFile {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(typ).u64(offset)
}

// padTo zero-pads to a multiple of a.
func (r *rawFile) padTo(a int) *rawFile {
	for len(r.b)%a != 0 {
		r.b = append(r.b, 0)
	}
	return r
}

// zeros appends n zero bytes.
func (r *rawFile) zeros(n int) *rawFile {
	r.b = append(r.b, make([]byte, n)...)
	return r
}

// header starts an image with the magic, a version and the two counts.
func header(version uint32, tensors, kvs uint64) *rawFile {
	r := &rawFile{b: []byte("GGUF")}
	return r.u32(version).u64(tensors).u64(kvs)
}

// oneTensor is a complete image holding a single tensor info (no KVs),
// padding to 32 and dataLen data bytes.
func oneTensor(name string, dims []uint64, typ uint32, offset uint64, dataLen int) []byte {
	r := header(3, 1, 0).tensor(name, dims, typ, offset).padTo(32)
	return r.zeros(dataLen).b
}

// pattern returns n deterministic pseudo-random bytes.
func pattern(n int, seed uint32) []byte {
	out := make([]byte, n)
	x := seed*2654435761 + 1
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = byte(x)
	}
	return out
}

// sizeOf is the byte size of a tensor, for building test data.
func sizeOf(t testing.TB, typ quant.Type, dims []uint64) int {
	t.Helper()
	n, err := tensorSize(typ, dims)
	if err != nil {
		t.Fatalf("tensorSize(%s, %v): %v", typ, dims, err)
	}
	return int(n)
}

// encode writes w to memory, failing the test on error.
func encode(t testing.TB, w *Writer) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.Bytes()
}

// smallFile is a small valid image whose last tensor ends exactly at the end
// of the file, so that every proper prefix is invalid.
func smallFile(t testing.TB) []byte {
	t.Helper()
	w := NewWriter()
	must(t, w.Add("general.architecture", "gemma3"))
	must(t, w.Add("gemma3.block_count", uint32(2)))
	must(t, w.Add("tokenizer.ggml.tokens", []string{"<pad>", "a", "b"}))
	must(t, w.Add("tokenizer.ggml.scores", []float32{0, -1, -2}))
	must(t, w.Add("flag", true))
	must(t, w.AddTensor("a", quant.BF16, []uint64{3}, pattern(6, 1)))
	must(t, w.AddTensor("b", quant.F32, []uint64{8}, pattern(32, 2)))
	return encode(t, w)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
