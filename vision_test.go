package gemmavk

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"gemmavk/internal/testmodel"
	"gemmavk/internal/testutil"
	"gemmavk/internal/visiontest"
)

func TestPieceAround(t *testing.T) {
	const S = 9 // the soft token
	text := func(n int) []int { return make([]int, n) }
	run := func(n int) []int {
		r := make([]int, n)
		for i := range r {
			r[i] = S
		}
		return r
	}
	cat := func(parts ...[]int) []int {
		var out []int
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, c := range []struct {
		name      string
		tail      []int
		n, chunk  int
		want      int
		softToken int
	}{
		{"no run", text(20), 16, 16, 16, S},
		{"ends after a run", cat(text(8), run(8), text(4)), 16, 16, 16, S},
		{"ends before a run", cat(text(8), run(8)), 8, 16, 8, S},
		{"ends inside a run: before it", cat(text(12), run(8), text(4)), 16, 16, 8, S},
		{"run starts the piece: to its end", cat(run(24), text(4)), 16, 16, 24, S},
		{"back off twice", cat(text(5), run(4), text(1), run(8), text(2)), 16, 16, 4, S},
		{"whole tail", cat(text(2), run(4)), 6, 16, 6, S},
		{"no vision", cat(text(12), run(8)), 16, 16, 16, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := pieceAround(c.tail, c.n, c.softToken, c.chunk); got != c.want {
				t.Fatalf("pieceAround = %d, want %d", got, c.want)
			}
		})
	}
}

// TestVisionLoad: Load takes the vision tower from a multimodal checkpoint
// directory or from Options.MMProj, and both answer an image prompt alike;
// a text model has none, and a tower that does not fit is refused.
func TestVisionLoad(t *testing.T) {
	dir := testutil.VLMTinyWithTokenizer(t, testutil.VLMTinyImageIDs)
	text, mmproj := visiontest.SplitGGUF(t, dir)
	msgs := []Message{{Role: "user", Parts: []Part{{Image: pngImage(t, 64, 64)}, {Text: "What is this?"}}}}
	answer := func(path string, opt Options) Result {
		t.Helper()
		opt.Device, opt.Ctx = "cpu", 128
		m, err := Load(path, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if !m.Vision() || !m.Info().Vision {
			t.Fatalf("%s: no vision", path)
		}
		p, err := m.ChatPrompt(msgs, PromptOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Images() != 1 {
			t.Fatalf("%d images in the prompt, want 1", p.Images())
		}
		s, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		opt2 := GenerateOptions{MaxTokens: 8}
		opt2.Sampling.Temperature, opt2.Sampling.Seed = 1, 3
		opt2.Sampling.RepeatPenalty, opt2.Sampling.RepeatLastN = 5, 64
		res, err := s.GeneratePrompt(context.Background(), p, opt2)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	hf, gg := answer(dir, Options{}), answer(text, Options{MMProj: mmproj})
	if hf.Text != gg.Text || hf.Stats.PromptTokens != gg.Stats.PromptTokens {
		t.Fatalf("GGUF with mmproj: %q (%d prompt tokens); the HF directory: %q (%d)",
			gg.Text, gg.Stats.PromptTokens, hf.Text, hf.Stats.PromptTokens)
	}

	// The text GGUF alone has no vision, and refuses images.
	m, err := Load(text, Options{Device: "cpu", Ctx: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Vision() {
		t.Fatal("a text GGUF without --mmproj has vision")
	}
	if _, err := m.ChatPrompt(msgs, PromptOptions{}); !errors.Is(err, ErrNoVision) {
		t.Fatalf("images on a text model: %v, want ErrNoVision", err)
	}

	// text-tiny's made-up vocabulary has no image tokens.
	g, err := testmodel.TextTiny()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := FromModel(g, Options{Device: "cpu", MMProj: mmproj}); err == nil || !strings.Contains(err.Error(), "<start_of_image>") {
		t.Fatalf("a vocabulary without image tokens paired: %v", err)
	}
	if _, err := Load(text, Options{Device: "cpu", MMProj: text}); err == nil {
		t.Fatal("a text GGUF taken as mmproj")
	}
}

// TestChatPromptImageMarkers: on a model with vision, text may not pose as
// image tokens.
func TestChatPromptImageMarkers(t *testing.T) {
	m, err := Load(testutil.VLMTinyWithTokenizer(t, testutil.VLMTinyImageIDs), Options{Device: "cpu", Ctx: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, text := range []string{"a <start_of_image> b", "<image_soft_token>"} {
		if _, err := m.ChatIDs([]Message{{Role: "user", Text: text}}); !errors.Is(err, ErrImageMarker) {
			t.Errorf("%q: %v, want ErrImageMarker", text, err)
		}
	}
	// Soft tokens given as ids, without their images, are refused.
	p, err := m.ChatPrompt([]Message{{Role: "user", Parts: []Part{{Image: pngImage(t, 8, 8)}, {Text: "x"}}}}, PromptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Generate(context.Background(), p.IDs, GenerateOptions{MaxTokens: 1}); err == nil || !strings.Contains(err.Error(), "ChatPrompt") {
		t.Fatalf("soft tokens without images: %v", err)
	}
}

// pngImage is a w×h pattern decoded from a PNG data URL.
func pngImage(t *testing.T, w, h int) *Image {
	t.Helper()
	img, err := DecodeDataURL("data:image/png;base64," + base64.StdEncoding.EncodeToString(testutil.PatternPNG(t, w, h, 3)))
	if err != nil {
		t.Fatal(err)
	}
	return img
}
