package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"gemmavk"
	"gemmavk/gemma3"
	"gemmavk/gemma3/sample"
	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/visiontest"
)

// The vision tests serve the vlm-tiny fixture (a tiny random
// Gemma3ForConditionalGeneration checkpoint: 64×64 images, 16 soft tokens
// each) with the made-up tokenizer of testutil, and check answers against
// generation through packages gemma3 and siglip directly.

// visionModel loads the vlm-tiny checkpoint directory through the library,
// which takes the vision tower from the directory.
func visionModel(t *testing.T, device string) (*gemmavk.Model, string) {
	t.Helper()
	dir := testutil.VLMTinyWithTokenizer(t, testutil.VLMTinyImageIDs)
	m, err := gemmavk.Load(dir, gemmavk.Options{Device: device, Ctx: testCtx})
	if err != nil {
		if device == "vulkan" && os.Getenv("GEMMAVK_REQUIRE_GPU") != "1" {
			t.Skipf("no Vulkan device: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if !m.Vision() || !m.Info().Vision {
		t.Fatalf("%s: the model has no vision tower", dir)
	}
	return m, dir
}

func dataURL(png []byte) string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
}

// imageMessage is a user message of an image part then a text part.
func imageMessage(png []byte, text string) map[string]any {
	return map[string]any{"role": "user", "content": []map[string]any{
		{"type": "image_url", "image_url": map[string]any{"url": dataURL(png)}},
		{"type": "text", "text": text}}}
}

// seeded are the sampling fields of the requests whose answers are
// compared with the reference: sampled at temperature 1 with a fixed seed
// and a strong repeat penalty, so that the tiny random model does not
// just repeat the prompt's last token and the answer follows the image's
// features (the square, the wide image and its crops answer differently).
func seeded(msgs []map[string]any, extra map[string]any) map[string]any {
	b := map[string]any{"model": "tiny", "temperature": 1, "seed": 7, "repeat_penalty": 5, "max_tokens": 12, "messages": msgs}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// imageSeq is one image's text with vlm-tiny's 16 soft tokens (GEMMA3.md
// §8.3), written out rather than taken from the code under test.
var imageSeq = "\n\n<start_of_image>" + strings.Repeat("<image_soft_token>", 16) + "<end_of_image>\n\n"

// visionReference answers one user turn of an image and text as packages
// gemma3 and siglip do without the library: the prompt written out (with
// the Pan & Scan layout of GEMMA3.md §7.1 when crops are wanted), the image
// preprocessed and encoded part by part on dev, then one generation with
// the server's sampling for seeded requests. It returns the answer and
// the prompt's length.
func visionReference(t *testing.T, dir string, dev *gpu.Device, png []byte, text string, panAndScan bool) (string, int) {
	t.Helper()
	g, err := gemma3.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	features, crops := visiontest.Features(t, dir, dev, panAndScan, png)
	user := imageSeq
	if crops[0] > 0 {
		user = "Here is the original image " + imageSeq + " and here are some crops to help you see better " +
			strings.TrimSuffix(strings.Repeat(imageSeq+" ", crops[0]), " ")
	}
	ids := g.Tokenizer.Encode("<bos><start_of_turn>user\n"+user+text+"<end_of_turn>\n<start_of_turn>model\n", true)
	answer := visiontest.Generate(t, g, dev, testCtx, ids, features, 12,
		sample.Config{Temperature: 1, Seed: 7, RepeatPenalty: 5, RepeatLastN: 64})
	return g.Tokenizer.Decode(answer), len(ids)
}

// TestVisionChat sends chat completions with a PNG data URL, whole and
// streamed, with and without Pan & Scan: each answer is the reference's,
// and the usage counts the image's soft tokens.
func TestVisionChat(t *testing.T) {
	m, dir := visionModel(t, "cpu")
	_, hs := newServer(t, m, Config{})
	checkVisionChat(t, hs.URL, dir, nil)
}

func checkVisionChat(t *testing.T, url, dir string, dev *gpu.Device) {
	square := testutil.PatternPNG(t, 64, 64, 1)
	wide := testutil.PatternPNG(t, 768, 256, 2) // three 256×256 crops under Pan & Scan
	for _, c := range []struct {
		name       string
		png        []byte
		panAndScan bool
		stream     bool
	}{
		{"square", square, false, false},
		{"square streamed", square, false, true},
		{"wide", wide, false, false},
		{"wide with Pan & Scan", wide, true, false},
		{"wide with Pan & Scan streamed", wide, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			want, prompt := visionReference(t, dir, dev, c.png, "What is this?", c.panAndScan)
			body := seeded([]map[string]any{imageMessage(c.png, "What is this?")}, map[string]any{"pan_and_scan": c.panAndScan})
			var got string
			var u *usageOut
			if c.stream {
				body["stream_options"] = map[string]any{"include_usage": true}
				text, events := streamChat(t, url, body)
				got = text
				if len(events) > 0 {
					u = events[len(events)-1].Usage
				}
			} else {
				resp, data := post(t, url+"/v1/chat/completions", body)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, data)
				}
				r := decode(t, data)
				got, u = r.Choices[0].Message.Content, r.Usage
			}
			if got != want {
				t.Errorf("answer %q, the reference's %q", got, want)
			}
			if u == nil || u.PromptTokens != prompt {
				t.Errorf("usage %+v, want %d prompt tokens (the image's soft tokens included)", u, prompt)
			}
		})
	}
}

