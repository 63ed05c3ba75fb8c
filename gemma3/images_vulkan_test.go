package gemma3

import (
	"fmt"
	"slices"
	"testing"

	"gemmavk/internal/vktest"
)

// TestImagePromptVulkan feeds the fixture's image prompt through the
// Vulkan executor (attention with image spans, f32 embeddings input) at
// chunk sizes that keep, split or isolate the image, and checks every
// position's logits against transformers.
func TestImagePromptVulkan(t *testing.T) {
	d := vktest.Device(t)
	m, g := loadVLM(t)
	for _, c := range []struct {
		chunk int
		f32   bool
		tol   float64
	}{
		{0, false, vkTol}, {4, false, vkTol}, {7, false, vkTol}, {16, false, vkTol},
		// With an f32 cache only the summation order differs.
		{10, true, f32Tol},
	} {
		t.Run(fmt.Sprintf("chunk=%d/f32cache=%v", c.chunk, c.f32), func(t *testing.T) {
			s, err := m.NewSession(Options{Ctx: 64, Chunk: c.chunk, Device: d, CacheF32: c.f32})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			all, err := s.FeedImagesAll(g.ids, [][]float32{g.features})
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, "logits", all, g.logits, c.tol)
		})
	}
	t.Run("token outside the vocabulary", func(t *testing.T) {
		m, g, ids := loadVLMTokenOutsideVocab(t)
		s, err := m.NewSession(Options{Ctx: 64, Device: d})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		all, err := s.FeedImagesAll(ids, [][]float32{g.features})
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, "logits", all, g.logits, vkTol)
	})
}

// TestImageGenerateVulkan generates after the image prompt on the GPU
// (prefill with images, then the recorded decode loop) and compares the
// tokens with the CPU reference.
func TestImageGenerateVulkan(t *testing.T) {
	d := vktest.Device(t)
	m, g := loadVLM(t)
	const n = 6
	want := greedyAfterImage(t, m, g, n)
	s, err := m.NewSession(Options{Ctx: 64, Chunk: 5, Device: d})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := generateAfterImage(t, s, g, n); !slices.Equal(got, want) {
		t.Errorf("generated %v, want %v", got, want)
	}
}
