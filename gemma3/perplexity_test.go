package gemma3

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"gemmavk/internal/vktest"
)

// TestPerplexityVulkan: the real 270M model's perplexity on the start of a
// public-domain chapter is the same on the CPU and Vulkan executors within
// 0.1%, and so are its teacher-forced greedy choices but for near-ties.
// (Every position's logits cross the vocabulary, 262144 wide: on lavapipe a
// few hundred tokens take a minute; `bench --ppl` runs the whole chapter,
// about 2,900 tokens, on a real GPU.)
func TestPerplexityVulkan(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	d := vktest.Device(t)
	m := realModel(t)
	text, err := os.ReadFile(filepath.Join("testdata", "text", "moby-dick-chapter-1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ids := append([]int{m.Config.BOS}, m.Tokenizer.Encode(string(text), false)...)
	if len(ids) < 2000 {
		t.Fatalf("%d tokens: the text should be a few thousand", len(ids))
	}
	ids = ids[:96]
	run := func(opt Options, chunk int) (float64, []int) {
		s, err := m.NewSession(opt)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		top := make([]int, len(ids))
		ppl, err := s.Perplexity(ids, chunk, func(p, id int) { top[p] = id })
		if err != nil {
			t.Fatal(err)
		}
		return ppl, top
	}
	ctx := len(ids) + 8
	cpu, cpuTop := run(Options{Ctx: ctx}, 512)
	// 64 tokens of logits (64 MiB) fit one binding even on lavapipe.
	gpu, gpuTop := run(Options{Ctx: ctx, Device: d}, 64)
	t.Logf("%d tokens: perplexity %.4f on the CPU, %.4f on Vulkan", len(ids), cpu, gpu)
	if rel := math.Abs(gpu-cpu) / cpu; !(rel < 1e-3) {
		t.Errorf("perplexity differs by %.3g relative", rel)
	}
	same := 0
	for i := range cpuTop {
		if cpuTop[i] == gpuTop[i] {
			same++
		}
	}
	t.Logf("teacher-forced top-1 agrees at %d of %d positions", same, len(ids))
	if same < len(ids)*97/100 {
		t.Errorf("top-1 agrees at only %d of %d positions", same, len(ids))
	}
}