// TestVisionChatVulkan serves images on a Vulkan device (lavapipe here):
// the encoder runs on the model's device, and the answers are those of
// the reference on that device.
func TestVisionChatVulkan(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	m, dir := visionModel(t, "vulkan")
	_, hs := newServer(t, m, Config{})
	checkVisionChat(t, hs.URL, dir, m.Device())
}

// TestVisionPrefixReuse: a slot reuses the image tokens in its cache for
// the same image only. The next turn of a conversation evaluates only what
// is new; the same conversation with another image in its first message
// (the same token ids) is evaluated whole, and its answer is a fresh
// session's.
func TestVisionPrefixReuse(t *testing.T) {
	m, _ := visionModel(t, "cpu")
	s, hs := newServer(t, m, Config{Parallel: 1})
	a, b := testutil.PatternPNG(t, 64, 64, 1), testutil.PatternPNG(t, 64, 64, 2)
	turn := func(msgs []map[string]any) chatResp {
		t.Helper()
		body := map[string]any{"model": "tiny", "temperature": 0, "repeat_penalty": 3, "max_tokens": 4, "messages": msgs}
		resp, data := post(t, hs.URL+"/v1/chat/completions", body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, data)
		}
		return decode(t, data)
	}
	answer := func(r chatResp) string {
		t.Helper()
		text := r.Choices[0].Message.Content
		if strings.TrimSpace(text) != text || text == "" || strings.Contains(text, "<") {
			t.Fatalf("answer %q: the test needs one the template keeps as is", text)
		}
		return text
	}
	fresh := func(msgs []gemmavk.Message) string {
		t.Helper()
		p, err := m.ChatPrompt(msgs, gemmavk.PromptOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		opt := gemmavk.GenerateOptions{MaxTokens: 4}
		opt.Sampling.RepeatPenalty, opt.Sampling.RepeatLastN = 3, 64
		res, err := sess.GeneratePrompt(context.Background(), p, opt)
		if err != nil {
			t.Fatal(err)
		}
		return res.Text
	}
	image := func(png []byte) *gemmavk.Image {
		img, err := gemmavk.DecodeDataURL(dataURL(png))
		if err != nil {
			t.Fatal(err)
		}
		return img
	}

	msgs := []map[string]any{imageMessage(a, "Describe.")}
	r1 := turn(msgs)
	a1 := answer(r1)
	msgs = append(msgs, map[string]any{"role": "assistant", "content": a1}, map[string]any{"role": "user", "content": "More."})
	r2 := turn(msgs)
	if c, want := r2.Usage.PromptTokensDetails.CachedTokens, r1.Usage.PromptTokens+r1.Usage.CompletionTokens; c != want {
		t.Fatalf("second turn, same image: %d cached tokens, want the first turn's %d", c, want)
	}
	a2 := answer(r2)
	msgs = append(msgs, map[string]any{"role": "assistant", "content": a2}, map[string]any{"role": "user", "content": "Again."})
	// The slot holds turns one and two with image a; this prompt continues
	// them token for token, but its first message has image b.
	msgs[0] = imageMessage(b, "Describe.")
	before := s.Stats()
	r3 := turn(msgs)
	if c := r3.Usage.PromptTokensDetails.CachedTokens; c != 0 {
		t.Fatalf("another image: %d cached tokens, want 0 (the run of image a's tokens cannot be kept)", c)
	}
	if fed := s.Stats().EvaluatedTokens - before.EvaluatedTokens; fed != int64(r3.Usage.PromptTokens) {
		t.Fatalf("another image: %d prompt tokens evaluated, want all %d", fed, r3.Usage.PromptTokens)
	}
	gm := []gemmavk.Message{
		{Role: "user", Parts: []gemmavk.Part{{Image: image(b)}, {Text: "Describe."}}},
		{Role: "assistant", Text: a1}, {Role: "user", Text: "More."},
		{Role: "assistant", Text: a2}, {Role: "user", Text: "Again."}}
	if want := fresh(gm); r3.Choices[0].Message.Content != want {
		t.Fatalf("another image: %q, a fresh session says %q", r3.Choices[0].Message.Content, want)
	}
	gm[0].Parts[0].Image = image(a)
	if want := fresh(gm[:3]); r2.Choices[0].Message.Content != want {
		t.Fatalf("second turn: %q, a fresh session says %q", r2.Choices[0].Message.Content, want)
	}
}

// TestVisionErrors: images that do not decode and text posing as image
// tokens get 400 with a clear message.
func TestVisionErrors(t *testing.T) {
	m, _ := visionModel(t, "cpu")
	_, hs := newServer(t, m, Config{})
	good := testutil.PatternPNG(t, 64, 64, 1)
	for _, c := range []struct {
		name string
		msg  map[string]any
		code string
		says string
	}{
		{"truncated PNG", imageMessage(good[:len(good)/2], "What?"), "invalid_image", "truncated"},
		{"garbage", imageMessage([]byte("GIF89a, or so it says"), "What?"), "invalid_image", "messages[0].content[0]"},
		{"not an image format", imageMessage([]byte("hello, world"), "What?"), "invalid_image", "unsupported image format"},
		{"image token in text", map[string]any{"role": "user", "content": "Look: <start_of_image>"}, "invalid_value", "<start_of_image>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, data := post(t, hs.URL+"/v1/chat/completions", seeded([]map[string]any{c.msg}, nil))
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, data)
			}
			var e struct {
				Error struct {
					Message string `json:"message"`
					Code    string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(data, &e); err != nil || e.Error.Code != c.code || !strings.Contains(e.Error.Message, c.says) {
				t.Fatalf("error %s: want code %s and a message saying %q", data, c.code, c.says)
			}
		})
	}
}
