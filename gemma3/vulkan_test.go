package gemma3

import (
	"fmt"
	"testing"

	"gemmavk/internal/vktest"
)

func TestMain(m *testing.M) { vktest.Main(m) }

// vkTol bounds the Vulkan executor against transformers: the KV cache
// holds keys and values in f16 (about 5e-4 relative each), the rest is f32
// in another summation order.
const vkTol = 2e-3

// TestTinyVulkan runs the fixture through the Vulkan executor: prompt
// logits and hidden states, then every decode step past the sliding window
// at several prefill chunk sizes, with the cache in f16 and in f32.
func TestTinyVulkan(t *testing.T) {
	d := vktest.Device(t)
	m, g := loadTiny(t), loadGolden(t)
	s, err := m.NewSession(Options{Ctx: 64, Device: d})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(g.inputIDs, StepOptions{AllLogits: true, Hidden: true})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "logits", out.Logits, g.logits, vkTol)
	T, H, L := len(g.inputIDs), m.Config.Hidden, m.Config.Layers
	for i := 0; i <= L; i++ {
		got := out.Hidden[i]
		if i == L {
			got = out.Hidden[L+1]
		}
		checkClose(t, fmt.Sprintf("hidden[%d]", i), got, g.hidden[i*T*H:(i+1)*T*H], vkTol)
	}
	for _, c := range []struct {
		chunk int
		f32   bool
		tol   float64
	}{
		{1, false, vkTol}, {5, false, vkTol}, {20, false, vkTol},
		// With an f32 cache only the summation order differs.
		{7, true, f32Tol},
	} {
		t.Run(fmt.Sprintf("chunk=%d/f32cache=%v", c.chunk, c.f32), func(t *testing.T) {
			decodeStepsWith(t, m, g, Options{Ctx: 64, Chunk: c.chunk, Device: d, CacheF32: c.f32}, c.tol)
		})
	}
}
