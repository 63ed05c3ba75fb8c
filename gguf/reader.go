package gguf

import (
	"fmt"
	"math"

	"gemmavk/internal/mapfile"
	"gemmavk/kernels/quant"
)

// Magic is the four-byte signature every GGUF file starts with.
const Magic = "GGUF"

// Version is the GGUF version this package writes. Versions 2 and 3 are read.
const Version = 3

// Smallest encodings of a KV pair (1-byte key, UINT8 value) and of a tensor
// info (1-byte name, one dim); they bound the header counts.
const (
	minKVBytes     = 8 + 1 + 4 + 1
	minTensorBytes = 8 + 1 + 4 + 8 + 4 + 8
)

// File is a parsed GGUF file. Its metadata values and tensor infos are
// copies; TensorData returns slices of the underlying image. A File is safe
// for concurrent readers; Close must not race with them.
type File struct {
	// Version is the format version read from the header (2 or 3).
	Version uint32
	// Alignment is the data alignment: the value of general.alignment
	// (any unsigned, or non-negative signed, integer type; a non-zero power
	// of two), or DefaultAlignment when the key is absent.
	Alignment uint64
	// DataOffset is the absolute file offset of the tensor data blob: the
	// end of the tensor infos rounded up to Alignment.
	DataOffset uint64
	// KVs holds the metadata pairs in file order.
	KVs []KV
	// Tensors holds the tensor infos in file order.
	Tensors []TensorInfo

	data        []byte
	kvIndex     map[string]int
	tensorIndex map[string]int
	unmap       func() error
	closed      bool
}

// Open maps the file at path read-only and parses it. The mapping stays
// alive until Close; slices from TensorData are invalid afterwards. The
// file must not be truncated by anyone while it is open.
func Open(path string) (*File, error) {
	f, unmap, err := mapfile.Load(path, parse)
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	f.unmap = unmap
	return f, nil
}

// Parse validates and decodes the GGUF image in data. The returned File
// keeps data for TensorData, so data must not be modified while it is used.
func Parse(data []byte) (*File, error) {
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	return f, nil
}

