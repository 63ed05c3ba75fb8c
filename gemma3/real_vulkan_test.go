package gemma3

import (
	"context"
	"testing"

	"gemmavk/internal/vktest"
)

// greedyIDs completes prompt greedily for n tokens in s.
func greedyIDs(t *testing.T, m *Model, s *Session, prompt string, n int) []int {
	t.Helper()
	s.Reset()
	ids := append([]int{m.Config.BOS}, m.Tokenizer.Encode(prompt, false)...)
	var out []int
	_, err := s.Generate(context.Background(), ids, GenerateOptions{MaxTokens: n, OnToken: func(id int) error {
		out = append(out, id)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRealGreedyVulkan: the real 270M model's greedy continuations are
// the same token for token on the CPU and Vulkan executors.
func TestRealGreedyVulkan(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	d := vktest.Device(t)
	m := realModel(t)
	cpu, err := m.NewSession(Options{Ctx: 128})
	if err != nil {
		t.Fatal(err)
	}
	vk, err := m.NewSession(Options{Ctx: 128, Device: d})
	if err != nil {
		t.Fatal(err)
	}
	defer vk.Close()
	const n = 64
	for _, p := range greedyPrompts {
		want := greedyIDs(t, m, cpu, p, n)
		got := greedyIDs(t, m, vk, p, n)
		t.Logf("%q -> %q", p, m.Tokenizer.Decode(got))
		if len(got) != len(want) {
			t.Errorf("%q: %d tokens on Vulkan, %d on the CPU", p, len(got), len(want))
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%q: token %d is %d on Vulkan, %d on the CPU\nvulkan: %q\n   cpu: %q", p, i, got[i], want[i],
					m.Tokenizer.Decode(got), m.Tokenizer.Decode(want))
				break
			}
		}
	}
}
