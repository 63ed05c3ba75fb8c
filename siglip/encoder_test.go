package siglip

import (
	"path/filepath"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/internal/vktest"
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
