package testutil

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// VLMTinyDir is the directory of the vlm-tiny fixture (a tiny random
// Gemma3ForConditionalGeneration checkpoint without a tokenizer).
func VLMTinyDir() string { return filepath.Join(RepoRoot(), "gemma3", "testdata", "vlm-tiny") }

// VLMTinyWithTokenizer is a checkpoint directory of the vlm-tiny model
// (links to its config.json and weights) with a tokenizer.json of its 1024
// ids and the image tokens img (TinyTokenizerJSON).
func VLMTinyWithTokenizer(t testing.TB, img TinyImageIDs) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		if err := os.Symlink(filepath.Join(VLMTinyDir(), f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), TinyTokenizerJSON(t, 1024, img), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// PatternPNG encodes a w×h colour pattern as PNG; seed varies the blue
// channel, so that two seeds give two different images.
func PatternPNG(t testing.TB, w, h, seed int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x*7 + y*13 + seed*97) % 256), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
