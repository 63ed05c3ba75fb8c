package siglip

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"gemmavk/gpu"
	"gemmavk/internal/vktest"
	"gemmavk/siglip/imageproc"
)

// pattern is a w×h RGB image with colours varying along both axes.
func pattern(w, h int) *imageproc.RGB {
	m := imageproc.NewRGB(w, h)
	for y := range h {
		for x := range w {
			p := m.Pix[3*(y*w+x):]
			p[0], p[1], p[2] = uint8(x*255/w), uint8(y*255/h), uint8((x*7+y*13)%256)
		}
	}
	return m
}

// TestEncodeImage: EncodeImage gives, in order, the features Encode gives
// for each image imageproc.Preprocess makes at the encoder's size (the
// whole image, then its Pan & Scan crops), and reports each part.
func TestEncodeImage(t *testing.T) {
	m := loadTiny(t)
	for _, dev := range []string{"cpu", "vulkan"} {
		for _, c := range []struct {
			w, h  int
			pas   bool
			crops int
		}{
			{100, 60, false, 0},
			{100, 60, true, 0},   // too small for crops
			{768, 256, false, 0}, // elongated, but Pan & Scan is off
			{768, 256, true, 3},  // three 256×256 crops
			{300, 700, true, 2},  // two crops, one above the other
		} {
			t.Run(fmt.Sprintf("%s/%dx%d/pas=%v", dev, c.w, c.h, c.pas), func(t *testing.T) {
				var d *gpu.Device
				if dev == "vulkan" {
					d = vktest.Device(t)
				}
				e, err := m.NewEncoder(EncoderOptions{Device: d, Threads: 2})
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close()
				img := pattern(c.w, c.h)
				var calls [][2]int
				features, crops, err := e.EncodeImageWith(img, ImageOptions{PanAndScan: c.pas,
					Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) }})
				if err != nil {
					t.Fatal(err)
				}
				if crops != c.crops || len(features) != 1+c.crops {
					t.Fatalf("%d crops, %d feature sets; want %d crops", crops, len(features), c.crops)
				}
				px, err := imageproc.Preprocess(img, imageproc.Options{Size: m.Config.ImageSize, PanAndScan: c.pas})
				if err != nil {
					t.Fatal(err)
				}
				for i := range px.Images {
					want, err := e.Encode(px.Image(i))
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(features[i], want) {
						t.Errorf("part %d: features differ from Encode of the preprocessed pixels", i)
					}
				}
				var wantCalls [][2]int
				for i := range 2 + c.crops {
					wantCalls = append(wantCalls, [2]int{i, 1 + c.crops})
				}
				if !slices.Equal(calls, wantCalls) {
					t.Errorf("progress %v, want %v", calls, wantCalls)
				}
			})
		}
	}
}

// TestEncodeImageErrors: images that are not whole are refused.
func TestEncodeImageErrors(t *testing.T) {
	m := loadTiny(t)
	e, err := m.NewEncoder(EncoderOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	short := pattern(8, 8)
	short.Pix = short.Pix[:10]
	for _, c := range []struct {
		name string
		img  *imageproc.RGB
		want string
	}{
		{"nil", nil, "empty image"},
		{"zero width", &imageproc.RGB{W: 0, H: 4}, "empty image"},
		{"short pixels", short, "10 bytes of pixels for 8x8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := e.EncodeImage(c.img, false); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	e.Close()
	if _, _, err := e.EncodeImage(pattern(8, 8), false); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("closed encoder: error %v", err)
	}
}
