package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gemmavk/gemma3"
	"gemmavk/gemma3/sample"
	"gemmavk/gpu"
	"gemmavk/internal/testutil"
	"gemmavk/internal/visiontest"
	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
	"gemmavk/siglip"
	"gemmavk/tokenizer"
)

// Tolerances of the vlm-tiny logits against transformers (max abs error
// over max abs value): f32 on the CPU; on Vulkan an f16 KV cache and the
// GPU's own exp and summation orders.
const (
	cpuLogitsTol = 1e-4
	vkLogitsTol  = 2e-3
)

// backends are the executors the image tests run on: the CPU, and Vulkan
// when a device exists (vktest.Device skips, or fails where one must).
var backends = []string{"cpu", "vulkan"}

// backendDevice returns the device a reference computation runs on for
// backend: nil for the CPU, the shared validated test device for Vulkan.
func backendDevice(t *testing.T, backend string) *gpu.Device {
	t.Helper()
	if backend == "vulkan" {
		return vktest.Device(t)
	}
	return nil
}

// vlmWithTokenizer is a checkpoint directory of the vlm-tiny model (which
// ships no tokenizer) with a tokenizer.json of its 1024 ids and the image
// tokens img.
func vlmWithTokenizer(t *testing.T, img testutil.TinyImageIDs) string {
	return testutil.VLMTinyWithTokenizer(t, img)
}

// writePNG writes a w×h colour pattern as a PNG file.
func writePNG(t *testing.T, name string, w, h int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, testutil.PatternPNG(t, w, h, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLogitsWithSigLIP: --pixels encodes the fixture's image with the
// checkpoint's own vision tower, and the logits of the whole prompt are
// transformers' on both executors.
func TestLogitsWithSigLIP(t *testing.T) {
	ids, pixels, _, want := vlmGolden(t)
	px := writeTensor(t, "pixel_values", []int{1, 3, 64, 64}, pixels)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			tol := cpuLogitsTol
			if backend == "vulkan" {
				vktest.Device(t)
				tol = vkLogitsTol
			}
			out := filepath.Join(t.TempDir(), "logits.safetensors")
			if _, stderr, err := runArgs(t, "", "-m", vlmDir, "--ids", ids, "--pixels", px, "--logits", out, "--backend", backend); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			testutil.CheckClose(t, "logits", readLogits(t, out), want, tol)
		})
	}
}

// imageSeq is one image's text with vlm-tiny's 16 soft tokens (GEMMA3.md
// §8.3), written out rather than taken from gemma3.
var imageSeq = "\n\n<start_of_image>" + strings.Repeat("<image_soft_token>", 16) + "<end_of_image>\n\n"

// sampling is what the image tests generate with (run's flags and the
// references' config). The tiny random model's answers hardly depend on
// the prompt (they mostly repeat its last token), so TestImagePromptInputs
// checks the ids and features that generation starts from.
var (
	samplingFlags = []string{"--temp", "1", "--seed", "7"}
	sampling      = sample.Config{Temperature: 1, Seed: 7, RepeatPenalty: 1, RepeatLastN: 64}
)

