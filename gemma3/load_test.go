package gemma3

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gemmavk/kernels/quant"
	"gemmavk/safetensors"
)

// writeShardedHF re-saves the tiny fixture's tensors under another decoder
// prefix, split across two shards with an index, as multimodal checkpoints
// store them.
func writeShardedHF(t *testing.T, prefix string) string {
	t.Helper()
	src, err := safetensors.OpenDir(filepath.Join("testdata", "text-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	shards := [2][]safetensors.Tensor{}
	index := map[string]string{}
	for i, name := range src.Names() {
		info, _ := src.Tensor(name)
		data, err := src.Data(name)
		if err != nil {
			t.Fatal(err)
		}
		renamed := prefix + strings.TrimPrefix(name, "model.")
		shards[i%2] = append(shards[i%2], safetensors.Tensor{Name: renamed, DType: info.DType, Shape: info.Shape, Data: data})
		index[renamed] = fmt.Sprintf("model-%05d-of-00002.safetensors", i%2+1)
	}
	for i, s := range shards {
		if err := safetensors.WriteFile(filepath.Join(dir, fmt.Sprintf("model-%05d-of-00002.safetensors", i+1)), s, nil); err != nil {
			t.Fatal(err)
		}
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": index})
	cfg, err := os.ReadFile(filepath.Join("testdata", "text-tiny", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"model.safetensors.index.json": idx, "config.json": cfg} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestHFLayouts loads the fixture under each decoder prefix HF checkpoints
// use, sharded, and checks the logits are unchanged.
func TestHFLayouts(t *testing.T) {
	g := loadGolden(t)
	for _, prefix := range hfPrefixes {
		t.Run(strings.TrimSuffix(prefix, "."), func(t *testing.T) {
			m, err := Load(writeShardedHF(t, prefix))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			s, err := m.NewSession(Options{Ctx: 32})
			if err != nil {
				t.Fatal(err)
			}
			all, err := s.FeedAll(g.inputIDs)
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, "logits", all, g.logits, f32Tol)
		})
	}
}

// TestBadModelFiles: damaged files give errors, never panics.
func TestBadModelFiles(t *testing.T) {
	m := loadTiny(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.gguf")
	if err := m.WriteGGUF(good, quant.Q8_0); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// The last tensor's offset field: find the name, skip n_dims, dims, type.
	name := []byte("blk.6.post_ffw_norm.weight")
	at := strings.LastIndex(string(data), string(name)) + len(name)
	lying := append([]byte(nil), data...)
	off := at + 4 + 8 + 4 // n_dims u32, one u64 dim, type u32
	for i := 0; i < 8; i++ {
		lying[off+i] = 0x7f
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", data[:len(data)/2], "gguf"},
		{"truncated header", data[:100], "gguf"},
		{"lying offset", lying, "blk.6.post_ffw_norm.weight"},
		{"not gguf", []byte("PK\x03\x04 this is a zip file, not a model"), "gguf"},
		{"empty", nil, "gguf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".gguf")
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := Load(p)
			if err == nil {
				m.Close()
				t.Fatal("loaded a damaged file")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
			t.Log(err)
		})
	}
	t.Run("missing tensor", func(t *testing.T) {
		dir := writeShardedHF(t, "model.")
		// Drop one tensor from the index: the loader must name it.
		idxPath := filepath.Join(dir, "model.safetensors.index.json")
		raw, _ := os.ReadFile(idxPath)
		var idx map[string]map[string]any
		json.Unmarshal(raw, &idx)
		delete(idx["weight_map"], "model.layers.3.mlp.up_proj.weight")
		raw, _ = json.Marshal(idx)
		os.WriteFile(idxPath, raw, 0o644)
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), "layers.3.mlp.up_proj.weight: missing") {
			t.Fatalf("error %v does not name the missing tensor", err)
		}
	})
}

func TestContextFull(t *testing.T) {
	m, g := loadTiny(t), loadGolden(t)
	s, err := m.NewSession(Options{Ctx: 24})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Feed(g.inputIDs); err != nil { // 20 of 24
		t.Fatal(err)
	}
	_, err = s.Feed(g.inputIDs[:5])
	if !errors.Is(err, ErrContextFull) || !strings.Contains(err.Error(), "20") || !strings.Contains(err.Error(), "24") {
		t.Fatalf("error %v: want ErrContextFull naming 20 and 24", err)
	}
	if s.Pos() != 20 {
		t.Fatalf("a refused feed moved the position to %d", s.Pos())
	}
	// Generation runs to the end of the context and reports it.
	var got []int
	_, err = s.Generate(t.Context(), nil, GenerateOptions{Stop: []int{}, OnToken: func(id int) error {
		got = append(got, id)
		return nil
	}})
	if !errors.Is(err, ErrContextFull) || s.Pos() != 24 {
		t.Fatalf("generate: %v at position %d", err, s.Pos())
	}
	if len(got) != 5 || got[0] != g.generated[20] {
		t.Fatalf("generated %v before the context filled, want 5 tokens starting %d", got, g.generated[20])
	}
	if _, err := m.NewSession(Options{Ctx: m.Config.MaxPositions + 1}); err == nil {
		t.Fatal("a context beyond the trained length was accepted")
	}
}

// TestSampledReproducible: a fixed seed gives the same tokens; the cache
// state after Reset does not leak into the next run.
func TestSampledReproducible(t *testing.T) {
	m, g := loadTiny(t), loadGolden(t)
	gen := func(seed uint64) []int {
		s, err := m.NewSession(Options{Ctx: 64, Chunk: 4})
		if err != nil {
			t.Fatal(err)
		}
		var out []int
		opt := GenerateOptions{MaxTokens: 12, Stop: []int{}, OnToken: func(id int) error { out = append(out, id); return nil }}
		opt.Sampling.Temperature, opt.Sampling.Seed = 50, seed // the tiny model is very peaked
		if _, err := s.Generate(t.Context(), g.inputIDs, opt); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b, c := gen(7), gen(7), gen(8)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different tokens: %v vs %v", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatalf("seeds 7 and 8 gave identical samples %v", a)
	}
}

func TestWriteGGUFBadType(t *testing.T) {
	m := loadTiny(t)
	for _, typ := range []quant.Type{quant.Type(99), quant.IQ4_XS} {
		if err := m.WriteGGUF(filepath.Join(t.TempDir(), "x.gguf"), typ); err == nil {
			t.Errorf("WriteGGUF accepted %s", typ)
		}
	}
}
