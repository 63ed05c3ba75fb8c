package gguf

import (
	"os"
	"testing"
)

// realModel is a Gemma 3 270M Q4_K_M file fetched into the repository cache
// by the model tooling; the test is skipped when it is absent.
const realModel = "../.cache/models/gemma-3-270m-q4_k_m.gguf"

func TestOpenRealGemma(t *testing.T) {
	if _, err := os.Stat(realModel); err != nil {
		t.Skipf("skipping: real model %s not present (%v)", realModel, err)
	}
	f, err := Open(realModel)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() { must(t, f.Close()) }()
	if arch, ok := f.String("general.architecture"); !ok || arch != "gemma3" {
		t.Errorf("general.architecture = %q, %v; want gemma3", arch, ok)
	}
	tokens, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(tokens) != 262144 {
		t.Errorf("tokenizer.ggml.tokens: %d strings, ok=%v; want 262144", len(tokens), ok)
	}
	if scores, ok := f.Float32s("tokenizer.ggml.scores"); !ok || len(scores) != len(tokens) {
		t.Errorf("tokenizer.ggml.scores: %d, ok=%v", len(scores), ok)
	}
	if types, ok := f.Int32s("tokenizer.ggml.token_type"); !ok || len(types) != len(tokens) {
		t.Errorf("tokenizer.ggml.token_type: %d, ok=%v", len(types), ok)
	}
	if n, ok := f.Uint("gemma3.block_count"); !ok || n == 0 {
		t.Errorf("gemma3.block_count = %d, %v", n, ok)
	}
	if len(f.Tensors) == 0 {
		t.Fatal("no tensors")
	}
	if emb, ok := f.Tensor("token_embd.weight"); !ok || emb.Dim(1) != uint64(len(tokens)) {
		t.Errorf("token_embd.weight = %+v, %v; want ne[1] = %d", emb, ok, len(tokens))
	}
	var total uint64
	for _, ti := range f.Tensors {
		b, err := f.TensorData(ti.Name)
		if err != nil {
			t.Fatalf("TensorData(%q): %v", ti.Name, err)
		}
		if uint64(len(b)) != ti.Size || (f.DataOffset+ti.Offset)%f.Alignment != 0 {
			t.Errorf("tensor %q: %d bytes at %d, want %d aligned to %d", ti.Name, len(b), f.DataOffset+ti.Offset, ti.Size, f.Alignment)
		}
		total += ti.Size
	}
	t.Logf("v%d, %d kvs, %d tensors, %d data bytes, data start %d", f.Version, len(f.KVs), len(f.Tensors), total, f.DataOffset)
}
