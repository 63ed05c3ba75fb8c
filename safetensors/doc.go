// Package safetensors reads and writes the safetensors tensor file format
// used by Hugging Face checkpoints.
//
// A file is an 8-byte little-endian unsigned header length N, then N bytes
// of JSON, then the data buffer:
//
//	{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//	 ...,
//	 "__metadata__": {"key": "value"}}
//
// data_offsets are byte offsets relative to the start of the data buffer,
// which begins at byte 8+N. All values are little-endian.
//
// Open maps a file read-only into memory (syscall.Mmap on Unix systems, a
// plain read elsewhere) and Parse reads a file already in memory. Both check
// the header fully before returning: header size against the file size and
// a 100 MB cap, JSON syntax and duplicate keys, known dtypes, shapes whose
// element count times the dtype size equals the byte range (without integer
// overflow), offsets inside the data buffer and tensors that do not overlap.
// A malformed file yields an error, never a panic, and no allocation is
// sized from a length read out of the file before it was checked against
// the file size.
//
// A Set presents one or several files as a single collection of tensors:
// a lone model.safetensors, or a checkpoint sharded across several files
// and described by model.safetensors.index.json (see OpenDir and OpenIndex).
//
// Float32s and Int64s convert raw tensor bytes to Go slices; Writer and
// WriteFile produce files, mostly for tests and tools.
package safetensors
