package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// Names of the files a Hugging Face checkpoint directory holds.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// maxIndexSize caps the size of an index file read into memory.
const maxIndexSize = 100_000_000

// Set is one or several safetensors files seen as a single collection of
// uniquely named tensors.
type Set struct {
	files []*File
	where map[string]int // tensor name -> index into files
	names []string
}

// OpenDir opens the checkpoint in dir: model.safetensors when present,
// otherwise the shards listed by model.safetensors.index.json.
func OpenDir(dir string) (*Set, error) {
	single := filepath.Join(dir, SingleFileName)
	_, err := os.Stat(single)
	if err == nil {
		return OpenSet(single)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	index := filepath.Join(dir, IndexFileName)
	_, err = os.Stat(index)
	if err == nil {
		return OpenIndex(index)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return nil, fmt.Errorf("safetensors: %s holds neither %s nor %s", dir, SingleFileName, IndexFileName)
}

// OpenSet opens every file in paths and presents their tensors together. A
// tensor name present in two files is an error.
func OpenSet(paths ...string) (*Set, error) {
	if len(paths) == 0 {
		return nil, errors.New("safetensors: OpenSet needs at least one file")
	}
	s := &Set{where: map[string]int{}}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		s.files = append(s.files, f)
		for _, name := range f.names {
			if i, dup := s.where[name]; dup {
				_ = s.Close()
				return nil, fmt.Errorf("safetensors: tensor %q is in both %s and %s", name, s.files[i].path, p)
			}
			s.where[name] = len(s.files) - 1
		}
	}
	s.sortNames()
	return s, nil
}

// indexFile is the JSON layout of model.safetensors.index.json.
type indexFile struct {
	Metadata  json.RawMessage   `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// OpenIndex opens a sharded checkpoint through its index file (the layout
// of model.safetensors.index.json: {"metadata": {...}, "weight_map":
// {"tensor": "shard file name"}}). Shard names are resolved relative to the
// index's directory and must stay inside it. Every shard named must exist
// and hold the tensors the index assigns to it; tensors a shard holds but
// the index does not list are left out of the Set.
func OpenIndex(indexPath string) (*Set, error) {
	raw, err := readSmallFile(indexPath, maxIndexSize)
	if err != nil {
		return nil, fmt.Errorf("safetensors: index: %w", err)
	}
	var idx indexFile
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("safetensors: index %s: %w", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors: index %s: missing or empty weight_map", indexPath)
	}
	var shards []string
	seen := map[string]bool{}
	for tensor, shard := range idx.WeightMap {
		if shard == "" || !filepath.IsLocal(filepath.FromSlash(shard)) {
			return nil, fmt.Errorf("safetensors: index %s: tensor %q maps to %q, not a file name inside the index's directory", indexPath, tensor, shard)
		}
		if !seen[shard] {
			seen[shard] = true
			shards = append(shards, shard)
		}
	}
	sort.Strings(shards)
	dir := filepath.Dir(indexPath)
	s := &Set{where: map[string]int{}}
	fileOf := map[string]int{}
	for _, shard := range shards {
		f, err := Open(filepath.Join(dir, filepath.FromSlash(shard)))
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("safetensors: index %s names shard %q: %w", indexPath, shard, err)
		}
		fileOf[shard] = len(s.files)
		s.files = append(s.files, f)
	}
	for tensor, shard := range idx.WeightMap {
		i := fileOf[shard]
		if _, ok := s.files[i].tensors[tensor]; !ok {
			_ = s.Close()
			return nil, fmt.Errorf("safetensors: index %s maps tensor %q to shard %q, which does not hold it", indexPath, tensor, shard)
		}
		s.where[tensor] = i
	}
	s.sortNames()
	return s, nil
}

func (s *Set) sortNames() {
	s.names = make([]string, 0, len(s.where))
	for name := range s.where {
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
}

// Names returns every tensor name of the set in sorted order. The slice is
// a copy.
func (s *Set) Names() []string { return slices.Clone(s.names) }

// Tensor returns the description of the named tensor; its Offset is
// relative to the data buffer of the file holding it (see File).
func (s *Set) Tensor(name string) (TensorInfo, bool) {
	i, ok := s.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return s.files[i].Tensor(name)
}

// File returns the file holding the named tensor.
func (s *Set) File(name string) (*File, bool) {
	i, ok := s.where[name]
	if !ok {
		return nil, false
	}
	return s.files[i], true
}

// Files returns the set's files in the order they were opened (sorted by
// name for an index).
func (s *Set) Files() []*File { return slices.Clone(s.files) }

// Data returns the exact bytes of the named tensor; see File.Data.
func (s *Set) Data(name string) ([]byte, error) {
	i, ok := s.where[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: no tensor %q in the set", name)
	}
	return s.files[i].Data(name)
}

// Close closes every file of the set and reports all failures.
func (s *Set) Close() error {
	var errs []error
	for _, f := range s.files {
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readSmallFile reads a file whose size must not exceed limit.
func readSmallFile(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d-byte limit", path, st.Size(), limit)
	}
	return os.ReadFile(path)
}
