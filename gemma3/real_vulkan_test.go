package gemma3

import (
	"context"
	"fmt"
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

// TestGenerateVulkanStops: a generation on the GPU that ends on a stop
// token (with a step already queued behind it), then continues without a
// prompt, gives the same tokens as on the CPU.
func TestGenerateVulkanStops(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	d := vktest.Device(t)
	m := realModel(t)
	cpu, err := m.NewSession(Options{Ctx: 64})
	if err != nil {
		t.Fatal(err)
	}
	ids := append([]int{m.Config.BOS}, m.Tokenizer.Encode("The capital of France is", false)...)
	ref := greedyIDs(t, m, cpu, "The capital of France is", 12)
	stopAt, seen := -1, map[int]bool{}
	for i, id := range ref {
		if i >= 4 && !seen[id] {
			stopAt = id
			break
		}
		seen[id] = true
	}
	if stopAt < 0 {
		t.Fatalf("no fresh token to stop on in %v", ref)
	}
	run := func(opt Options) []int {
		s, err := m.NewSession(opt)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var got []int
		emit := func(id int) error { got = append(got, id); return nil }
		st, err := s.Generate(context.Background(), ids, GenerateOptions{MaxTokens: 20, Stop: []int{stopAt}, OnToken: emit})
		if err != nil {
			t.Fatal(err)
		}
		if st.StopToken != stopAt {
			t.Fatalf("stopped on %d, want %d", st.StopToken, stopAt)
		}
		got = append(got, -1)
		if _, err := s.Generate(context.Background(), nil, GenerateOptions{MaxTokens: 4, Stop: []int{}, OnToken: emit}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := run(Options{Ctx: 64})
	got := run(Options{Ctx: 64, Device: d})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Vulkan %v, CPU %v", got, want)
	}
	t.Logf("tokens %v", got)
}
