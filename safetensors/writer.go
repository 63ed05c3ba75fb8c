package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
)

// Tensor is one tensor to write: its name, dtype, shape and little-endian
// bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// F32Tensor builds an F32 Tensor from values (copied).
func F32Tensor(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: F32, Shape: slices.Clone(shape), Data: b}
}

// I64Tensor builds an I64 Tensor from values (copied).
func I64Tensor(name string, shape []int, v []int64) Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return Tensor{Name: name, DType: I64, Shape: slices.Clone(shape), Data: b}
}

// Writer collects tensors and metadata and writes them as one safetensors
// file. Header keys are sorted, tensor data follows in name order without
// gaps, and the header is padded with spaces so that the data buffer starts
// at a multiple of 8 bytes. The zero Writer is ready to use. Tensor data is
// not copied: it must not change until WriteTo returns.
type Writer struct {
	tensors  []Tensor
	names    map[string]bool
	metadata map[string]string
}

// Add queues a tensor, checking that its name is new and non-empty, its
// dtype known and its data length equal to the shape's byte size.
func (w *Writer) Add(t Tensor) error {
	if t.Name == "" {
		return errors.New("safetensors: writer: empty tensor name")
	}
	if t.Name == metadataKey {
		return fmt.Errorf("safetensors: writer: tensor name %q is reserved", metadataKey)
	}
	if w.names[t.Name] {
		return fmt.Errorf("safetensors: writer: duplicate tensor %q", t.Name)
	}
	size, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return fmt.Errorf("safetensors: writer: tensor %q: %w", t.Name, err)
	}
	if int64(len(t.Data)) != size {
		return fmt.Errorf("safetensors: writer: tensor %q: %s%v needs %d bytes, got %d", t.Name, t.DType, t.Shape, size, len(t.Data))
	}
	if w.names == nil {
		w.names = map[string]bool{}
	}
	w.names[t.Name] = true
	t.Shape = slices.Clone(t.Shape)
	w.tensors = append(w.tensors, t)
	return nil
}

// SetMetadata sets one __metadata__ entry.
func (w *Writer) SetMetadata(key, value string) {
	if w.metadata == nil {
		w.metadata = map[string]string{}
	}
	w.metadata[key] = value
}

// writerEntry is a tensor's header record, fields in the usual order.
type writerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// header builds the padded header JSON and returns it with the tensors in
// data order.
func (w *Writer) header() ([]byte, []Tensor, error) {
	ts := slices.Clone(w.tensors)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	entries := make(map[string]any, len(ts)+1)
	var off int64
	for _, t := range ts {
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		n := int64(len(t.Data))
		entries[t.Name] = writerEntry{DType: t.DType, Shape: shape, DataOffsets: [2]int64{off, off + n}}
		off += n
	}
	if len(w.metadata) > 0 {
		entries[metadataKey] = w.metadata
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(entries); err != nil { // maps encode with sorted keys
		return nil, nil, fmt.Errorf("safetensors: writer: encoding header: %w", err)
	}
	hdr := bytes.TrimRight(buf.Bytes(), "\n")
	for (8+len(hdr))%8 != 0 {
		hdr = append(hdr, ' ')
	}
	if len(hdr) > MaxHeaderSize {
		return nil, nil, fmt.Errorf("safetensors: writer: header of %d bytes exceeds the %d-byte limit", len(hdr), MaxHeaderSize)
	}
	return hdr, ts, nil
}

// WriteTo writes the file to out and returns the number of bytes written.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	hdr, ts, err := w.header()
	if err != nil {
		return 0, err
	}
	var total int64
	put := func(b []byte) error {
		n, err := out.Write(b)
		total += int64(n)
		if err != nil {
			return fmt.Errorf("safetensors: writer: %w", err)
		}
		return nil
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	if err := put(lenBuf[:]); err != nil {
		return total, err
	}
	if err := put(hdr); err != nil {
		return total, err
	}
	for _, t := range ts {
		if err := put(t.Data); err != nil {
			return total, err
		}
	}
	return total, nil
}

// WriteFile writes tensors and metadata (which may be nil) as a safetensors
// file at path, replacing any existing file. On failure the partial file is
// removed.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) (err error) {
	var w Writer
	for _, t := range tensors {
		if err := w.Add(t); err != nil {
			return err
		}
	}
	for k, v := range metadata {
		w.SetMetadata(k, v)
	}
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer func() {
		if cerr := fh.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("safetensors: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	bw := bufio.NewWriterSize(fh, 1<<20)
	if _, err := w.WriteTo(bw); err != nil {
		return err // write errors from *os.File name the path
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: writer: %w", err)
	}
	return nil
}
