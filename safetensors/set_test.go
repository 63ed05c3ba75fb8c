package safetensors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixtureDirs are where the text-tiny HF fixture is looked for: the copy in
// the repository (owned by package gemma3), then the shared original.
var fixtureDirs = []string{
	filepath.Join("..", "gemma3", "testdata", "text-tiny"),
	"/work/shared/fixtures/text-tiny",
}

// fixture returns the path of a text-tiny fixture file. Without one the
// test skips, or fails under GEMMAVK_REQUIRE_ASSETS=1.
func fixture(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range fixtureDirs {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("GEMMAVK_REQUIRE_ASSETS") == "1" {
		t.Fatalf("fixture %s not found in %v", name, fixtureDirs)
	}
	t.Skipf("fixture %s not found in %v", name, fixtureDirs)
	return ""
}

func TestFixtureGolden(t *testing.T) {
	f, err := Open(fixture(t, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]struct {
		dt    DType
		shape []int
	}{
		"generated_ids": {I64, []int{36}},
		"hidden_states": {F32, []int{8, 20, 128}},
		"input_ids":     {I64, []int{20}},
		"logits":        {F32, []int{20, 1024}},
		"step_logits":   {F32, []int{16, 1024}},
	}
	if got := f.Names(); len(got) != len(want) {
		t.Fatalf("names %v", got)
	}
	for name, w := range want {
		info, ok := f.Tensor(name)
		if !ok || info.DType != w.dt || !slices.Equal(info.Shape, w.shape) {
			t.Errorf("%s: %+v, want %s%v", name, info, w.dt, w.shape)
		}
	}
	info, _ := f.Tensor("input_ids")
	d, err := f.Data("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := Int64s(info, d)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids[:5], []int64{2, 499, 1023, 1002, 636}) {
		t.Errorf("input_ids start %v", ids[:5])
	}
	info, _ = f.Tensor("logits")
	d, _ = f.Data("logits")
	logits, err := Float32s(info, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(logits) != 20*1024 || logits[0] != 0.2596874237060547 || logits[1] != -8.637494087219238 {
		t.Errorf("logits: %d values starting %v", len(logits), logits[:2])
	}
}

func TestFixtureModel(t *testing.T) {
	path := fixture(t, "model.safetensors")
	s, err := OpenDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	names := s.Names()
	if len(names) != 2+7*13 {
		t.Errorf("%d tensors, want %d", len(names), 2+7*13)
	}
	for name, shape := range map[string][]int{
		"model.embed_tokens.weight":              {1024, 128},
		"model.norm.weight":                      {128},
		"model.layers.6.self_attn.k_proj.weight": {64, 128},
		"model.layers.3.mlp.down_proj.weight":    {128, 384},
	} {
		info, ok := s.Tensor(name)
		if !ok || info.DType != F32 || !slices.Equal(info.Shape, shape) {
			t.Errorf("%s: %+v, want F32%v", name, info, shape)
			continue
		}
		d, err := s.Data(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Float32s(info, d); err != nil {
			t.Error(err)
		}
	}
	if f, ok := s.File("model.norm.weight"); !ok || f.Path() != path {
		t.Errorf("File(model.norm.weight) = %v, %v", f, ok)
	}
}

func TestFixtureF16(t *testing.T) {
	// Optional: the shared image-processor fixture is not in the repository.
	path := "/work/shared/fixtures/image-proc/golden.safetensors"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared fixture not available: %v", err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, ok := f.Tensor("photo_640x480.224")
	if !ok || info.DType != F16 || !slices.Equal(info.Shape, []int{3, 224, 224}) {
		t.Fatalf("photo_640x480.224: %+v", info)
	}
	d, _ := f.Data(info.Name)
	v, err := Float32s(info, d)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v[:4], []float32{-0.93701171875, -0.93701171875, -0.953125, -0.953125}) {
		t.Errorf("first values %v", v[:4])
	}
}

// writeSharded writes a two-shard checkpoint with its index into dir.
func writeSharded(t *testing.T, dir string) map[string][]float32 {
	t.Helper()
	vals := map[string][]float32{
		"model.embed_tokens.weight":         {1, 2, 3, 4},
		"model.layers.0.mlp.up_proj.weight": {5, 6},
		"model.norm.weight":                 {7, 8},
	}
	shard1 := []Tensor{F32Tensor("model.embed_tokens.weight", []int{2, 2}, vals["model.embed_tokens.weight"])}
	shard2 := []Tensor{
		F32Tensor("model.layers.0.mlp.up_proj.weight", []int{2}, vals["model.layers.0.mlp.up_proj.weight"]),
		F32Tensor("model.norm.weight", []int{2}, vals["model.norm.weight"]),
	}
	if err := WriteFile(filepath.Join(dir, "model-00001-of-00002.safetensors"), shard1, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "model-00002-of-00002.safetensors"), shard2, nil); err != nil {
		t.Fatal(err)
	}
	writeIndex(t, dir, map[string]string{
		"model.embed_tokens.weight":         "model-00001-of-00002.safetensors",
		"model.layers.0.mlp.up_proj.weight": "model-00002-of-00002.safetensors",
		"model.norm.weight":                 "model-00002-of-00002.safetensors",
	})
	return vals
}

func writeIndex(t *testing.T, dir string, wm map[string]string) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 32}, "weight_map": wm})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, IndexFileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSharded(t *testing.T) {
	dir := t.TempDir()
	vals := writeSharded(t, dir)
	s, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []string{"model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "model.norm.weight"}
	if got := s.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names %v", got)
	}
	if n := len(s.Files()); n != 2 {
		t.Errorf("%d files", n)
	}
	for name, v := range vals {
		info, ok := s.Tensor(name)
		if !ok {
			t.Fatalf("%s missing", name)
		}
		d, err := s.Data(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Float32s(info, d)
		if err != nil || !slices.Equal(got, v) {
			t.Errorf("%s = %v, %v; want %v", name, got, err, v)
		}
	}
	if f, _ := s.File("model.norm.weight"); filepath.Base(f.Path()) != "model-00002-of-00002.safetensors" {
		t.Errorf("norm in %s", f.Path())
	}
	if _, ok := s.Tensor("nope"); ok {
		t.Error("Tensor(nope) found")
	}
	if _, err := s.Data("nope"); err == nil {
		t.Error("Data(nope) succeeded")
	}

	// The same shards opened directly.
	s2, err := OpenSet(filepath.Join(dir, "model-00001-of-00002.safetensors"), filepath.Join(dir, "model-00002-of-00002.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Names(); !slices.Equal(got, want) {
		t.Errorf("OpenSet Names %v", got)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestShardedErrors(t *testing.T) {
	one := "model-00001-of-00002.safetensors"
	two := "model-00002-of-00002.safetensors"
	cases := []struct {
		name  string
		index map[string]string
		want  string
	}{
		{"missing file", map[string]string{"model.norm.weight": "model-00003-of-00003.safetensors"}, "model-00003-of-00003.safetensors"},
		{"missing tensor", map[string]string{"model.norm.weight": one}, `tensor "model.norm.weight" to shard "` + one + `", which does not hold it`},
		{"escaping path", map[string]string{"model.norm.weight": "../" + two}, "not a file name inside"},
		{"absolute path", map[string]string{"model.norm.weight": "/etc/passwd"}, "not a file name inside"},
		{"empty", map[string]string{}, "weight_map"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeSharded(t, dir)
			writeIndex(t, dir, c.index)
			s, err := OpenDir(dir)
			if err == nil {
				s.Close()
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want %q", err, c.want)
			}
		})
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), IndexFileName) {
		t.Errorf("bad index JSON: %v", err)
	}

	empty := t.TempDir()
	_, err := OpenDir(empty)
	if err == nil || !strings.Contains(err.Error(), SingleFileName) || !strings.Contains(err.Error(), IndexFileName) {
		t.Errorf("OpenDir(empty) = %v", err)
	}

	// A tensor in two files given to OpenSet.
	dup := t.TempDir()
	a, b := filepath.Join(dup, "a.safetensors"), filepath.Join(dup, "b.safetensors")
	for _, p := range []string{a, b} {
		if err := WriteFile(p, []Tensor{F32Tensor("x", []int{1}, []float32{1})}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenSet(a, b); err == nil || !strings.Contains(err.Error(), `"x" is in both`) {
		t.Errorf("OpenSet duplicate: %v", err)
	}
	if _, err := OpenSet(); err == nil {
		t.Error("OpenSet() succeeded")
	}
	if _, err := OpenSet(a, filepath.Join(dup, "c.safetensors")); err == nil {
		t.Error("OpenSet with a missing file succeeded")
	}
}

func TestOpenDirPrefersSingleFile(t *testing.T) {
	dir := t.TempDir()
	writeSharded(t, dir)
	if err := WriteFile(filepath.Join(dir, SingleFileName), []Tensor{F32Tensor("only", []int{1}, []float32{1})}, nil); err != nil {
		t.Fatal(err)
	}
	s, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Names(); !slices.Equal(got, []string{"only"}) {
		t.Errorf("Names %v, want the single file's", got)
	}
}
