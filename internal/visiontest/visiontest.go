// Package visiontest gives the tests of code that feeds images a reference
// built from packages siglip, imageproc and gemma3 directly: the features
// of images as the vision tower encodes the processor's pixels, and a
// generation from given ids and features. Only tests import it.
package visiontest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"gemmavk/gemma3"
	"gemmavk/gemma3/sample"
	"gemmavk/gpu"
	"gemmavk/kernels/quant"
	"gemmavk/siglip"
	"gemmavk/siglip/imageproc"
)

// Features decodes each image file (imageproc.Decode), preprocesses it at
// the tower's image size (imageproc.Preprocess: the whole image, then its
// Pan & Scan crops when asked) and encodes every part with the vision
// tower of dir on dev (nil: the CPU). It returns the features of all
// parts in order, and the crops of each image.
func Features(t testing.TB, dir string, dev *gpu.Device, panAndScan bool, files ...[]byte) ([][]float32, []int) {
	t.Helper()
	v, err := siglip.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	enc, err := v.NewEncoder(siglip.EncoderOptions{Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var features [][]float32
	var crops []int
	for _, file := range files {
		img, err := imageproc.Decode(bytes.NewReader(file), imageproc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		px, err := imageproc.Preprocess(img, imageproc.Options{Size: v.Config.ImageSize, PanAndScan: panAndScan})
		if err != nil {
			t.Fatal(err)
		}
		for i := range px.Images {
			f, err := enc.Encode(px.Image(i))
			if err != nil {
				t.Fatal(err)
			}
			features = append(features, f)
		}
		crops = append(crops, px.Crops)
	}
	return features, crops
}

// Generate feeds ids with the image features on a fresh session of g on
// dev with a context of ctx tokens, samples up to n tokens with cfg, and
// returns them.
func Generate(t testing.TB, g *gemma3.Model, dev *gpu.Device, ctx int, ids []int, features [][]float32, n int, cfg sample.Config) []int {
	t.Helper()
	s, err := g.NewSession(gemma3.Options{Ctx: ctx, Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var answer []int
	_, err = s.Generate(context.Background(), ids, gemma3.GenerateOptions{MaxTokens: n, Images: features, Sampling: cfg,
		OnToken: func(id int) error { answer = append(answer, id); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return answer
}

// WriteMMProj writes the vision tower v as an F32 llama.cpp mmproj file.
func WriteMMProj(t testing.TB, path string, v *siglip.Model) {
	t.Helper()
	var buf bytes.Buffer
	if err := siglip.WriteMMProj(&buf, v.Config, v.Weights, quant.F32); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// SplitGGUF writes the text model of the multimodal checkpoint directory
// dir as a GGUF file (its tensors' types kept) and its vision tower as an
// mmproj file, in a temporary directory: the pair a llama.cpp user has.
func SplitGGUF(t testing.TB, dir string) (text, mmproj string) {
	t.Helper()
	tmp := t.TempDir()
	text, mmproj = filepath.Join(tmp, "text.gguf"), filepath.Join(tmp, "mmproj.gguf")
	g, err := gemma3.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.WriteGGUF(text, gemma3.KeepType); err != nil {
		t.Fatal(err)
	}
	v, err := siglip.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	WriteMMProj(t, mmproj, v)
	return text, mmproj
}
