package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"gemmavk/kernels/quant"
)

// Writer assembles a GGUF file in memory order: metadata pairs and tensors
// are written in the order they were added. The zero Writer is ready to use
// and equivalent to NewWriter().
type Writer struct {
	kvs       []KV
	keys      map[string]bool
	tensors   []writerTensor
	names     map[string]bool
	alignment uint64
	alignSet  bool
}

type writerTensor struct {
	info TensorInfo
	data []byte
}

// NewWriter returns an empty Writer with the default alignment of 32.
func NewWriter() *Writer {
	return &Writer{keys: map[string]bool{}, names: map[string]bool{}}
}

// SetAlignment sets the data alignment. A Writer whose alignment was set
// explicitly writes it as general.alignment (UINT32, or UINT64 if it does not
// fit), even when it equals the default. The value must be a non-zero power of
// two; WriteTo reports an invalid one.
func (w *Writer) SetAlignment(a uint64) {
	w.alignment = a
	w.alignSet = true
}

// Add appends a metadata pair, choosing the GGUF type from v's Go type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64, float64, a slice of one of those (an ARRAY), or a Value. It fails on
// other Go types (including int and uint), an empty key or a key already
// added.
func (w *Writer) Add(key string, v any) error {
	val, err := valueOf(v)
	if err != nil {
		return fmt.Errorf("gguf: add %q: %w", key, err)
	}
	return w.AddTyped(key, val)
}

// AddTyped appends a metadata pair with an explicit type. v.V must have the
// Go type that v.Type (and v.ArrayType for arrays) calls for, as listed on
// Value. It fails on an empty or duplicate key.
func (w *Writer) AddTyped(key string, v Value) error {
	if key == "" {
		return errors.New("gguf: add: empty key")
	}
	if w.keys[key] {
		return fmt.Errorf("gguf: add %q: duplicate key", key)
	}
	if err := checkValue(v); err != nil {
		return fmt.Errorf("gguf: add %q: %w", key, err)
	}
	if v.Type != TypeArray {
		v.ArrayType = 0
	}
	if w.keys == nil {
		w.keys = map[string]bool{}
	}
	w.keys[key] = true
	w.kvs = append(w.kvs, KV{Key: key, Value: v})
	return nil
}

// AddTensor appends a tensor of type t whose extents, in ggml ne order
// (dims[0] fastest), are dims. len(data) must equal the size the type and
// shape imply. data is referenced, not copied, and must not change until the
// file has been written.
func (w *Writer) AddTensor(name string, t quant.Type, dims []uint64, data []byte) error {
	if err := checkTensorName(name); err != nil {
		return fmt.Errorf("gguf: add tensor %q: %w", name, err)
	}
	if w.names[name] {
		return fmt.Errorf("gguf: add tensor %q: duplicate tensor name", name)
	}
	size, err := tensorSize(t, dims)
	if err != nil {
		return fmt.Errorf("gguf: add tensor %q: %w", name, err)
	}
	if uint64(len(data)) != size {
		return fmt.Errorf("gguf: add tensor %q: data is %d bytes, %s %v needs %d", name, len(data), t, dims, size)
	}
	if w.names == nil {
		w.names = map[string]bool{}
	}
	w.names[name] = true
	info := TensorInfo{Name: name, Dims: append([]uint64(nil), dims...), Type: t, Size: size}
	w.tensors = append(w.tensors, writerTensor{info: info, data: data})
	return nil
}

