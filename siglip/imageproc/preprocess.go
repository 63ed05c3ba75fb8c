package imageproc

import (
	"fmt"
	"image"
	"math"
)

// Processor defaults (Gemma 3's preprocessor_config.json and the Pan & Scan
// defaults of Gemma3ImageProcessor, GEMMA3.md §7 and §7.1).
const (
	DefaultSize        = 896
	DefaultMinCropSize = 256
	DefaultMaxCrops    = 4
	DefaultMinRatio    = 1.2
)

// MaxSize bounds Options.Size: 16384² pixels per plane is already far past
// any vision tower.
const MaxSize = 16384

// Options configure Preprocess. Zero fields take the defaults above, so
// the zero Options is Gemma 3's published configuration (896×896, no Pan &
// Scan).
type Options struct {
	Size        int     // side of the square output images
	PanAndScan  bool    // add crops of elongated images (GEMMA3.md §7.1)
	MinCropSize int     // Pan & Scan: smallest crop side allowed
	MaxCrops    int     // Pan & Scan: most crops along the long side
	MinRatio    float64 // Pan & Scan: aspect ratio from which crops are made
}

func (o Options) withDefaults() (Options, error) {
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if o.MinCropSize == 0 {
		o.MinCropSize = DefaultMinCropSize
	}
	if o.MaxCrops == 0 {
		o.MaxCrops = DefaultMaxCrops
	}
	if o.MinRatio == 0 {
		o.MinRatio = DefaultMinRatio
	}
	switch {
	case o.Size < 0 || o.Size > MaxSize:
		return o, fmt.Errorf("imageproc: image size %d outside 1…%d", o.Size, MaxSize)
	case o.MinCropSize < 0:
		return o, fmt.Errorf("imageproc: negative minimum crop size %d", o.MinCropSize)
	case o.MaxCrops < 0:
		return o, fmt.Errorf("imageproc: negative crop count %d", o.MaxCrops)
	case !(o.MinRatio > 0) || math.IsInf(o.MinRatio, 0):
		return o, fmt.Errorf("imageproc: Pan & Scan ratio %g is not a positive number", o.MinRatio)
	}
	return o, nil
}

// Pixels are the preprocessed images of one input image: the whole image,
// then its Pan & Scan crops (none without Pan & Scan), each Size×Size.
type Pixels struct {
	Images int       // 1 + Crops
	Crops  int       // Pan & Scan crops after the whole image
	Size   int       // side of every image
	Data   []float32 // [Images, 3, Size, Size]: planes R, G, B, values in [-1, 1]
}

// Image returns image i's [3, Size, Size] values (0 is the whole image).
func (p Pixels) Image(i int) []float32 {
	n := 3 * p.Size * p.Size
	return p.Data[i*n : (i+1)*n]
}

// Preprocess converts img to RGB (ToRGB), cuts the Pan & Scan crops when
// asked, and resizes, rescales and normalizes each image as
// Gemma3ImageProcessor does: Size×Size PIL bilinear (Resize), then
// v = (x/255 − 0.5)/0.5 computed in float32 as numpy does.
func Preprocess(img image.Image, opt Options) (Pixels, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return Pixels{}, err
	}
	if img == nil {
		return Pixels{}, fmt.Errorf("imageproc: no image: %w", ErrEmpty)
	}
	if b := img.Bounds(); b.Empty() {
		return Pixels{}, fmt.Errorf("imageproc: %dx%d image: %w", b.Dx(), b.Dy(), ErrEmpty)
	}
	rgb := ToRGB(img)
	images := []*RGB{rgb}
	if opt.PanAndScan {
		for _, r := range CropRects(rgb.W, rgb.H, opt) {
			images = append(images, rgb.Crop(r))
		}
	}
	n := opt.Size
	p := Pixels{Images: len(images), Crops: len(images) - 1, Size: n, Data: make([]float32, len(images)*3*n*n)}
	for i, m := range images {
		normalize(p.Image(i), Resize(m, n, n))
	}
	return p, nil
}

// normalize writes m's channels as planes of (x − 127.5)/127.5 in
// float32: HF's rescale by 1/255 fused with normalize(mean 0.5, std 0.5),
// as its processors compute it (x/255 then (v − 0.5)/0.5 differs in the
// last bit at most).
func normalize(dst []float32, m *RGB) {
	plane := m.W * m.H
	for i := range plane {
		for c := range 3 {
			dst[c*plane+i] = (float32(m.Pix[3*i+c]) - 127.5) / 127.5
		}
	}
}

// CropRects returns the Pan & Scan crops of a w×h image (GEMMA3.md §7.1,
// Gemma3ImageProcessor.pan_and_scan), row by row, or none when the image
// is not elongated enough (aspect ratio below opt.MinRatio) or the crops
// would be smaller than opt.MinCropSize. Zero option fields take their
// defaults; opt.PanAndScan is not consulted.
func CropRects(w, h int, opt Options) []image.Rectangle {
	opt, err := opt.withDefaults()
	if err != nil || w <= 0 || h <= 0 {
		return nil
	}
	fw, fh := float64(w), float64(h)
	nw, nh := 1, 1
	if w >= h {
		if fw/fh < opt.MinRatio {
			return nil
		}
		nw = cropCount(fw/fh, w, opt)
	} else {
		if fh/fw < opt.MinRatio {
			return nil
		}
		nh = cropCount(fh/fw, h, opt)
	}
	cw := int(math.Ceil(fw / float64(nw)))
	ch := int(math.Ceil(fh / float64(nh)))
	if min(cw, ch) < opt.MinCropSize {
		return nil
	}
	var out []image.Rectangle
	for y := 0; y < nh; y++ {
		for x := 0; x < nw; x++ {
			r := image.Rect(x*cw, y*ch, (x+1)*cw, (y+1)*ch).Intersect(image.Rect(0, 0, w, h))
			if !r.Empty() { // only with unusual options
				out = append(out, r)
			}
		}
	}
	return out
}

// cropCount is the number of crops along the long side (length long,
// aspect ratio ratio): the ratio rounded half up, no more than fit at the
// minimum crop size, then clamped to [2, MaxCrops].
func cropCount(ratio float64, long int, opt Options) int {
	n := int(math.Floor(ratio + 0.5))
	if opt.MinCropSize > 0 {
		n = min(n, long/opt.MinCropSize)
	}
	n = max(n, 2)
	return min(n, opt.MaxCrops)
}
