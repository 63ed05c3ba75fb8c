package gemma3

import (
	"slices"
	"testing"

	"gemmavk/graph"
	"gemmavk/internal/vktest"
)

// TestRewind checks that a rewound session continues exactly as one that
// was fed the kept prefix and the new tokens in the same chunks, on the
// CPU and (when there is a device) on Vulkan with weights shared between
// the two sessions; and that a rewind the sliding-window ring can no longer
// serve is refused.
func TestRewind(t *testing.T) {
	m := loadTiny(t) // sliding window 6: rings of 6 rows
	W := m.Config.SlidingWindow
	type mk func(t *testing.T) (a, b *Session)
	cases := map[string]mk{
		"cpu": func(t *testing.T) (a, b *Session) {
			return newTestSession(t, m, Options{Ctx: 64}), newTestSession(t, m, Options{Ctx: 64})
		},
		"vulkan-shared-weights": func(t *testing.T) (a, b *Session) {
			d := vktest.Device(t)
			w := graph.NewDeviceWeights(d)
			t.Cleanup(w.Close)
			a = newTestSession(t, m, Options{Ctx: 64, Device: d, Weights: w})
			b = newTestSession(t, m, Options{Ctx: 64, Device: d, Weights: w})
			if _, err := a.Feed([]int{2}); err != nil {
				t.Fatal(err)
			}
			up := w.Bytes()
			if _, err := b.Feed([]int{2}); err != nil {
				t.Fatal(err)
			}
			if up == 0 || w.Bytes() != up {
				t.Fatalf("shared weights: %d bytes after the first session, %d after the second", up, w.Bytes())
			}
			a.Reset()
			b.Reset()
			return a, b
		},
	}
	for name, open := range cases {
		t.Run(name, func(t *testing.T) {
			a, b := open(t)
			feed := func(s *Session, ids ...int) []float32 {
				t.Helper()
				l, err := s.Feed(ids)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			// a: 2 10 11 12, rewound to 2 10, then 20 21.
			feed(a, 2, 10)
			feed(a, 11, 12)
			if !a.CanRewind(2) {
				t.Fatalf("CanRewind(2) with %d tokens and rings of %d: false", a.Pos(), W)
			}
			if err := a.Rewind(2); err != nil {
				t.Fatal(err)
			}
			got := feed(a, 20, 21)
			feed(b, 2, 10)
			want := feed(b, 20, 21)
			if !slices.Equal(got, want) {
				t.Fatalf("logits after a rewind differ from a fresh session's")
			}
			// Past the window the ring has wrapped: only no-op rewinds.
			feed(a, 30, 31, 32, 33)
			if n := a.Pos(); a.CanRewind(n-1) || a.Rewind(n-1) == nil || a.Pos() != n || !a.CanRewind(n) {
				t.Fatalf("a rewind by one past the window (%d tokens, rings of %d) was allowed", n, W)
			}
		})
	}
}

func newTestSession(t *testing.T, m *Model, opt Options) *Session {
	t.Helper()
	s, err := m.NewSession(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}
