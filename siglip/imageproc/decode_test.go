package imageproc

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/safetensors"
)

// TestDecodeMatchesPIL decodes the small files of testdata/decode.safetensors
// (made by gen_decode.py) and compares with what transformers' load_image
// gets from PIL. PNG, GIF and WebP (lossy too: libwebp's chroma upsampling
// and colour equations are reproduced) must match exactly. For JPEG the
// chroma upsampling and colour conversion are libjpeg's, but Go's inverse
// DCT rounds differently from libjpeg's, which moves a few values by one
// or two levels (without the libjpeg upsampling, this test's hard chroma
// edges are off by up to 108 levels).
func TestDecodeMatchesPIL(t *testing.T) {
	f, err := safetensors.Open(filepath.Join("testdata", "decode.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, name := range f.Names() {
		t.Run(name, func(t *testing.T) {
			info, _ := f.Tensor(name)
			want := testutil.Ints(t, f, name)
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(bytes.NewReader(data), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if m.H != info.Shape[0] || m.W != info.Shape[1] {
				t.Fatalf("%dx%d, PIL %dx%d", m.W, m.H, info.Shape[1], info.Shape[0])
			}
			var maxd, off int
			var sum float64
			for i, w := range want {
				d := int(m.Pix[i]) - w
				if d < 0 {
					d = -d
				}
				maxd = max(maxd, d)
				sum += float64(d)
				if d > 0 {
					off++
				}
			}
			mean := sum / float64(len(want))
			t.Logf("max diff %d levels, mean %.3f, %d of %d values differ", maxd, mean, off, len(want))
			maxWant, meanWant := 0, 0.0
			if strings.HasSuffix(name, ".jpg") {
				maxWant, meanWant = 2, 0.1
			}
			if maxd > maxWant || mean > meanWant {
				t.Errorf("max diff %d levels (want ≤ %d), mean %.3f (want ≤ %g)", maxd, maxWant, mean, meanWant)
			}
		})
	}
}