func parse(data []byte) (*File, error) {
	c := &cursor{b: data}
	if len(data) < len(Magic) {
		return nil, errf(ErrTruncated, "file of %d bytes is too short to hold the GGUF magic", len(data))
	}
	magic, _ := c.take(4)
	if string(magic) != Magic {
		return nil, errf(ErrNotGGUF, "not a GGUF file: magic %q, want %q", magic, Magic)
	}
	version, err := c.u32()
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	switch {
	case version == 0:
		return nil, errf(ErrVersion, "invalid version 0")
	case version&0xFFFF == 0:
		return nil, errf(ErrVersion, "version field 0x%08x: byte-swapped (big-endian) file not supported", version)
	case version == 1:
		return nil, errf(ErrVersion, "version 1 is no longer supported (it used 32-bit counts)")
	case version > Version:
		return nil, errf(ErrVersion, "unsupported version %d (this reader handles 2 and 3)", version)
	}
	f := &File{Version: version, data: data}

	tensorCount, err := c.count("tensor count", 0)
	if err != nil {
		return nil, err
	}
	kvCount, err := c.count("kv count", minKVBytes)
	if err != nil {
		return nil, err
	}
	if tensorCount > (c.rem()-kvCount*minKVBytes)/minTensorBytes {
		return nil, errf(ErrTruncated, "tensor count %d cannot fit in the %d remaining bytes (with %d kv pairs)",
			tensorCount, c.rem(), kvCount)
	}

	if err := f.readKVs(c, kvCount); err != nil {
		return nil, err
	}
	if err := f.readAlignment(); err != nil {
		return nil, err
	}
	if err := f.readTensorInfos(c, tensorCount); err != nil {
		return nil, err
	}
	start, ok := alignUp(c.off, f.Alignment)
	if !ok {
		return nil, errf(ErrInvalid, "data start overflows: end of tensor infos %d aligned to %d", c.off, f.Alignment)
	}
	f.DataOffset = start
	for _, t := range f.Tensors {
		if _, _, err := f.span(t); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *File) readKVs(c *cursor, n uint64) error {
	f.KVs = make([]KV, 0, n)
	f.kvIndex = make(map[string]int, n)
	for i := uint64(0); i < n; i++ {
		at := c.off
		key, err := c.str()
		if err != nil {
			return fmt.Errorf("kv #%d: key: %w", i, err)
		}
		if key == "" {
			return errf(ErrInvalid, "kv #%d: empty key at offset %d", i, at)
		}
		if _, dup := f.kvIndex[key]; dup {
			return errf(ErrInvalid, "kv #%d: duplicate key %q at offset %d", i, key, at)
		}
		t, err := c.valueType()
		if err != nil {
			return fmt.Errorf("kv %q: %w", key, err)
		}
		v, err := c.value(t)
		if err != nil {
			return fmt.Errorf("kv %q: %w", key, err)
		}
		f.kvIndex[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{Key: key, Value: v})
	}
	return nil
}

func (f *File) readAlignment() error {
	f.Alignment = DefaultAlignment
	v, ok := f.Get(AlignmentKey)
	if !ok {
		return nil
	}
	a, ok := asUint(v)
	if !ok || v.Type == TypeArray {
		return errf(ErrInvalid, "kv %q: has type %s and value %s, want a non-negative integer", AlignmentKey, typeName(v), v)
	}
	if !validAlignment(a) {
		return errf(ErrInvalid, "kv %q: alignment %d is not a non-zero power of two", AlignmentKey, a)
	}
	f.Alignment = a
	return nil
}

func (f *File) readTensorInfos(c *cursor, n uint64) error {
	f.Tensors = make([]TensorInfo, 0, n)
	f.tensorIndex = make(map[string]int, n)
	for i := uint64(0); i < n; i++ {
		at := c.off
		name, err := c.str()
		if err != nil {
			return fmt.Errorf("tensor #%d: name: %w", i, err)
		}
		if err := checkTensorName(name); err != nil {
			return fmt.Errorf("tensor #%d %q at offset %d: %w", i, name, at, err)
		}
		if _, dup := f.tensorIndex[name]; dup {
			return errf(ErrInvalid, "tensor #%d: duplicate tensor name %q at offset %d", i, name, at)
		}
		t, err := readTensorInfo(c, name, f.Alignment)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		f.tensorIndex[name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	return nil
}

// readTensorInfo reads the part of a tensor-info record after its name.
func readTensorInfo(c *cursor, name string, alignment uint64) (TensorInfo, error) {
	nd, err := c.u32()
	if err != nil {
		return TensorInfo{}, fmt.Errorf("n_dims: %w", err)
	}
	if nd < 1 || nd > MaxDims {
		return TensorInfo{}, errf(ErrInvalid, "n_dims %d out of range 1..%d", nd, MaxDims)
	}
	dims := make([]uint64, nd)
	for j := range dims {
		if dims[j], err = c.u64(); err != nil {
			return TensorInfo{}, fmt.Errorf("ne[%d]: %w", j, err)
		}
	}
	tt, err := c.u32()
	if err != nil {
		return TensorInfo{}, fmt.Errorf("type: %w", err)
	}
	off, err := c.u64()
	if err != nil {
		return TensorInfo{}, fmt.Errorf("offset: %w", err)
	}
	size, err := tensorSize(quant.Type(tt), dims)
	if err != nil {
		return TensorInfo{}, err
	}
	if off%alignment != 0 {
		return TensorInfo{}, errf(ErrInvalid, "offset %d not a multiple of alignment %d", off, alignment)
	}
	return TensorInfo{Name: name, Dims: dims, Type: quant.Type(tt), Offset: off, Size: size}, nil
}

// span returns the absolute [start, end) of a tensor's data, checked to lie
// inside the image.
func (f *File) span(t TensorInfo) (uint64, uint64, error) {
	start := f.DataOffset + t.Offset
	end := start + t.Size
	if start < f.DataOffset || end < start || end > uint64(len(f.data)) {
		return 0, 0, errf(ErrTruncated, "tensor %q: offset %d size %d (data start %d) extends beyond the end of the file (%d bytes)",
			t.Name, t.Offset, t.Size, f.DataOffset, len(f.data))
	}
	return start, end, nil
}

// Close releases the file mapping, if any. Slices returned by TensorData
// must not be used afterwards. Calling Close more than once is harmless.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.data = nil
	if f.unmap != nil {
		u := f.unmap
		f.unmap = nil
		if err := u(); err != nil {
			return fmt.Errorf("gguf: close: %w", err)
		}
	}
	return nil
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	if i, ok := f.tensorIndex[name]; ok && i < len(f.Tensors) && f.Tensors[i].Name == name {
		return f.Tensors[i], true
	}
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return TensorInfo{}, false
}

// TensorData returns the named tensor's bytes: exactly Size bytes of the
// image (no copy, capacity limited to the tensor). It fails if the tensor is
// absent or the file is closed.
func (f *File) TensorData(name string) ([]byte, error) {
	if f.closed {
		return nil, fmt.Errorf("gguf: tensor %q: file is closed", name)
	}
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf: no tensor named %q", name)
	}
	start, end, err := f.span(t)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	if end-start > math.MaxInt {
		return nil, fmt.Errorf("gguf: tensor %q: size %d too large", name, t.Size)
	}
	return f.data[start:end:end], nil
}
