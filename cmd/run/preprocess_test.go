package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/safetensors"
)

// imageTestdata holds the image processor fixtures (transformers'
// Gemma3ImageProcessor outputs, see its README).
const imageTestdata = "../../siglip/imageproc/testdata"

// TestPreprocessMode runs --preprocess on a fixture photo and compares
// pixel_values with transformers' Gemma3ImageProcessor output.
func TestPreprocessMode(t *testing.T) {
	g, err := safetensors.Open(filepath.Join(imageTestdata, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	img := filepath.Join(imageTestdata, "photo_640x480.png")
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"photo_640x480.112.pas", []string{"--pan-and-scan", "--image-size", "112"}},
		{"photo_640x480.224", []string{"--image-size", "224"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "pixels.safetensors")
			args := append([]string{"--preprocess", img, "--pixels-out", out}, tc.args...)
			stdout, stderr, err := runArgs(t, "", args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			t.Log(strings.TrimSpace(stdout))
			f, err := safetensors.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			info, ok := f.Tensor("pixel_values")
			want, _ := g.Tensor(tc.golden)
			shape := want.Shape
			if len(shape) == 3 {
				shape = append([]int{1}, shape...)
			}
			if !ok || info.DType != safetensors.F32 || !slices.Equal(info.Shape, shape) {
				t.Fatalf("pixel_values %+v, want F32 %v", info, shape)
			}
			if crops := f.Metadata()["num_crops"]; crops != strconv.Itoa(shape[0]-1) {
				t.Errorf("num_crops metadata %q for %d images", crops, shape[0])
			}
			// Bit-exact up to the golden's own f16 rounding.
			testutil.CheckClose(t, "pixel_values", testutil.Floats(t, f, "pixel_values"), testutil.Floats(t, g, tc.golden), 1.0/2048)
		})
	}
}

func TestPreprocessBadInvocations(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.png")
	if err := os.WriteFile(text, []byte("not an image, whatever the name says"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(imageTestdata, "small_50x37.png")
	out := filepath.Join(dir, "o.safetensors")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no output", []string{"--preprocess", img}, "--pixels-out"},
		{"no input", []string{"--pixels-out", out}, "--preprocess"},
		{"zero size", []string{"--preprocess", img, "--pixels-out", out, "--image-size", "0"}, "image-size"},
		{"missing file", []string{"--preprocess", filepath.Join(dir, "none.png"), "--pixels-out", out}, "no such file"},
		{"not an image", []string{"--preprocess", text, "--pixels-out", out}, "unsupported image format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runArgs(t, "", tc.args...)
			if err == nil {
				t.Fatalf("accepted %v", tc.args)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q (stderr %s)", err, tc.want, stderr)
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s behind (%v)", out, err)
	}
}
