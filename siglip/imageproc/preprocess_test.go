package imageproc

import (
	"errors"
	"image"
	"math"
	"testing"
)

// TestCropRectsTile checks the Pan & Scan geometry on many sizes: crops
// appear only for elongated images, number 2…MaxCrops along the long side,
// tile the image without overlap, and are listed row by row.
func TestCropRectsTile(t *testing.T) {
	for _, opt := range []Options{{}, {MinCropSize: 64, MaxCrops: 7, MinRatio: 1.5}} {
		d, _ := opt.withDefaults()
		for w := 40; w <= 3000; w += 37 {
			for h := 40; h <= 3000; h += 53 {
				rects := CropRects(w, h, opt)
				ratio := math.Max(float64(w)/float64(h), float64(h)/float64(w))
				if ratio < d.MinRatio && len(rects) != 0 {
					t.Fatalf("%dx%d (ratio %.3f): %d crops", w, h, ratio, len(rects))
				}
				if len(rects) == 0 {
					continue
				}
				if len(rects) < 2 || len(rects) > d.MaxCrops {
					t.Fatalf("%dx%d: %d crops", w, h, len(rects))
				}
				area := 0
				for i, r := range rects {
					area += r.Dx() * r.Dy()
					if !r.In(image.Rect(0, 0, w, h)) || r.Empty() {
						t.Fatalf("%dx%d: crop %v", w, h, r)
					}
					if i > 0 && (r.Min.Y < rects[i-1].Min.Y || (r.Min.Y == rects[i-1].Min.Y && r.Min.X <= rects[i-1].Min.X)) {
						t.Fatalf("%dx%d: crops out of order: %v", w, h, rects)
					}
					for _, q := range rects[:i] {
						if r.Overlaps(q) {
							t.Fatalf("%dx%d: crops %v and %v overlap", w, h, q, r)
						}
					}
				}
				if area != w*h {
					t.Fatalf("%dx%d: crops cover %d pixels: %v", w, h, area, rects)
				}
				if full := rects[0]; min(full.Dx(), full.Dy()) < d.MinCropSize {
					t.Fatalf("%dx%d: first crop %v under %d", w, h, full, d.MinCropSize)
				}
			}
		}
	}
}

// TestPanAndScanCropsArePixels checks that the Pan & Scan images are the
// resized crops: image i+1 equals Preprocess of the cropped RGB alone.
func TestPanAndScanCropsArePixels(t *testing.T) {
	m := decodeFixture(t, "tall_300x900")
	opt := Options{Size: 32, PanAndScan: true}
	p, err := Preprocess(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	rects := CropRects(m.W, m.H, opt)
	if p.Crops != len(rects) || p.Crops == 0 {
		t.Fatalf("%d crops, CropRects gives %d", p.Crops, len(rects))
	}
	for i, r := range rects {
		q, err := Preprocess(m.Crop(r), Options{Size: 32})
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(p.Image(i+1), q.Data); d != 0 {
			t.Errorf("crop %d %v differs by %g", i, r, d)
		}
	}
}

func TestPreprocessBadInput(t *testing.T) {
	img := NewRGB(4, 4)
	for _, tc := range []struct {
		name string
		img  image.Image
		opt  Options
		want error
	}{
		{"nil image", nil, Options{}, ErrEmpty},
		{"empty image", NewRGB(0, 5), Options{}, ErrEmpty},
		{"empty sub-image", image.NewGray(image.Rect(3, 3, 3, 9)), Options{}, ErrEmpty},
		{"negative size", img, Options{Size: -1}, nil},
		{"size too big", img, Options{Size: MaxSize + 1}, nil},
		{"negative crop size", img, Options{MinCropSize: -5}, nil},
		{"negative crop count", img, Options{MaxCrops: -1}, nil},
		{"NaN ratio", img, Options{MinRatio: math.NaN()}, nil},
		{"negative ratio", img, Options{MinRatio: -2}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Preprocess(tc.img, tc.opt)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %q does not wrap %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// TestToRGBSubImage checks that sub-images (non-zero origin, shared
// strides) convert like their copies, for the types with fast paths.
func TestToRGBSubImage(t *testing.T) {
	full := decodeFixture(t, "small_50x37")
	r := image.Rect(7, 5, 31, 22)
	want := full.Crop(r)
	nrgba := image.NewNRGBA(full.Bounds())
	gray := image.NewGray(full.Bounds())
	for y := 0; y < full.H; y++ {
		for x := 0; x < full.W; x++ {
			p := full.Pix[3*(y*full.W+x):]
			nrgba.Pix[nrgba.PixOffset(x, y)+0] = p[0]
			nrgba.Pix[nrgba.PixOffset(x, y)+1] = p[1]
			nrgba.Pix[nrgba.PixOffset(x, y)+2] = p[2]
			nrgba.Pix[nrgba.PixOffset(x, y)+3] = uint8(x * y)
			gray.Pix[gray.PixOffset(x, y)] = p[1]
		}
	}
	got := ToRGB(nrgba.SubImage(r))
	if got.W != want.W || got.H != want.H || string(got.Pix) != string(want.Pix) {
		t.Errorf("NRGBA sub-image converts differently from its crop")
	}
	g := ToRGB(gray.SubImage(r))
	for i := 0; i < want.W*want.H; i++ {
		if g.Pix[3*i] != want.Pix[3*i+1] || g.Pix[3*i+2] != want.Pix[3*i+1] {
			t.Fatalf("Gray sub-image pixel %d: %v, want grey %d", i, g.Pix[3*i:3*i+3], want.Pix[3*i+1])
		}
	}
}

// TestResizeEdgeCases: the same size copies, a constant image stays
// constant at any size (weights sum to one), and bad sizes give empty
// images rather than a panic.
func TestResizeEdgeCases(t *testing.T) {
	m := decodeFixture(t, "small_50x37")
	if c := Resize(m, m.W, m.H); string(c.Pix) != string(m.Pix) || &c.Pix[0] == &m.Pix[0] {
		t.Error("same-size Resize is not a copy")
	}
	flat := NewRGB(31, 7)
	for i := range flat.Pix {
		flat.Pix[i] = []uint8{200, 3, 77}[i%3]
	}
	for _, s := range [][2]int{{1, 1}, {31, 300}, {5, 7}, {1000, 2}, {17, 19}} {
		r := Resize(flat, s[0], s[1])
		for i, v := range r.Pix {
			if v != flat.Pix[i%3] {
				t.Fatalf("%dx%d: value %d at %d, want %d", s[0], s[1], v, i, flat.Pix[i%3])
			}
		}
	}
	if r := Resize(m, 0, 5); r.W != 0 || r.H != 0 || len(r.Pix) != 0 {
		t.Errorf("Resize to 0x5 gave %dx%d", r.W, r.H)
	}
	if r := Resize(&RGB{}, 3, 2); r.W != 3 || r.H != 2 || len(r.Pix) != 18 {
		t.Errorf("Resize of an empty image gave %dx%d", r.W, r.H)
	}
}
