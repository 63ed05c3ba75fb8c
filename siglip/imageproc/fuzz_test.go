package imageproc

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode and Preprocess: no panic, no
// error outside the sentinel classes, and a decoded image within limits
// that preprocesses into values in [-1, 1].
func FuzzDecode(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".gif", ".webp":
		default:
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(data[:min(len(data), 40)])
	}
	lim := Limits{MaxSide: 4096, MaxPixels: 1 << 21, MaxBytes: 8 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(bytes.NewReader(data), lim)
		if err != nil {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error %q wraps none of the sentinel errors", err)
		}
		if m.W <= 0 || m.H <= 0 || m.W > lim.MaxSide || m.H > lim.MaxSide ||
			int64(m.W)*int64(m.H) > lim.MaxPixels || len(m.Pix) != 3*m.W*m.H {
			t.Fatalf("decoded %dx%d with %d bytes of pixels", m.W, m.H, len(m.Pix))
		}
		p, err := Preprocess(m, Options{Size: 8, PanAndScan: true})
		if err != nil {
			t.Fatal(err)
		}
		if p.Images != 1+p.Crops || len(p.Data) != p.Images*3*8*8 {
			t.Fatalf("%d images, %d crops, %d values", p.Images, p.Crops, len(p.Data))
		}
		for _, v := range p.Data {
			if !(v >= -1 && v <= 1) {
				t.Fatalf("value %g outside [-1, 1]", v)
			}
		}
	})
}
