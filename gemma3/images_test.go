package gemma3

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/safetensors"
)

// vlmGolden holds the transformers outputs of testdata/vlm-tiny.
type vlmGolden struct {
	ids      []int     // [28]: 16 image soft tokens between boi and eoi
	features []float32 // [16, H]: the projector's output for the image
	logits   []float32 // [28, vocab]
}

const vlmDir = "testdata/vlm-tiny"

func loadVLM(t *testing.T) (*Model, *vlmGolden) {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(vlmDir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := &vlmGolden{ids: testutil.Ints(t, f, "input_ids"), features: testutil.Floats(t, f, "image_features"),
		logits: testutil.Floats(t, f, "logits")}
	m, err := Load(vlmDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, g
}

// imageRun returns the fixture prompt's run of soft tokens.
func imageRun(t *testing.T, m *Model, ids []int) (start, end int) {
	t.Helper()
	tok := m.Config.Image.Resolved().Token
	start = slices.Index(ids, tok)
	end = start
	for end < len(ids) && ids[end] == tok {
		end++
	}
	if start < 1 || end == len(ids) || slices.Contains(ids[end:], tok) {
		t.Fatalf("fixture ids %v: want one run of %d inside the prompt", ids, tok)
	}
	return start, end
}

func TestHFImageConfig(t *testing.T) {
	for _, c := range []struct {
		name, json string
		want       ImageConfig
	}{
		{"vlm-tiny", `{"model_type": "gemma3", "text_config": {}, "mm_tokens_per_image": 16,
			"boi_token_index": 1000, "eoi_token_index": 1001, "image_token_index": 1002}`, ImageConfig{1002, 1000, 1001, 16}},
		{"image_token_id", `{"model_type": "gemma3", "image_token_id": 77}`, ImageConfig{Token: 77}},
		{"multimodal defaults", `{"model_type": "gemma3"}`, ImageConfig{}},
		{"text only", `{"image_token_index": 5}`, ImageConfig{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseHFConfig([]byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Image != c.want {
				t.Errorf("image config %+v, want %+v", cfg.Image, c.want)
			}
		})
	}
	if got, want := (ImageConfig{Token: 7}).Resolved(), (ImageConfig{7, DefaultBOI, DefaultEOI, DefaultImageTokens}); got != want {
		t.Errorf("resolved %+v, want %+v", got, want)
	}
	for _, bad := range []string{`{"model_type": "gemma3", "image_token_index": -1}`,
		`{"model_type": "gemma3", "mm_tokens_per_image": 0}`, `{"model_type": "gemma3", "boi_token_index": "x"}`} {
		if _, err := ParseHFConfig([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestChunkEnd(t *testing.T) {
	const I = 9 // the soft token
	ids := []int{1, 2, I, I, I, I, 3, I, I, 4}
	for _, c := range []struct {
		start, chunk, want int
	}{
		{0, 2, 2},   // ends before the run
		{0, 3, 2},   // would split the run: ends before it
		{0, 6, 6},   // ends right after the run
		{2, 2, 6},   // the run starts the chunk and is longer: a chunk of its own
		{2, 4, 6},   // exactly the run
		{2, 5, 7},   // the run and a text token
		{2, 6, 7},   // would split the second run
		{6, 2, 7},   // ditto, the run begins inside the chunk
		{7, 1, 9},   // the second run alone
		{7, 10, 10}, // to the end
		{9, 4, 10},
	} {
		if got := chunkEnd(ids, c.start, c.chunk, I); got != c.want {
			t.Errorf("start %d chunk %d: end %d, want %d", c.start, c.chunk, got, c.want)
		}
	}
}

// imagePromptCases are the prefill chunk sizes the image prompt is fed in:
// the image (16 tokens at 5..20) is whole in a chunk of 16, would be split
// by 4, 7, 10 and 24, and gets a chunk of its own with 1 and 4.
var imagePromptChunks = []int{0, 1, 4, 7, 10, 16, 21, 24, 28}

// TestImagePrompt feeds the fixture's prompt with its image features: the
// logits of every position match transformers at every chunk size.
func TestImagePrompt(t *testing.T) {
	m, g := loadVLM(t)
	imageRun(t, m, g.ids)
	for _, chunk := range imagePromptChunks {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			s, err := m.NewSession(Options{Ctx: 64, Chunk: chunk})
			if err != nil {
				t.Fatal(err)
			}
			all, err := s.FeedImagesAll(g.ids, [][]float32{g.features})
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, "logits", all, g.logits, f32Tol)
			if s.Pos() != len(g.ids) {
				t.Errorf("position %d after the prompt, want %d", s.Pos(), len(g.ids))
			}
			last, err := m.mustSession(t, chunk).FeedImages(g.ids, [][]float32{g.features})
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, "last logits", last, g.logits[len(g.logits)-m.Config.Vocab:], f32Tol)
		})
	}
}

func (m *Model) mustSession(t *testing.T, chunk int) *Session {
	t.Helper()
	s, err := m.NewSession(Options{Ctx: 64, Chunk: chunk})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestImagePromptControls shows what the fixture's logits depend on: an
// image split across two chunks (its first tokens cannot see the later
// ones) or its features scaled like embeddings move them far off.
func TestImagePromptControls(t *testing.T) {
	m, g := loadVLM(t)
	start, end := imageRun(t, m, g.ids)
	H, vocab := m.Config.Hidden, m.Config.Vocab
	tok := m.Config.Image.Resolved().Token
	split := start + (end-start)/2
	s := m.mustSession(t, 0)
	var all []float32
	for _, c := range [][2]int{{0, split}, {split, len(g.ids)}} {
		n := 0
		for _, id := range g.ids[c[0]:c[1]] {
			if id == tok {
				n++
			}
		}
		rows := g.features[(max(c[0], start)-start)*H:][:n*H]
		o, err := s.run(g.ids[c[0]:c[1]], StepOptions{AllLogits: true, Images: true}, &imageChunk{token: tok, rows: rows})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, o.Logits...)
	}
	// The positions before the image are unaffected; the image's are not.
	checkClose(t, "before the image", all[:start*vocab], g.logits[:start*vocab], f32Tol)
	if e := testutil.RelErr(all, g.logits); e < 100*f32Tol {
		t.Errorf("split image: relative error %.3g, want it far above %g", e, f32Tol)
	} else {
		t.Logf("split image: relative error %.3g", e)
	}
	scaled := slices.Clone(g.features)
	for i := range scaled {
		scaled[i] *= m.Config.EmbedScale
	}
	got, err := m.mustSession(t, 0).FeedImagesAll(g.ids, [][]float32{scaled})
	if err != nil {
		t.Fatal(err)
	}
	if e := testutil.RelErr(got, g.logits); e < 100*f32Tol {
		t.Errorf("scaled features: relative error %.3g, want it far above %g", e, f32Tol)
	} else {
		t.Logf("scaled features: relative error %.3g", e)
	}
}

// loadVLMTokenOutsideVocab loads the fixture with the soft token's id
// moved to the vocabulary size, one past the embedding table, and returns
// the fixture's ids with that token renamed.
func loadVLMTokenOutsideVocab(t *testing.T) (*Model, *vlmGolden, []int) {
	t.Helper()
	m, g := loadVLM(t)
	old := m.Config.Image.Resolved().Token
	m.Config.Image.Token = m.Config.Vocab
	ids := slices.Clone(g.ids)
	for i, id := range ids {
		if id == old {
			ids[i] = m.Config.Vocab
		}
	}
	return m, g, ids
}

// TestImageTokenOutsideVocab gives the soft token an id past the
// embedding table, as the released text-only vocabulary does for 262144:
// it is never looked up and the logits do not change.
func TestImageTokenOutsideVocab(t *testing.T) {
	m, g, ids := loadVLMTokenOutsideVocab(t)
	all, err := m.mustSession(t, 7).FeedImagesAll(ids, [][]float32{g.features})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "logits", all, g.logits, f32Tol)
}

// TestImagesAsLayouts loads the fixture's text weights under both
// multimodal layouts (model.language_model.* as saved, and the Hub's older
// language_model.model.*).
func TestImagesAsLayouts(t *testing.T) {
	_, g := loadVLM(t)
	src, err := safetensors.OpenDir(vlmDir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	var ts []safetensors.Tensor
	for _, name := range src.Names() {
		info, _ := src.Tensor(name)
		data, err := src.Data(name)
		if err != nil {
			t.Fatal(err)
		}
		renamed := strings.Replace(name, "model.language_model.", "language_model.model.", 1)
		renamed = strings.Replace(renamed, "model.vision_tower.", "vision_tower.", 1)
		renamed = strings.Replace(renamed, "model.multi_modal_projector.", "multi_modal_projector.", 1)
		ts = append(ts, safetensors.Tensor{Name: renamed, DType: info.DType, Shape: info.Shape, Data: data})
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(vlmDir, "config.json"), filepath.Join(dir, "config.json"))
	for name, path := range map[string]string{"model.language_model": vlmDir, "language_model.model": dir} {
		t.Run(name, func(t *testing.T) {
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if want := (ImageConfig{1002, 1000, 1001, 16}); m.Config.Image != want {
				t.Errorf("image config %+v, want %+v", m.Config.Image, want)
			}
			all, err := m.mustSession(t, 0).FeedImagesAll(g.ids, [][]float32{g.features})
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, "logits", all, g.logits, f32Tol)
		})
	}
}

// TestImagePromptErrors: a prompt and features that do not match, bad
// features or ids are refused before anything is evaluated.
func TestImagePromptErrors(t *testing.T) {
	m, g := loadVLM(t)
	H := m.Config.Hidden
	nan := slices.Clone(g.features)
	nan[3*H+5] = float32(math.NaN())
	text := slices.DeleteFunc(slices.Clone(g.ids), func(id int) bool { return id == 1002 })
	badID := slices.Clone(g.ids)
	badID[len(badID)-1] = m.Config.Vocab + 3
	for _, c := range []struct {
		name   string
		ctx    int
		ids    []int
		images [][]float32
		want   string
	}{
		{"no features", 64, g.ids, nil, "16 image soft tokens (id 1002) in 1 runs, the 0 images give 0 feature rows"},
		{"two images for one run", 64, g.ids, [][]float32{g.features, g.features}, "the 2 images give 32 feature rows"},
		{"half an image", 64, g.ids, [][]float32{g.features[:8*H]}, "give 8 feature rows"},
		{"ragged rows", 64, g.ids, [][]float32{g.features[:len(g.features)-1]}, "not whole rows of 128"},
		{"empty image", 64, g.ids, [][]float32{g.features, nil}, "image 1: 0 feature values"},
		{"features without soft tokens", 64, text, [][]float32{g.features}, "0 image soft tokens"},
		{"NaN feature", 64, g.ids, [][]float32{nan}, "feature 5 of row 3 is NaN"},
		{"id outside the vocabulary", 64, badID, [][]float32{g.features}, "token id 1027 outside the vocabulary"},
		{"context full", 20, g.ids, [][]float32{g.features}, ErrContextFull.Error()},
		{"empty prompt", 64, nil, nil, "no tokens"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := m.NewSession(Options{Ctx: c.ctx, Chunk: 8})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.FeedImagesAll(c.ids, c.images)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if c.name == "context full" && !errors.Is(err, ErrContextFull) {
				t.Errorf("error %v does not wrap ErrContextFull", err)
			}
			if s.Pos() != 0 {
				t.Errorf("%d tokens evaluated before the error", s.Pos())
			}
		})
	}
	s := m.mustSession(t, 0)
	if _, err := s.Generate(context.Background(), nil, GenerateOptions{Images: [][]float32{g.features}}); err == nil {
		t.Error("images without a prompt: no error")
	}
	if _, err := s.Generate(context.Background(), g.ids, GenerateOptions{MaxTokens: 1}); err == nil {
		t.Error("a prompt with soft tokens and no images: no error")
	}
	if _, err := m.BuildStep(4, []int{8, 8, 8, 8, 8, 8, 8}, StepOptions{Images: true, Hidden: true}); err == nil {
		t.Error("hidden states of an image step: no error")
	}
}

// greedyAfterImage is the reference for generation after an image prompt:
// each next token is the argmax of the last row of a fresh evaluation of
// the whole sequence so far.
func greedyAfterImage(t *testing.T, m *Model, g *vlmGolden, n int) []int {
	t.Helper()
	seq := slices.Clone(g.ids)
	var out []int
	for range n {
		all, err := m.mustSession(t, 0).FeedImagesAll(seq, [][]float32{g.features})
		if err != nil {
			t.Fatal(err)
		}
		id := argmax(all[(len(seq)-1)*m.Config.Vocab:])
		out, seq = append(out, id), append(seq, id)
	}
	return out
}

// generateAfterImage runs Generate with the image prompt and returns the
// tokens it produced.
func generateAfterImage(t *testing.T, s *Session, g *vlmGolden, n int) []int {
	t.Helper()
	var got []int
	_, err := s.Generate(context.Background(), g.ids, GenerateOptions{MaxTokens: n, Stop: []int{},
		Images: [][]float32{g.features}, OnToken: func(id int) error { got = append(got, id); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestImageGenerate(t *testing.T) {
	m, g := loadVLM(t)
	const n = 6
	want := greedyAfterImage(t, m, g, n)
	if first := argmax(g.logits[(len(g.ids)-1)*m.Config.Vocab:]); want[0] != first {
		t.Fatalf("first greedy token %d, transformers' argmax %d", want[0], first)
	}
	got := generateAfterImage(t, m.mustSession(t, 5), g, n)
	if !slices.Equal(got, want) {
		t.Errorf("generated %v, want %v", got, want)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