// referenceInputs returns what a prompt with images should feed: the ids
// of text (special tokens parsed), and the features of each image and
// crop, encoded on dev from the pixels imageproc.Preprocess gives.
func referenceInputs(t *testing.T, m *gemma3.Model, dir, text string, images []string, panAndScan bool, dev *gpu.Device) ([]int, [][]float32) {
	t.Helper()
	files := make([][]byte, len(images))
	for i, path := range images {
		var err error
		if files[i], err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	features, _ := visiontest.Features(t, dir, dev, panAndScan, files...)
	return m.Tokenizer.Encode(text, true), features
}

// referenceAnswer generates from the reference inputs on dev and returns
// the answer as run prints it and the number of tokens.
func referenceAnswer(t *testing.T, dir, text string, images []string, panAndScan bool, dev *gpu.Device, n int) (string, int) {
	t.Helper()
	m, err := gemma3.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ids, features := referenceInputs(t, m, dir, text, images, panAndScan, dev)
	answer := visiontest.Generate(t, m, dev, 256, ids, features, n, sampling)
	return m.Tokenizer.Decode(answer), len(answer)
}

// statsTokens reads the prompt and generated token counts of run's stats
// line.
func statsTokens(t *testing.T, stderr string) (prompt, generated int) {
	t.Helper()
	g := regexp.MustCompile(`prompt: (\d+) tokens.*generation: (\d+) tokens`).FindStringSubmatch(stderr)
	if g == nil {
		t.Fatalf("no stats line in\n%s", stderr)
	}
	prompt, _ = strconv.Atoi(g[1])
	generated, _ = strconv.Atoi(g[2])
	return prompt, generated
}

// imagePromptCase is a -p with images and the prompt it must become.
type imagePromptCase struct {
	name   string
	args   []string
	images []string
	pas    bool
	prompt string // the expected prompt text, expanded by hand (GEMMA3.md §7.1, §8)
	note   string // the progress line on stderr
}

func imagePromptCases(t *testing.T) []imagePromptCase {
	small := writePNG(t, "small.png", 80, 48)
	wide := writePNG(t, "wide.png", 768, 256) // three 256×256 crops
	turn := func(user string) string {
		return "<bos><start_of_turn>user\n" + user + "<end_of_turn>\n<start_of_turn>model\n"
	}
	return []imagePromptCase{
		{"template", []string{"-p", " What is it? "}, []string{small}, false,
			turn(imageSeq + "What is it?"), "encoding image 1/1: small.png, 80x48"},
		{"system", []string{"-p", "What is it?", "--system", "Be brief."}, []string{small}, false,
			turn("Be brief.\n\n" + imageSeq + "What is it?"), "encoding image 1/1"},
		{"two images", []string{"-p", "Compare."}, []string{small, wide}, false,
			turn(imageSeq + imageSeq + "Compare."), "encoding image 2/2: wide.png, 768x256"},
		{"pan and scan", []string{"-p", "Look.", "--pan-and-scan"}, []string{wide}, true,
			turn("Here is the original image " + imageSeq + " and here are some crops to help you see better " +
				imageSeq + " " + imageSeq + " " + imageSeq + "Look."), "encoding image 1/1 (3 crops)"},
		{"raw at a marker", []string{"--raw", "-p", "A photo: <start_of_image> shows"}, []string{small}, false,
			"<bos>A photo: " + imageSeq + " shows", "encoding image 1/1"},
		{"raw prepended", []string{"--raw", "-p", "It shows"}, []string{small}, false,
			"<bos>" + imageSeq + "It shows", "encoding image 1/1"},
	}
}

// TestImagePromptInputs: -p with --image feeds the prompt text expanded as
// GEMMA3.md §7.1 and §8 say, and the features of each image and crop in
// order, encoded from the preprocessed pixels on the text model's
// executor.
func TestImagePromptInputs(t *testing.T) {
	dir := vlmWithTokenizer(t, testutil.VLMTinyImageIDs)
	for _, c := range imagePromptCases(t) {
		for _, backend := range backends {
			t.Run(c.name+"/"+backend, func(t *testing.T) {
				dev := backendDevice(t, backend)
				args := append([]string{"-m", dir}, c.args...)
				for _, img := range c.images {
					args = append(args, "--image", img)
				}
				o, err := parseFlags(args, io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				m, err := gemma3.Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				var note strings.Builder
				vis, err := openVision(o, m, newProgress(&note), &note)
				if err != nil {
					t.Fatal(err)
				}
				defer vis.Close()
				vis.use(dev, 0, nil)
				ids, features, err := vis.prompt(o, m)
				if err != nil {
					t.Fatal(err)
				}
				wantIDs, wantFeatures := referenceInputs(t, m, dir, c.prompt, c.images, c.pas, dev)
				if !slices.Equal(ids, wantIDs) {
					t.Errorf("ids\n%v\nwant\n%v", ids, wantIDs)
				}
				if len(features) != len(wantFeatures) {
					t.Fatalf("%d images and crops, want %d", len(features), len(wantFeatures))
				}
				for i := range features {
					if !slices.Equal(features[i], wantFeatures[i]) {
						t.Errorf("features of image or crop %d differ from the reference's", i)
					}
				}
				if !strings.Contains(note.String(), c.note) {
					t.Errorf("notes lack %q: %s", c.note, note.String())
				}
			})
		}
	}
}

// TestImageGeneration: run -p with --image generates what generating from
// the reference inputs does, on both executors.
func TestImageGeneration(t *testing.T) {
	dir := vlmWithTokenizer(t, testutil.VLMTinyImageIDs)
	for _, c := range imagePromptCases(t) {
		for _, backend := range backends {
			t.Run(c.name+"/"+backend, func(t *testing.T) {
				dev := backendDevice(t, backend)
				const n = 12
				args := append([]string{"-m", dir, "-n", strconv.Itoa(n), "--ctx", "256", "--backend", backend}, samplingFlags...)
				args = append(args, c.args...)
				for _, img := range c.images {
					args = append(args, "--image", img)
				}
				out, stderr, err := runArgs(t, "", args...)
				if err != nil {
					t.Fatalf("%v\n%s", err, stderr)
				}
				want, tokens := referenceAnswer(t, dir, c.prompt, c.images, c.pas, dev, n)
				if got := strings.TrimSuffix(out, "\n"); got != want {
					t.Errorf("answer %q, want %q", got, want)
				}
				m, err := gemma3.Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				wantPrompt := len(m.Tokenizer.Encode(c.prompt, true))
				if prompt, gen := statsTokens(t, stderr); prompt != wantPrompt || gen != tokens {
					t.Errorf("%d prompt tokens and %d generated, want %d and %d", prompt, gen, wantPrompt, tokens)
				}
				if !strings.Contains(stderr, c.note) {
					t.Errorf("stderr lacks %q:\n%s", c.note, stderr)
				}
				if backend == "vulkan" && !strings.Contains(stderr, "run: Vulkan: ") {
					t.Errorf("not on Vulkan:\n%s", stderr)
				}
			})
		}
	}
}

// pngHeader is a PNG signature and IHDR chunk for a w×h RGB image, with no
// pixel data after it.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(ihdr)-4)))
	b.Write(ihdr)
	b.Write(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(ihdr)))
	return b.Bytes()
}

