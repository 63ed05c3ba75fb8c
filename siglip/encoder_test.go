package siglip

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
	"gemmavk/kernels/quant"
	"gemmavk/safetensors"
)

func TestMain(m *testing.M) { vktest.Main(m) }

const tinyDir = "testdata/vlm-tiny"

// Tolerances against transformers (max abs error over max abs value).
const (
	// CPU: f32 throughout, sums in another order than torch's.
	cpuTol = 1e-4
	// Vulkan: f32 as well, with the GPU's exp, GELU and summation orders.
	vkTol = 2e-3
)

type golden struct {
	pixels, hidden, features []float32
}

func loadGolden(t *testing.T) golden {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(tinyDir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return golden{
		pixels:   testutil.Floats(t, f, "pixel_values"),
		hidden:   testutil.Floats(t, f, "vision_last_hidden"),
		features: testutil.Floats(t, f, "image_features"),
	}
}

func loadTiny(t *testing.T) *Model {
	t.Helper()
	m, err := Load(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// encode runs one image through a new encoder and returns both outputs.
func encode(t *testing.T, m *Model, opt EncoderOptions, pixels []float32) (hidden, features []float32) {
	t.Helper()
	e, err := m.NewEncoder(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	features, err = e.Encode(pixels)
	if err != nil {
		t.Fatal(err)
	}
	hidden, err = e.LastHidden()
	if err != nil {
		t.Fatal(err)
	}
	return hidden, features
}

func TestTinyCPU(t *testing.T) {
	m, g := loadTiny(t), loadGolden(t)
	hidden, features := encode(t, m, EncoderOptions{Threads: 2}, g.pixels)
	testutil.CheckClose(t, "vision_last_hidden", hidden, g.hidden, cpuTol)
	testutil.CheckClose(t, "image_features", features, g.features, cpuTol)
}

func TestTinyVulkan(t *testing.T) {
	d := vktest.Device(t)
	m, g := loadTiny(t), loadGolden(t)
	hidden, features := encode(t, m, EncoderOptions{Device: d}, g.pixels)
	testutil.CheckClose(t, "vision_last_hidden", hidden, g.hidden, vkTol)
	testutil.CheckClose(t, "image_features", features, g.features, vkTol)
}

// TestUnfold checks the patch rows against the convolution's indexing
// (GEMMA3.md §6.1): patch n = row*side + col holds pixels[c][row*P+ky][col*P+kx]
// at column (c*P + ky)*P + kx.
func TestUnfold(t *testing.T) {
	c := Config{ImageSize: 12, PatchSize: 4, Channels: 3}
	S, P, side := 12, 4, 3
	pixels := make([]float32, c.Channels*S*S)
	for i := range pixels {
		pixels[i] = float32(i)
	}
	dst := make([]float32, side*side*c.Channels*P*P)
	c.Unfold(dst, pixels)
	for n := 0; n < side*side; n++ {
		for ch := 0; ch < c.Channels; ch++ {
			for ky := 0; ky < P; ky++ {
				for kx := 0; kx < P; kx++ {
					want := pixels[(ch*S+n/side*P+ky)*S+n%side*P+kx]
					if got := dst[n*c.Channels*P*P+(ch*P+ky)*P+kx]; got != want {
						t.Fatalf("patch %d (c %d, ky %d, kx %d) = %g, want %g", n, ch, ky, kx, got, want)
					}
				}
			}
		}
	}
}

// TestEncodeAgain encodes two images in turn with one encoder: each result
// equals that of a fresh encoder, on both executors.
func TestEncodeAgain(t *testing.T) {
	m, g := loadTiny(t), loadGolden(t)
	other := make([]float32, len(g.pixels))
	for i, v := range g.pixels {
		other[i] = -0.5 * v
	}
	for _, name := range []string{"cpu", "vulkan"} {
		t.Run(name, func(t *testing.T) {
			opt := EncoderOptions{Threads: 2}
			if name == "vulkan" {
				opt.Device = vktest.Device(t)
			}
			_, wantA := encode(t, m, opt, g.pixels)
			_, wantB := encode(t, m, opt, other)
			if testutil.RelErr(wantA, wantB) < 0.1 {
				t.Error("two different images give nearly the same features")
			}
			e, err := m.NewEncoder(opt)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			for i, px := range [][]float32{g.pixels, other, g.pixels} {
				got, err := e.Encode(px)
				if err != nil {
					t.Fatal(err)
				}
				want := wantA
				if i == 1 {
					want = wantB
				}
				testutil.CheckClose(t, "features", got, want, 0)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	m, g := loadTiny(t), loadGolden(t)
	e, err := m.NewEncoder(EncoderOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.LastHidden(); err == nil || !strings.Contains(err.Error(), "no image encoded") {
		t.Errorf("LastHidden before Encode: %v", err)
	}
	if _, err := e.Encode(g.pixels[:100]); err == nil || !strings.Contains(err.Error(), "100 pixel values, want 3 x 64 x 64 = 12288") {
		t.Errorf("short pixels: %v", err)
	}
	bad := append([]float32(nil), g.pixels...)
	bad[77] = float32(math.NaN())
	if _, err := e.Encode(bad); err == nil || !strings.Contains(err.Error(), "pixel value 77 is NaN") {
		t.Errorf("NaN pixel: %v", err)
	}
	if _, err := e.LastHidden(); err == nil {
		t.Error("LastHidden after a failed Encode: no error")
	}
	e.Close()
	if _, err := e.Encode(g.pixels); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Encode after Close: %v", err)
	}
}

// TestSynthetic runs a random model whose MLP width is not a whole number
// of Q8_0 blocks: its fc2 falls back to F16, in memory and in an mmproj
// file, and the file reproduces the model's features. Vulkan agrees with
// the CPU (f32 throughout: vkTol).
func TestSynthetic(t *testing.T) {
	cfg, err := SyntheticConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Intermediate = 40
	m, err := Synthetic(cfg, quant.Q8_0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if typ := m.Weights.Layers[0].FC2.Type; typ != quant.F16 {
		t.Errorf("fc2 [64, 40] is %s, want F16", typ)
	}
	if typ := m.Weights.Layers[0].FC1.Type; typ != quant.Q8_0 {
		t.Errorf("fc1 [40, 64] is %s, want Q8_0", typ)
	}
	pixels := make([]float32, cfg.PixelLen())
	for i := range pixels {
		pixels[i] = float32(math.Sin(float64(i)))
	}
	hidden, features := encode(t, m, EncoderOptions{Threads: 2}, pixels)
	for _, v := range append(hidden, features...) {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite output %g", v)
		}
	}
	path := writeMMProjFile(t, m, quant.Q8_0)
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if typ := f.Weights.Layers[2].FC2.Type; typ != quant.F16 {
		t.Errorf("fc2 in the file is %s, want F16", typ)
	}
	_, got := encode(t, f, EncoderOptions{Threads: 2}, pixels)
	// Q8_0 blocks are written back as they were; the projection is
	// requantized from its transpose (blocks along the text width).
	testutil.CheckClose(t, "features from the file", got, features, 1e-2)
	d := vktest.Device(t)
	_, vk := encode(t, m, EncoderOptions{Device: d}, pixels)
	testutil.CheckClose(t, "vulkan features", vk, features, vkTol)
}

func TestSyntheticConfigErrors(t *testing.T) {
	if _, err := SyntheticConfig("huge"); err == nil || !strings.Contains(err.Error(), `size "huge", want one of 12b, 27b, 4b, tiny`) {
		t.Errorf("unknown size: %v", err)
	}
	cfg, _ := SyntheticConfig("tiny")
	cfg.Heads = 5
	if _, err := Synthetic(cfg, quant.F16, 1); err == nil {
		t.Error("5 heads of 64: no error")
	}
}
