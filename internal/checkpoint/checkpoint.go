// Package checkpoint holds what the model loaders (the gemma3 text decoder
// and the siglip vision encoder) share: opening a checkpoint, a directory in
// the HF layout or a GGUF file, reading its tensors in PyTorch order, and
// releasing the files a loaded model keeps mapped.
package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gemmavk/gguf"
	"gemmavk/kernels/quant"
	"gemmavk/safetensors"
)

// Tensor is one tensor as a checkpoint stores it: element type, shape in
// PyTorch order (outermost first) and bytes.
type Tensor struct {
	Type  quant.Type
	Shape []int
	Data  []byte
}

// Open calls dir for a directory (an HF checkpoint) and file for anything
// else (a GGUF file). An error of the stat is returned as is.
func Open[M any](path string, dir, file func(path string) (M, error)) (M, error) {
	st, err := os.Stat(path)
	if err != nil {
		var zero M
		return zero, err
	}
	if st.IsDir() {
		return dir(path)
	}
	return file(path)
}

// OpenHF reads an HF checkpoint directory: config.json, decoded by parse,
// and its safetensors (one file or sharded). The caller closes the set. A
// parse error is prefixed with dir.
func OpenHF[C any](dir string, parse func(raw []byte) (C, error)) (C, *safetensors.Set, error) {
	var zero C
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return zero, nil, err
	}
	cfg, err := parse(raw)
	if err != nil {
		return zero, nil, fmt.Errorf("%s: %w", dir, err)
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return zero, nil, err
	}
	return cfg, set, nil
}

// OpenGGUF opens the GGUF file at path and builds a model from it. On
// success the model owns (and eventually closes) the file; on a failure of
// build the file is closed and the error prefixed with path.
func OpenGGUF[M any](path string, build func(f *gguf.File) (M, error)) (M, error) {
	var zero M
	f, err := gguf.Open(path)
	if err != nil {
		return zero, err
	}
	m, err := build(f)
	if err != nil {
		f.Close()
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// FromSafetensors returns the named tensor of set; ok is false when it is
// absent. Only the float types a model's weights come in (F32, F16, BF16)
// are accepted.
func FromSafetensors(set *safetensors.Set, name string) (t Tensor, ok bool, err error) {
	info, ok := set.Tensor(name)
	if !ok {
		return Tensor{}, false, nil
	}
	var typ quant.Type
	switch info.DType {
	case safetensors.F32:
		typ = quant.F32
	case safetensors.F16:
		typ = quant.F16
	case safetensors.BF16:
		typ = quant.BF16
	default:
		return Tensor{}, false, fmt.Errorf("dtype %s not supported", info.DType)
	}
	data, err := set.Data(name)
	if err != nil {
		return Tensor{}, false, err
	}
	return Tensor{Type: typ, Shape: info.Shape, Data: data}, true, nil
}

// FromGGUF returns the named tensor of f, its dimensions reversed from
// ggml's order (innermost first) into PyTorch's; ok is false when it is
// absent.
func FromGGUF(f *gguf.File, name string) (t Tensor, ok bool, err error) {
	info, ok := f.Tensor(name)
	if !ok {
		return Tensor{}, false, nil
	}
	shape := make([]int, len(info.Dims))
	for i, d := range info.Dims {
		if d > math.MaxInt32 {
			return Tensor{}, false, fmt.Errorf("dimension %d too large", d)
		}
		shape[len(shape)-1-i] = int(d)
	}
	data, err := f.TensorData(name)
	if err != nil {
		return Tensor{}, false, err
	}
	return Tensor{Type: info.Type, Shape: shape, Data: data}, true, nil
}

// LayerName fills a tensor-name pattern's %d with layer i; a name without
// one is returned as is.
func LayerName(pattern string, i int) string {
	if strings.Contains(pattern, "%d") {
		return fmt.Sprintf(pattern, i)
	}
	return pattern
}

// SameShape compares shapes, treating leading 1s as absent ([1, n] == [n]).
func SameShape(a, b []int) bool {
	trim := func(s []int) []int {
		for len(s) > 1 && s[0] == 1 {
			s = s[1:]
		}
		return s
	}
	return slices.Equal(trim(a), trim(b))
}

// Closers are the files a loaded model keeps open (mapped weights).
type Closers []io.Closer

// Close closes every file, joining their errors, and forgets them.
func (c *Closers) Close() error {
	var errs []error
	for _, f := range *c {
		errs = append(errs, f.Close())
	}
	*c = nil
	return errors.Join(errs...)
}

// Walk calls fn for every row of a model's weight table: each global row
// once (as layer 0), then every per-layer row for each layer in turn.
func Walk[S any](global, perLayer []S, layers int, fn func(s S, layer int)) {
	for _, s := range global {
		fn(s, 0)
	}
	for i := range layers {
		for _, s := range perLayer {
			fn(s, i)
		}
	}
}