// TestBadImages: images that cannot be read, and images for a model that
// cannot take them, are one-line errors before anything is generated.
func TestBadImages(t *testing.T) {
	dir := vlmWithTokenizer(t, testutil.VLMTinyImageIDs)
	good := writePNG(t, "good.png", 32, 32)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncated := file("truncated.png", data[:len(data)/2])
	empty := file("empty.png", nil)
	text := file("notes.png", []byte("these are not pixels\n"))
	huge := file("huge.png", pngHeader(100000, 100000))
	zero := file("zero.png", pngHeader(0, 16))
	textOnly := vlmWithTokenizer(t, testutil.TinyImageIDs{})
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"-m", dir, "-p", "x", "--image", filepath.Join(tmp, "nope.png")}, "no such file"},
		{"truncated", []string{"-m", dir, "-p", "x", "--image", truncated}, "truncated"},
		{"empty file", []string{"-m", dir, "-p", "x", "--image", empty}, "empty image"},
		{"zero width", []string{"-m", dir, "-p", "x", "--image", zero}, "imageproc"},
		{"not an image", []string{"-m", dir, "-p", "x", "--image", text}, "unsupported image format"},
		{"enormous", []string{"-m", dir, "-p", "x", "--image", huge}, "too large"},
		{"directory", []string{"-m", dir, "-p", "x", "--image", tmp}, "directory"},
		{"text-only model", []string{"-m", tinyDir, "-p", "x", "--image", good}, "has no vision tower; pair a GGUF with one through --mmproj"},
		{"text-only vocabulary", []string{"-m", textOnly, "-p", "x", "--image", good}, "the tokenizer has no <start_of_image> token 1000"},
		{"no tokenizer", []string{"-m", vlmDir, "-p", "x", "--image", good}, "no tokenizer"},
		{"with --ids", []string{"-m", dir, "--ids", "2", "--logits", filepath.Join(tmp, "o"), "--image", good}, "--pixels or --features"},
		{"marker without --raw", []string{"-m", dir, "-p", "a <start_of_image> b", "--image", good}, "with --raw they go at the markers"},
		{"markers for another count", []string{"-m", dir, "--raw", "-p", "<start_of_image><start_of_image>", "--image", good}, "2 <start_of_image> markers for 1 images"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, err := runArgs(t, "", c.args...)
			if err == nil {
				t.Fatalf("accepted; output %q", out)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if out != "" {
				t.Errorf("output %q before the error", out)
			}
			if strings.Contains(stderr, "panic") {
				t.Errorf("stderr: %s", stderr)
			}
		})
	}
}

// TestChatImage: /image attaches an image to the next message, whose
// answer is the one -p gives for the same image and text; a second image
// goes with a later turn; a bad file is refused with the chat going on;
// /save keeps the text with the image marked.
func TestChatImage(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			backendDevice(t, backend)
			testChatImage(t, backend)
		})
	}
}

