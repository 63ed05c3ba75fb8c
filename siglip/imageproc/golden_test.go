package imageproc

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/safetensors"
)

// goldenTol is the largest difference allowed from transformers' values,
// in normalized units (one uint8 level is 2/255 ≈ 0.0078).
const goldenTol = 0.02

// exactTol is the difference allowed on top of the golden's own rounding:
// the pipeline reproduces transformers' uint8 values and its float32
// arithmetic, so F32 goldens match exactly and F16 ones to half an f16
// step at 1 (2^-11).
func exactTol(dtype safetensors.DType) float64 {
	if dtype == safetensors.F16 {
		return 1.0 / 2048
	}
	return 0
}

// fixtureNames are the PNG inputs of testdata (name_WxH.png).
var fixtureNames = []string{"photo_640x480", "small_50x37", "tall_300x900", "wide_1800x600"}

func openGolden(t *testing.T) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open(filepath.Join("testdata", "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func decodeFixture(t testing.TB, name string) *RGB {
	t.Helper()
	fh, err := os.Open(filepath.Join("testdata", name+".png"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	m, err := Decode(fh, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// goldenShape returns a golden tensor's shape, failing when it is missing.
func goldenShape(t *testing.T, f *safetensors.File, name string) []int {
	t.Helper()
	info, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("golden.safetensors has no %q", name)
	}
	return info.Shape
}

// maxAbsDiff is max |got - want|, +Inf when the lengths differ.
func maxAbsDiff(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var m float64
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= m) {
			m = d
		}
	}
	return m
}

// TestGolden compares Preprocess with transformers' Gemma3ImageProcessor
// outputs: every fixture at 112 (whole image, then with Pan & Scan) and the
// photo at 224 (stored as f16).
func TestGolden(t *testing.T) {
	f := openGolden(t)
	raw, err := os.ReadFile(filepath.Join("testdata", "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	type run struct {
		tensor string
		opt    Options
	}
	for _, name := range fixtureNames {
		var m struct {
			NumCrops []int `json:"num_crops"`
			PasShape []int `json:"pas_shape"`
		}
		if err := json.Unmarshal(meta[name], &m); err != nil || len(m.NumCrops) != 1 {
			t.Fatalf("meta.json %s: %s (%v)", name, meta[name], err)
		}
		runs := []run{
			{name + ".112", Options{Size: 112}},
			{name + ".112.pas", Options{Size: 112, PanAndScan: true}},
		}
		if name == "photo_640x480" {
			runs = append(runs, run{name + ".224", Options{Size: 224}})
		}
		img := decodeFixture(t, name)
		for _, r := range runs {
			t.Run(r.tensor, func(t *testing.T) {
				p, err := Preprocess(img, r.opt)
				if err != nil {
					t.Fatal(err)
				}
				info, _ := f.Tensor(r.tensor)
				shape := goldenShape(t, f, r.tensor)
				got := []int{3, p.Size, p.Size}
				if r.opt.PanAndScan {
					got = append([]int{p.Images}, got...)
					if p.Crops != m.NumCrops[0] || !slices.Equal(got, m.PasShape) {
						t.Errorf("%d crops, shape %v; meta.json says %d crops, %v", p.Crops, got, m.NumCrops[0], m.PasShape)
					}
				} else if p.Images != 1 || p.Crops != 0 {
					t.Errorf("%d images, %d crops without Pan & Scan", p.Images, p.Crops)
				}
				if !slices.Equal(got, shape) {
					t.Fatalf("shape %v, golden %v", got, shape)
				}
				want := testutil.Floats(t, f, r.tensor)
				d := maxAbsDiff(p.Data, want)
				if !(d <= goldenTol) {
					t.Fatalf("max abs error %.3g > %g", d, goldenTol)
				}
				if d > exactTol(info.DType) {
					t.Errorf("max abs error %.3g: no longer bit-exact (%s)", d, levels(p.Data, want))
				}
				t.Logf("max abs error %.3g (%s)", d, levels(p.Data, want))
			})
		}
	}
}

// levels summarizes the differences in uint8 levels: how many values are
// off by one level or more.
func levels(got, want []float32) string {
	var off int
	for i := range want {
		if math.Abs(float64(got[i])-float64(want[i])) > 1/255.0 {
			off++
		}
	}
	return fmt.Sprintf("%d of %d values a level or more apart", off, len(want))
}
