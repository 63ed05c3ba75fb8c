package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gemmavk/gemma3"
	"gemmavk/internal/testutil"
	"gemmavk/safetensors"
)

const vlmDir = "../../gemma3/testdata/vlm-tiny"

// vlmGolden reads the fixture's prompt (as --ids text), pixels, features
// and logits.
func vlmGolden(t *testing.T) (ids string, pixels, features, logits []float32) {
	t.Helper()
	g, err := safetensors.Open(filepath.Join(vlmDir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var sb strings.Builder
	for _, id := range testutil.Ints(t, g, "input_ids") {
		fmt.Fprintf(&sb, " %d", id)
	}
	return sb.String(), testutil.Floats(t, g, "pixel_values"), testutil.Floats(t, g, "image_features"),
		testutil.Floats(t, g, "logits")
}

// writeTensor writes one f32 tensor to a new safetensors file.
func writeTensor(t *testing.T, name string, shape []int, v []float32) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".safetensors")
	if err := safetensors.WriteFile(path, []safetensors.Tensor{safetensors.F32Tensor(name, shape, v)}, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

func readLogits(t *testing.T, path string) []float32 {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return testutil.Floats(t, f, "logits")
}

// TestLogitsWithFeatures: --ids with the image soft tokens and --features
// give the transformers logits of the vlm-tiny fixture.
func TestLogitsWithFeatures(t *testing.T) {
	ids, _, features, want := vlmGolden(t)
	for name, shape := range map[string][]int{"rows": {16, 128}, "images": {1, 16, 128}} {
		t.Run(name, func(t *testing.T) {
			feat := writeTensor(t, "image_features", shape, features)
			out := filepath.Join(t.TempDir(), "logits.safetensors")
			if _, stderr, err := runArgs(t, "", "-m", vlmDir, "--ids", ids, "--features", feat, "--logits", out, "--chunk", "7"); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			testutil.CheckClose(t, "logits", readLogits(t, out), want, 1e-4)
		})
	}
}

// goldenEncoder stands in for the vision encoder: it knows the fixture's
// one image and returns its features.
type goldenEncoder struct {
	pixels, features []float32
	calls            int
}

func (e *goldenEncoder) Encode(pixels []float32) ([]float32, error) {
	e.calls++
	if !slices.Equal(pixels, e.pixels) {
		return nil, errors.New("not the fixture's image")
	}
	return e.features, nil
}

// TestLogitsWithPixels: --pixels goes through the image encoder, one image
// at a time, and its features reach the soft tokens.
func TestLogitsWithPixels(t *testing.T) {
	ids, pixels, features, want := vlmGolden(t)
	px := writeTensor(t, "pixel_values", []int{1, 3, 64, 64}, pixels)
	out := filepath.Join(t.TempDir(), "logits.safetensors")
	o, err := parseFlags([]string{"-m", vlmDir, "--ids", ids, "--pixels", px, "--logits", out}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	enc := &goldenEncoder{pixels: pixels, features: features}
	o.img.open = func(string, *gemma3.Model) (gemma3.ImageEncoder, error) { return enc, nil }
	m, err := gemma3.Load(vlmDir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := writeLogits(o, m); err != nil {
		t.Fatal(err)
	}
	if enc.calls != 1 {
		t.Errorf("%d Encode calls for one image", enc.calls)
	}
	testutil.CheckClose(t, "logits", readLogits(t, out), want, 1e-4)
}

// TestImageFlagErrors: misused image flags and images that do not fit the
// ids are errors, never a wrong answer.
func TestImageFlagErrors(t *testing.T) {
	ids, pixels, features, _ := vlmGolden(t)
	out := filepath.Join(t.TempDir(), "logits.safetensors")
	feat := writeTensor(t, "image_features", []int{16, 128}, features)
	narrow := writeTensor(t, "image_features", []int{32, 64}, features)
	twice := writeTensor(t, "image_features", []int{2, 16, 128}, append(slices.Clone(features), features...))
	px := writeTensor(t, "pixel_values", []int{1, 3, 64, 64}, pixels)
	flat := writeTensor(t, "pixel_values", []int{3, 64, 64}, pixels)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"pixels without ids", []string{"-m", vlmDir, "--pixels", px}, "go with --ids"},
		{"pixels and features", []string{"-m", vlmDir, "--ids", ids, "--logits", out, "--pixels", px, "--features", feat}, "exclude each other"},
		{"no vision tower", []string{"-m", tinyDir, "--ids", "2 3", "--logits", out, "--pixels", px}, "has no vision tower"},
		{"features of another width", []string{"-m", vlmDir, "--ids", ids, "--logits", out, "--features", narrow}, "want [rows, 128]"},
		{"two images for one run", []string{"-m", vlmDir, "--ids", ids, "--logits", out, "--features", twice}, "the 2 images give 32 feature rows"},
		{"soft tokens without images", []string{"-m", vlmDir, "--ids", ids, "--logits", out}, "16 image soft tokens"},
		{"missing tensor", []string{"-m", vlmDir, "--ids", ids, "--logits", out, "--features", px}, `no tensor "image_features"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runArgs(t, "", c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	t.Run("pixels of the wrong shape", func(t *testing.T) {
		o, err := parseFlags([]string{"-m", vlmDir, "--ids", ids, "--pixels", flat, "--logits", out}, &strings.Builder{})
		if err != nil {
			t.Fatal(err)
		}
		o.img.open = func(string, *gemma3.Model) (gemma3.ImageEncoder, error) { return &goldenEncoder{}, nil }
		m, err := gemma3.Load(vlmDir)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := writeLogits(o, m); err == nil || !strings.Contains(err.Error(), "want [N, 3, H, W]") {
			t.Fatalf("error %v", err)
		}
	})
}
