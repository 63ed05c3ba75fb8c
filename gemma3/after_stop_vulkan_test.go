package gemma3

import (
	"context"
	"math/rand/v2"
	"testing"

	"gemmavk/gemma3/sample"
	"gemmavk/internal/vktest"
)

// TestLogitsAfterGPUStop: a GPU generation that ends at a stop token has
// queued (and dropped) a step that wrote the stop token's keys one position
// past the kept tokens, into the sliding rings. A later generation without
// a prompt must still get the right logits for the last kept token, here
// far past the window of 6.
func TestLogitsAfterGPUStop(t *testing.T) {
	d := vktest.Device(t)
	m := loadTiny(t)
	r := rand.New(rand.NewPCG(5, 5))
	for try := range 50 {
		prompt := make([]int, 12)
		for i := range prompt {
			prompt[i] = 4 + r.IntN(900)
		}
		// Sampled on the GPU (from the second token on) with a seed, so
		// that a second run stops where the first went on.
		cfg := sample.Config{Temperature: 5, TopK: 64, Seed: uint64(try)}
		ref := newTestSession(t, m, Options{Ctx: 64, Device: d})
		var ids []int
		if _, err := ref.Generate(context.Background(), prompt, GenerateOptions{MaxTokens: 3, Stop: []int{}, Sampling: cfg,
			OnToken: func(id int) error { ids = append(ids, id); return nil }}); err != nil {
			t.Fatal(err)
		}
		if ids[0] == ids[1] {
			continue // the first token must not be the stop token
		}
		s := newTestSession(t, m, Options{Ctx: 64, Device: d})
		st, err := s.Generate(context.Background(), prompt, GenerateOptions{MaxTokens: 3, Stop: []int{ids[1]}, Sampling: cfg})
		if err != nil {
			t.Fatal(err)
		}
		if st.StopToken != ids[1] || s.Pos() != len(prompt)+1 || s.lastLogits != nil {
			t.Fatalf("try %d: generation did not stop on the GPU at %d (stats %+v, %d tokens)", try, ids[1], st, s.Pos())
		}
		got, err := s.logitsAfterLast()
		if err != nil {
			t.Fatal(err)
		}
		cpu := newTestSession(t, m, Options{Ctx: 64})
		want, err := cpu.Feed(append(prompt, ids[0]))
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, "logits after the last kept token", got, want, vkTol)
		return
	}
	t.Fatal("no prompt whose first two sampled tokens differ")
}
