package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"

	"gemmavk/internal/mapfile"
)

// MaxHeaderSize is the largest header (the JSON part) Parse accepts, in
// bytes; the reference implementation uses the same limit.
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key holding string metadata.
const metadataKey = "__metadata__"

// File is one safetensors file, either mapped from disk by Open or parsed
// from memory by Parse. Its methods may be called from several goroutines
// at once, except Close.
type File struct {
	path      string
	data      []byte // the whole file
	dataStart int64  // 8 + header length
	tensors   map[string]TensorInfo
	names     []string
	metadata  map[string]string
	unmap     func() error
	closed    bool
}

// Open maps the file at path read-only into memory and checks its header.
// Slices returned by Data point into the mapping: they must not be written
// to and are valid until Close. If another process truncates the file while
// it is mapped, reading the lost pages faults.
func Open(path string) (*File, error) {
	f, unmap, err := mapfile.Load(path, parse)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	f.path = path
	f.unmap = unmap
	return f, nil
}

// Parse checks the header of a safetensors file held in data and returns
// it. The File keeps data (no copy is made): Data returns sub-slices of it.
func Parse(data []byte) (*File, error) {
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// Close releases the file's memory mapping. Data fails afterwards, and
// slices it returned earlier must no longer be used. Close is idempotent.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.data = nil
	if f.unmap != nil {
		if err := f.unmap(); err != nil {
			return fmt.Errorf("safetensors: %s: unmapping: %w", f.path, err)
		}
	}
	return nil
}

// Path returns the path the file was opened from ("" for Parse).
func (f *File) Path() string { return f.path }

// DataStart returns the position in the file of the data buffer, to which
// every TensorInfo.Offset is relative.
func (f *File) DataStart() int64 { return f.dataStart }

// Names returns the tensor names in sorted order. The slice is a copy.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Tensor returns the description of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	info, ok := f.tensors[name]
	if !ok {
		return TensorInfo{}, false
	}
	info.Shape = slices.Clone(info.Shape)
	return info, true
}

// Data returns the exact bytes of the named tensor (little-endian). The
// slice aliases the file's memory: do not modify it, and do not use it
// after Close. Its capacity equals its length.
func (f *File) Data(name string) ([]byte, error) {
	info, ok := f.tensors[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: %s: no tensor %q", f.label(), name)
	}
	if f.closed {
		return nil, fmt.Errorf("safetensors: %s: reading tensor %q after Close", f.label(), name)
	}
	start := f.dataStart + info.Offset
	end := start + info.Size
	return f.data[start:end:end], nil
}

// Metadata returns a copy of the header's __metadata__ map (empty, not nil,
// when the file has none).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.metadata))
	for k, v := range f.metadata {
		m[k] = v
	}
	return m
}

func (f *File) label() string {
	if f.path == "" {
		return "<memory>"
	}
	return f.path
}

// headerEntry is one tensor's record as it appears in the header. Pointers
// tell a missing field from a zero one.
type headerEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// parse checks data as a whole safetensors file. Errors carry no package
// prefix; callers add it.
func parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("file is %d bytes, too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d exceeds the %d bytes that follow the length field (file truncated?)", n, len(data)-8)
	}
	hdr := data[8 : 8+n]
	buf := data[8+n:]
	f := &File{
		data:      data,
		dataStart: int64(8 + n),
		tensors:   map[string]TensorInfo{},
		metadata:  map[string]string{},
	}
	if err := f.parseHeader(hdr, int64(len(buf))); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) parseHeader(hdr []byte, bufLen int64) error {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("header: invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("header: JSON is not an object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("header: invalid JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok { // cannot happen inside an object, but be safe
			return errors.New("header: invalid JSON: object key is not a string")
		}
		if seen[key] {
			return fmt.Errorf("header: duplicate key %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("header: invalid JSON at key %q: %w", key, err)
		}
		if key == metadataKey {
			if err := f.parseMetadata(raw); err != nil {
				return err
			}
			continue
		}
		info, err := parseEntry(key, raw, bufLen)
		if err != nil {
			return err
		}
		f.tensors[key] = info
		f.names = append(f.names, key)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fmt.Errorf("header: invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("header: data after the JSON object")
	}
	sort.Strings(f.names)
	return f.checkOverlap()
}

func (f *File) parseMetadata(raw json.RawMessage) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("header: %s is not an object of strings: %w", metadataKey, err)
	}
	for k, v := range m {
		var s string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return fmt.Errorf("header: %s[%q] is not a string: %s", metadataKey, k, truncate(v))
		}
		f.metadata[k] = s
	}
	return nil
}

func parseEntry(name string, raw json.RawMessage, bufLen int64) (TensorInfo, error) {
	var e headerEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: bad header entry: %w", name, err)
	}
	switch {
	case e.DType == nil:
		return TensorInfo{}, fmt.Errorf("tensor %q: missing dtype", name)
	case e.Shape == nil:
		return TensorInfo{}, fmt.Errorf("tensor %q: missing shape", name)
	case e.DataOffsets == nil:
		return TensorInfo{}, fmt.Errorf("tensor %q: missing data_offsets", name)
	}
	dt := DType(*e.DType)
	if !dt.Known() {
		return TensorInfo{}, fmt.Errorf("tensor %q: unknown dtype %q", name, *e.DType)
	}
	shape := make([]int, len(*e.Shape))
	for i, d := range *e.Shape {
		if d < 0 || d > math.MaxInt {
			return TensorInfo{}, fmt.Errorf("tensor %q: shape dimension %d is %d", name, i, d)
		}
		shape[i] = int(d)
	}
	offs := *e.DataOffsets
	if len(offs) != 2 {
		return TensorInfo{}, fmt.Errorf("tensor %q: data_offsets has %d entries, want 2", name, len(offs))
	}
	begin, end := offs[0], offs[1]
	if begin < 0 || begin > end {
		return TensorInfo{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] are not an ascending pair", name, begin, end)
	}
	if end > bufLen {
		return TensorInfo{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] run past the %d-byte data buffer (file truncated?)", name, begin, end, bufLen)
	}
	size, err := byteSize(dt, shape)
	if err != nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	if size != end-begin {
		return TensorInfo{}, fmt.Errorf("tensor %q: %s%v needs %d bytes but data_offsets [%d, %d] span %d", name, dt, shape, size, begin, end, end-begin)
	}
	return TensorInfo{Name: name, DType: dt, Shape: shape, Offset: begin, Size: size}, nil
}

// checkOverlap rejects files where two non-empty tensors share bytes.
func (f *File) checkOverlap() error {
	infos := make([]TensorInfo, 0, len(f.tensors))
	for _, name := range f.names {
		if t := f.tensors[name]; t.Size > 0 {
			infos = append(infos, t)
		}
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Offset < infos[j].Offset })
	for i := 1; i < len(infos); i++ {
		a, b := infos[i-1], infos[i]
		if b.Offset < a.Offset+a.Size {
			return fmt.Errorf("tensors %q [%d, %d] and %q [%d, %d] overlap",
				a.Name, a.Offset, a.Offset+a.Size, b.Name, b.Offset, b.Offset+b.Size)
		}
	}
	return nil
}

// truncate shortens raw JSON for error messages.
func truncate(b []byte) string {
	const max = 40
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
