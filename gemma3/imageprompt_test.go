package gemma3

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/tokenizer"
)

// processorFixture is testdata/chat.json.
type processorFixture struct {
	prompts    []string
	messages   [][]tokenizer.Message
	pasIDs     []int // the third conversation with Pan & Scan
	pasSoft    int   // token_type_ids_sum: image soft tokens in pasIDs
	prompt0IDs []int
}

func readProcessorFixture(t *testing.T) processorFixture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "chat.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Prompt     string `json:"prompt"`
		PasIDs     []int  `json:"pan_and_scan_prompt_ids"`
		PasSoft    int    `json:"token_type_ids_sum"`
		Prompt0IDs []int  `json:"prompt0_ids"`
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatal(err)
	}
	var f processorFixture
	for _, e := range entries {
		switch {
		case e.Messages != nil:
			var msgs []tokenizer.Message
			for _, m := range e.Messages {
				msg := tokenizer.Message{Role: m.Role}
				if err := json.Unmarshal(m.Content, &msg.Content); err != nil {
					var parts []tokenizer.Part
					if err := json.Unmarshal(m.Content, &parts); err != nil {
						t.Fatalf("content %s: %v", m.Content, err)
					}
					msg.Parts = parts
				}
				msgs = append(msgs, msg)
			}
			f.messages = append(f.messages, msgs)
			f.prompts = append(f.prompts, e.Prompt)
		case e.PasIDs != nil:
			f.pasIDs, f.pasSoft = e.PasIDs, e.PasSoft
		case e.Prompt0IDs != nil:
			f.prompt0IDs = e.Prompt0IDs
		}
	}
	if len(f.messages) != 3 || f.pasIDs == nil || f.prompt0IDs == nil {
		t.Fatalf("chat.json: %d conversations, Pan & Scan ids %v, prompt0 ids %v", len(f.messages), f.pasIDs != nil, f.prompt0IDs != nil)
	}
	return f
}

// hfTokenizer loads the real Gemma 3 tokenizer.json (with
// <image_soft_token>, which the 270M GGUF vocabulary lacks).
func hfTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.LoadHFJSON(testutil.AssetPath(t, "tokenizer/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dropDoubleBOS removes the second <bos> transformers adds.
func dropDoubleBOS(t *testing.T, ids []int) []int {
	t.Helper()
	if len(ids) < 2 || ids[0] != 2 || ids[1] != 2 {
		t.Fatalf("fixture ids should start with <bos><bos>: %v", ids[:min(len(ids), 4)])
	}
	return ids[1:]
}

func count(ids []int, id int) int {
	n := 0
	for _, v := range ids {
		if v == id {
			n++
		}
	}
	return n
}

// TestImagePromptFixture reproduces transformers' processor ids: the Pan &
// Scan image prompt, the same prompt without Pan & Scan, and the text-only
// prompt, each with one <bos>.
func TestImagePromptFixture(t *testing.T) {
	f := readProcessorFixture(t)
	tok := hfTokenizer(t)
	for i, msgs := range f.messages {
		text, err := tokenizer.RenderChat(msgs, true)
		if err != nil || text != f.prompts[i] {
			t.Fatalf("conversation %d renders %q (%v), want %q", i, text, err, f.prompts[i])
		}
	}

	// Pan & Scan: the crop count is what the ids hold (the fixture's
	// num_crops field reads [0]; its token_type_ids_sum agrees with 3).
	want := dropDoubleBOS(t, f.pasIDs)
	if f.pasSoft%DefaultImageTokens != 0 || count(want, ImageSoftTokenID) != f.pasSoft {
		t.Fatalf("fixture: %d soft tokens, token_type_ids_sum %d", count(want, ImageSoftTokenID), f.pasSoft)
	}
	crops := f.pasSoft/DefaultImageTokens - 1
	got, err := EncodeImagePrompt(tok, f.prompts[2], DefaultImageTokens, []int{crops})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Pan & Scan prompt (%d crops):\n got  %v\n want %v", crops, got, want)
	}

	// Without Pan & Scan the image is one SEQ. GEMMA3.md §8.3: "user\n"
	// and SEQ's leading "\n\n" merge into "user" + "\n\n\n" (109); after
	// EOI the text continues as in the Pan & Scan prompt's tail.
	lastEOI := 0
	for j, id := range want {
		if id == EndOfImageID {
			lastEOI = j
		}
	}
	plain := []int{2, 105, 2364, 109, StartOfImageID}
	for range DefaultImageTokens {
		plain = append(plain, ImageSoftTokenID)
	}
	plain = append(plain, want[lastEOI:]...)
	got, err = EncodeImagePrompt(tok, f.prompts[2], DefaultImageTokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, plain) {
		t.Errorf("image prompt without crops:\n got  %v\n want %v", got, plain)
	}

	// No images: exactly the plain chat prompt's ids.
	got, err = EncodeImagePrompt(tok, f.prompts[0], DefaultImageTokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := dropDoubleBOS(t, f.prompt0IDs); !slices.Equal(got, want) {
		t.Errorf("text prompt:\n got  %v\n want %v", got, want)
	}
	for i, p := range f.prompts {
		ids, err := EncodeImagePrompt(tok, p, DefaultImageTokens, nil)
		if err != nil {
			t.Fatal(err)
		}
		if count(ids, 2) != 1 || ids[0] != 2 {
			t.Errorf("prompt %d: want one <bos>, first: %v", i, ids[:min(len(ids), 4)])
		}
	}
}

func TestExpandImages(t *testing.T) {
	seq := ImageSeq(2)
	if want := "\n\n<start_of_image><image_soft_token><image_soft_token><end_of_image>\n\n"; seq != want {
		t.Fatalf("ImageSeq(2) = %q, want %q (GEMMA3.md §8.3)", seq, want)
	}
	for _, tc := range []struct {
		name, prompt string
		crops        []int
		want         string
	}{
		{"no image", "a b", nil, "a b"},
		{"two images", "x<start_of_image>y<start_of_image>", nil, "x" + seq + "y" + seq},
		{"crops for the second image only", "<start_of_image>|<start_of_image>", []int{0, 2},
			seq + "|Here is the original image " + seq + " and here are some crops to help you see better " + seq + " " + seq},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExpandImages(tc.prompt, 2, tc.crops)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		tokens int
		crops  []int
	}{
		{"crop counts for the wrong number of images", 2, []int{1, 1}},
		{"negative crops", 2, []int{-1}},
		{"no tokens per image", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := ExpandImages("<start_of_image>", tc.tokens, tc.crops); err == nil {
				t.Fatalf("accepted: %q", s)
			}
		})
	}
	if !strings.Contains(ImageSeq(DefaultImageTokens), strings.Repeat("<image_soft_token>", 256)) {
		t.Error("ImageSeq(DefaultImageTokens) does not hold 256 soft tokens")
	}
}

// TestImagePromptTextOnlyVocabulary: the 270M GGUF vocabulary has no
// <image_soft_token>; an image prompt must fail rather than split it.
func TestImagePromptTextOnlyVocabulary(t *testing.T) {
	m := realModel(t)
	msgs := []tokenizer.Message{{Role: "user", Parts: []tokenizer.Part{{Type: "image"}, {Type: "text", Text: "hi"}}}}
	if ids, err := m.ChatPromptImages(msgs, 0, nil); err == nil {
		t.Fatalf("accepted, ids %v", ids[:min(len(ids), 8)])
	} else {
		t.Log(err)
	}
}