// resolveAlignment returns the alignment to write and the metadata list,
// with general.alignment appended when it was set explicitly and not added
// as a key.
func (w *Writer) resolveAlignment() (uint64, []KV, error) {
	kvs := w.kvs
	var added *Value
	for i := range kvs {
		if kvs[i].Key == AlignmentKey {
			added = &kvs[i].Value
		}
	}
	var addedVal uint64
	if added != nil {
		a, ok := asUint(*added)
		if !ok || !validAlignment(a) {
			return 0, nil, fmt.Errorf("gguf: key %q = %s is not a non-zero power of two", AlignmentKey, added)
		}
		addedVal = a
	}
	switch {
	case w.alignSet:
		if !validAlignment(w.alignment) {
			return 0, nil, fmt.Errorf("gguf: alignment %d is not a non-zero power of two", w.alignment)
		}
		if added != nil {
			if addedVal != w.alignment {
				return 0, nil, fmt.Errorf("gguf: SetAlignment(%d) conflicts with key %q = %d", w.alignment, AlignmentKey, addedVal)
			}
			return w.alignment, kvs, nil
		}
		var v Value
		if w.alignment <= math.MaxUint32 {
			v = Value{Type: TypeUint32, V: uint32(w.alignment)}
		} else {
			v = Value{Type: TypeUint64, V: w.alignment}
		}
		kvs = append(kvs[:len(kvs):len(kvs)], KV{Key: AlignmentKey, Value: v})
		return w.alignment, kvs, nil
	case added != nil:
		return addedVal, kvs, nil
	}
	return DefaultAlignment, kvs, nil
}

// header encodes everything before the tensor data except the padding to
// the data start, and returns the tensors with their assigned offsets.
func (w *Writer) header() ([]byte, []TensorInfo, uint64, error) {
	align, kvs, err := w.resolveAlignment()
	if err != nil {
		return nil, nil, 0, err
	}
	le := binary.LittleEndian
	b := []byte(Magic)
	b = le.AppendUint32(b, Version)
	b = le.AppendUint64(b, uint64(len(w.tensors)))
	b = le.AppendUint64(b, uint64(len(kvs)))
	for _, kv := range kvs {
		b = le.AppendUint64(b, uint64(len(kv.Key)))
		b = append(b, kv.Key...)
		b = le.AppendUint32(b, uint32(kv.Value.Type))
		b = appendValue(b, kv.Value)
	}
	infos := make([]TensorInfo, len(w.tensors))
	var off uint64
	for i, t := range w.tensors {
		info := t.info
		info.Offset = off
		infos[i] = info
		next, ok := alignUp(off+info.Size, align)
		if !ok || off+info.Size < off {
			return nil, nil, 0, fmt.Errorf("gguf: tensor %q: data offsets overflow", info.Name)
		}
		off = next
		b = le.AppendUint64(b, uint64(len(info.Name)))
		b = append(b, info.Name...)
		b = le.AppendUint32(b, uint32(len(info.Dims)))
		for _, d := range info.Dims {
			b = le.AppendUint64(b, d)
		}
		b = le.AppendUint32(b, uint32(info.Type))
		b = le.AppendUint64(b, info.Offset)
	}
	return b, infos, align, nil
}

// countingWriter counts bytes written and remembers the first error.
type countingWriter struct {
	w    io.Writer
	n    int64
	err  error
	zero []byte // padding source
}

func (c *countingWriter) write(p []byte) {
	if c.err != nil || len(p) == 0 {
		return
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	c.err = err
}

// pad writes n zero bytes.
func (c *countingWriter) pad(n uint64) {
	for n > 0 && c.err == nil {
		if c.zero == nil {
			c.zero = make([]byte, 4096)
		}
		k := min(n, uint64(len(c.zero)))
		c.write(c.zero[:k])
		n -= k
	}
}

// WriteTo writes the file to out as GGUF version 3: the header, metadata,
// tensor infos whose offsets are the running sum of the tensor sizes rounded
// up to the alignment, zero padding to the data start, then each tensor's
// data followed by zero padding to the alignment. It returns the number of
// bytes written.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	head, infos, align, err := w.header()
	if err != nil {
		return 0, err
	}
	start, ok := alignUp(uint64(len(head)), align)
	if !ok {
		return 0, fmt.Errorf("gguf: data start overflows with alignment %d", align)
	}
	cw := &countingWriter{w: out}
	cw.write(head)
	if len(w.tensors) > 0 {
		cw.pad(start - uint64(len(head)))
	}
	for i, t := range w.tensors {
		cw.write(t.data)
		end, _ := alignUp(infos[i].Size, align) // checked in header
		cw.pad(end - infos[i].Size)
	}
	if cw.err != nil {
		return cw.n, fmt.Errorf("gguf: write: %w", cw.err)
	}
	return cw.n, nil
}

// WriteFile writes the file to path, replacing any existing file. On error
// the partial file is removed.
func (w *Writer) WriteFile(path string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("gguf: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.WriteTo(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	return nil
}
