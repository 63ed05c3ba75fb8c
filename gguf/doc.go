// Package gguf reads and writes GGUF files, the container llama.cpp and ggml
// use for model weights and their metadata (FORMATS.md §1).
//
// The package owns the container layer only: the header, the typed metadata
// key/value pairs, the tensor-info records, alignment and the location of
// every tensor's bytes. It does not interpret tensor contents (dequantization
// lives in kernels/quant) nor the meaning of particular keys (the model
// loaders decide that). Its only non-standard-library import is
// gemmavk/kernels/quant, for the table of ggml tensor types and their block
// geometry.
//
// Reading: Open maps a file read-only into memory (a plain read on platforms
// without mmap) and Parse validates an in-memory image. Every length, count,
// type id, shape and offset is checked before it is used, so a malformed or
// hostile file yields an error that names the offending key or tensor, never
// a panic or an allocation sized by an unchecked number. Errors can be
// classified with errors.Is against ErrNotGGUF, ErrVersion, ErrTruncated and
// ErrInvalid. Tensor data is returned as sub-slices of the image, so nothing
// is copied.
//
// Writing: Writer collects metadata and tensors in insertion order and emits a
// version 3 file whose tensor offsets are the running sum of the aligned
// tensor sizes, with zero padding, as ggml and gguf-py write it.
package gguf