func testChatImage(t *testing.T, backend string) {
	dir := vlmWithTokenizer(t, testutil.VLMTinyImageIDs)
	img := writePNG(t, "cat.png", 80, 48)
	other := writePNG(t, "dog.png", 40, 90)
	saved := filepath.Join(t.TempDir(), "chat.json")
	common := append([]string{"-m", dir, "-n", "8", "--ctx", "256", "--backend", backend}, samplingFlags...)
	want, pStderr, err := runArgs(t, "", append(common, "-p", "What is this?", "--image", img)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, pStderr)
	}
	script := strings.Join([]string{
		"/image " + img,
		"What is this?",
		"/stats",
		"/image " + filepath.Join(t.TempDir(), "missing.png"),
		"/image " + other,
		"And this one?",
		"/save " + saved,
		"/bye",
	}, "\n") + "\n"
	out, stderr, err := runArgs(t, script, common...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	// A prompt per line read; the answers follow the second and fifth.
	second, ok := strings.CutPrefix(out, "> > "+want+"> > > > ")
	if !ok {
		t.Fatalf("output %q, want the first answer to be -p's %q", out, want)
	}
	if a, ok := strings.CutSuffix(second, "\n> > "); !ok || a == "" {
		t.Errorf("second answer: output %q", second)
	}
	// The first turn holds the image's tokens: the context is -p's prompt
	// and answer.
	prompt, gen := statsTokens(t, pStderr)
	for _, s := range []string{
		fmt.Sprintf("context: %d of 256 tokens", prompt+gen),
		"attached " + img + "; it goes with your next message",
		"attached " + other,
		"missing.png: no such file or directory",
		"note: the file keeps text only: 2 images marked [image], not saved",
	} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
	msgs, err := readChat(saved)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 || msgs[0].Content != "[image] What is this?" || msgs[2].Content != "[image] And this one?" {
		t.Errorf("saved %+v", msgs)
	}
	// --image without -p attaches to the first message.
	out2, stderr, err := runArgs(t, "What is this?\n", append(common, "--image", img)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(out2, "> "+want) || !strings.Contains(stderr, "1 image attached to your first message") {
		t.Errorf("--image in the chat: output %q, want the answer %q\n%s", out2, want, stderr)
	}
}

// TestMMProjPairing: the vlm-tiny text model exported to GGUF and its
// vision tower written as an mmproj file pair up: the logits of the
// fixture's prompt are transformers', and generation matches the HF
// directory's. Mismatched pairs are refused.
func TestMMProjPairing(t *testing.T) {
	dir := vlmWithTokenizer(t, testutil.VLMTinyImageIDs)
	tmp := t.TempDir()
	text, mmproj := visiontest.SplitGGUF(t, dir)

	t.Run("logits", func(t *testing.T) {
		ids, pixels, _, want := vlmGolden(t)
		px := writeTensor(t, "pixel_values", []int{1, 3, 64, 64}, pixels)
		out := filepath.Join(t.TempDir(), "logits.safetensors")
		if _, stderr, err := runArgs(t, "", "-m", text, "--mmproj", mmproj, "--ids", ids, "--pixels", px, "--logits", out); err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		testutil.CheckClose(t, "logits", readLogits(t, out), want, cpuLogitsTol)
	})
	t.Run("generation", func(t *testing.T) {
		img := writePNG(t, "cat.png", 80, 48)
		args := append([]string{"-n", "10", "--ctx", "256", "-p", "What is this?", "--image", img, "--backend", "cpu"}, samplingFlags...)
		want, stderr, err := runArgs(t, "", append([]string{"-m", dir}, args...)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		got, stderr, err := runArgs(t, "", append([]string{"-m", text, "--mmproj", mmproj}, args...)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		if got != want {
			t.Errorf("GGUF and mmproj answer %q, the HF directory %q", got, want)
		}
	})

	// An mmproj projecting to another width, and files that are not mmproj.
	cfg, err := siglip.SyntheticConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.TextHidden = 64
	narrow, err := siglip.Synthetic(cfg, quant.F32, 1)
	if err != nil {
		t.Fatal(err)
	}
	narrowPath := filepath.Join(tmp, "narrow.gguf")
	visiontest.WriteMMProj(t, narrowPath, narrow)
	img := writePNG(t, "cat.png", 32, 32)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"other width", []string{"-m", text, "--mmproj", narrowPath, "-p", "x", "--image", img}, "64-wide features, the text model is 128 wide"},
		{"other width, --pixels", []string{"-m", text, "--mmproj", narrowPath, "--ids", "2", "--pixels", img, "--logits", filepath.Join(tmp, "o")}, "64-wide features"},
		{"text GGUF as mmproj", []string{"-m", text, "--mmproj", text, "-p", "x", "--image", img}, "--mmproj"},
		{"missing mmproj", []string{"-m", text, "--mmproj", filepath.Join(tmp, "none.gguf"), "-p", "x"}, "no such file"},
		{"GGUF without mmproj", []string{"-m", text, "-p", "x", "--image", img}, "--mmproj FILE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runArgs(t, "", c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestChatImageMessageText: what /save keeps of messages with images.
func TestChatImageMessageText(t *testing.T) {
	for _, c := range []struct {
		msg    tokenizer.Message
		text   string
		images int
	}{
		{tokenizer.Message{Role: "user", Content: "hi"}, "hi", 0},
		{tokenizer.Message{Role: "user", Parts: []tokenizer.Part{{Type: "image"}, {Type: "text", Text: "hi"}}}, "[image] hi", 1},
		{tokenizer.Message{Role: "user", Parts: []tokenizer.Part{{Type: "image"}, {Type: "image"}}}, "[image] [image]", 2},
	} {
		text, n := savedText(c.msg)
		if text != c.text || n != c.images {
			t.Errorf("savedText(%+v) = %q, %d; want %q, %d", c.msg, text, n, c.text, c.images)
		}
	}
}
