package gemma3

import (
	"slices"
	"strings"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/tokenizer"
)

// tinyTokenizer is a tokenizer of the tiny models' 1024 ids with the image
// tokens img.
func tinyTokenizer(t *testing.T, img testutil.TinyImageIDs) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.FromHFJSON(testutil.TinyTokenizerJSON(t, 1024, img))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tinySeq is one image's text with the fixture's 16 soft tokens, written
// out (GEMMA3.md §8.3).
var tinySeq = "\n\n<start_of_image>" + strings.Repeat("<image_soft_token>", 16) + "<end_of_image>\n\n"

// TestEnableImages: the image ids come from the config, else from the
// vocabulary, and must be the vocabulary's pieces; the tokens per image
// must agree.
func TestEnableImages(t *testing.T) {
	vlm := testutil.VLMTinyImageIDs
	moved := testutil.TinyImageIDs{BOI: 1010, EOI: 1011, Soft: 1012}
	fromConfig := ImageConfig{Token: 1002, BOI: 1000, EOI: 1001, Tokens: 16}
	for _, c := range []struct {
		name   string
		config ImageConfig // the model's before
		vocab  *testutil.TinyImageIDs
		tokens int
		want   ImageConfig // after, when there is no error
		err    string
	}{
		{"HF config", fromConfig, &vlm, 16, fromConfig, ""},
		{"GGUF: ids from the vocabulary", ImageConfig{}, &moved, 16, ImageConfig{Token: 1012, BOI: 1010, EOI: 1011, Tokens: 16}, ""},
		{"vocabulary disagrees with the config", fromConfig, &moved, 16, ImageConfig{}, "no <start_of_image> token 1000"},
		{"text-only vocabulary", fromConfig, &testutil.TinyImageIDs{}, 16, ImageConfig{}, "text-only vocabulary"},
		{"text-only vocabulary, GGUF", ImageConfig{}, &testutil.TinyImageIDs{}, 16, ImageConfig{}, "no <start_of_image> token 255999"},
		{"other tokens per image", fromConfig, &vlm, 64, ImageConfig{}, "16 tokens per image, the vision tower gives 64"},
		{"no tokens per image", fromConfig, &vlm, 0, ImageConfig{}, "0 tokens per image"},
		{"no tokenizer", fromConfig, nil, 16, ImageConfig{}, "no tokenizer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &Model{Config: Config{Image: c.config}}
			if c.vocab != nil {
				m.Tokenizer = tinyTokenizer(t, *c.vocab)
			}
			err := m.EnableImages(c.tokens)
			switch {
			case c.err == "" && err != nil:
				t.Fatal(err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want one containing %q", err, c.err)
			case c.err == "" && m.Config.Image != c.want:
				t.Errorf("image config %+v, want %+v", m.Config.Image, c.want)
			}
		})
	}
}

// TestImageText: raw text with markers becomes <bos> and the expanded
// text's ids.
func TestImageText(t *testing.T) {
	m := &Model{Config: Config{BOS: 2, Image: ImageConfig{Token: 1002, BOI: 1000, EOI: 1001, Tokens: 16}},
		Tokenizer: tinyTokenizer(t, testutil.VLMTinyImageIDs)}
	got, err := m.ImageText("a<start_of_image>b", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := m.Tokenizer.Encode("<bos>a"+tinySeq+"b", true); !slices.Equal(got, want) {
		t.Errorf("ids %v, want %v", got, want)
	}
	if _, err := m.ImageText("a<start_of_image>b", []int{1, 2}); err == nil {
		t.Error("two crop counts for one image accepted")
	}
}

// TestChatSendImages: two turns with images put each turn's expanded text
// in the cache after the previous answer and feed both images' features;
// a fresh session fed the same tokens and features answers the second
// turn the same way. The history keeps the image parts, which RestoreChat
// refuses.
func TestChatSendImages(t *testing.T) {
	m, g := loadVLM(t)
	m.Tokenizer = tinyTokenizer(t, testutil.VLMTinyImageIDs)
	second := slices.Clone(g.features)
	for i := range second {
		second[i] = -0.5 * second[i]
	}
	s := chatSession(t, m, 7)
	c := NewChat(s, "Be brief.")
	gen := func(answer *[]int) GenerateOptions {
		return GenerateOptions{MaxTokens: 3, OnToken: func(id int) error { *answer = append(*answer, id); return nil }}
	}
	var a1, a2 []int
	if _, err := c.SendImages(t.Context(), " What? ", []ImageFeatures{{g.features}}, gen(&a1)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendImages(t.Context(), "And this?", []ImageFeatures{{second}}, gen(&a2)); err != nil {
		t.Fatal(err)
	}
	enc := func(text string) []int { return m.Tokenizer.Encode(text, true) }
	p1 := enc("<bos><start_of_turn>user\nBe brief.\n\n" + tinySeq + "What?<end_of_turn>\n<start_of_turn>model\n")
	p2 := enc("<end_of_turn>\n<start_of_turn>user\n" + tinySeq + "And this?<end_of_turn>\n<start_of_turn>model\n")
	want := slices.Concat(p1, a1, p2, a2)
	if got := s.Tokens(); !slices.Equal(got, want) {
		t.Fatalf("cache holds\n%v\nwant\n%v", got, want)
	}

	fresh := chatSession(t, m, 0)
	var b2 []int
	prompt := slices.Concat(p1, a1, p2)
	opt := gen(&b2)
	opt.Images = [][]float32{g.features, second}
	if _, err := fresh.Generate(t.Context(), prompt, opt); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b2, a2) {
		t.Errorf("second answer %v, a fresh session gives %v", a2, b2)
	}

	msgs := c.Messages()
	image := tokenizer.Part{Type: "image"}
	if len(msgs) != 5 || !slices.Equal(msgs[1].Parts, []tokenizer.Part{image, {Type: "text", Text: "What?"}}) ||
		!slices.Equal(msgs[3].Parts, []tokenizer.Part{image, {Type: "text", Text: "And this?"}}) {
		t.Errorf("messages %+v", msgs)
	}
	if _, err := RestoreChat(chatSession(t, m, 0), msgs); err == nil || !strings.Contains(err.Error(), "only text") {
		t.Errorf("RestoreChat of a conversation with images: %v", err)
	}
}

// TestChatSendImagesErrors: messages whose images do not fit are refused
// before anything is fed.
func TestChatSendImagesErrors(t *testing.T) {
	m, g := loadVLM(t)
	m.Tokenizer = tinyTokenizer(t, testutil.VLMTinyImageIDs)
	for _, c := range []struct {
		name   string
		user   string
		images []ImageFeatures
		want   string
	}{
		{"no features", "hi", []ImageFeatures{{}}, "image 0 has no features"},
		{"marker in the text", "a <start_of_image> b", []ImageFeatures{{g.features}}, "crop counts for 2 images"},
		{"features of another width", "hi", []ImageFeatures{{g.features[:100]}}, "not whole rows"},
		{"two crops' features for one run", "hi", []ImageFeatures{{g.features[:16*64], g.features[16*64:]}}, "soft tokens"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := chatSession(t, m, 0)
			_, err := NewChat(s, "").SendImages(t.Context(), c.user, c.images, GenerateOptions{MaxTokens: 1})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if s.Pos() != 0 {
				t.Errorf("%d tokens fed", s.Pos())
			}
		})
	}
}

// chatSession is a CPU session with room for a few turns with images.
func chatSession(t *testing.T, m *Model, chunk int) *Session {
	t.Helper()
	s, err := m.NewSession(Options{Ctx: 256, Chunk: chunk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}
