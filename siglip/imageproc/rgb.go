package imageproc

import (
	"image"
	"image/color"
)

// RGB is an 8-bit RGB image without alpha: the form PIL's convert("RGB")
// gives and the one every later step works on. Pixel (x, y) is
// Pix[3*(y*W+x) : 3*(y*W+x)+3], rows packed without padding.
type RGB struct {
	W, H int
	Pix  []uint8
}

// NewRGB allocates a black w×h image.
func NewRGB(w, h int) *RGB {
	return &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
}

// ColorModel implements image.Image.
func (m *RGB) ColorModel() color.Model { return color.RGBAModel }

// Bounds implements image.Image; the origin is always (0, 0).
func (m *RGB) Bounds() image.Rectangle { return image.Rect(0, 0, m.W, m.H) }

// At implements image.Image.
func (m *RGB) At(x, y int) color.Color {
	if x < 0 || y < 0 || x >= m.W || y >= m.H {
		return color.RGBA{}
	}
	p := m.Pix[3*(y*m.W+x):]
	return color.RGBA{p[0], p[1], p[2], 0xff}
}

// Crop copies the part of m inside r (clipped to m's bounds), as a numpy
// slice image[y0:y1, x0:x1] would select it.
func (m *RGB) Crop(r image.Rectangle) *RGB {
	r = r.Intersect(m.Bounds())
	out := NewRGB(r.Dx(), r.Dy())
	for y := 0; y < out.H; y++ {
		src := m.Pix[3*((r.Min.Y+y)*m.W+r.Min.X):][:3*out.W]
		copy(out.Pix[3*y*out.W:], src)
	}
	return out
}

// ToRGB converts an image to RGB the way PIL's convert("RGB") converts the
// image PIL would have decoded from the same file:
//
//   - alpha is dropped, not composited (straight colour is kept; a
//     premultiplied *image.RGBA is un-premultiplied first);
//   - greyscale is replicated into the three channels and palettes are
//     looked up, ignoring their transparency;
//   - 16 bits per channel keep the high byte, except 16-bit greyscale
//     (*image.Gray16, PIL's mode I;16), which PIL saturates: values above
//     255 become 255;
//   - *image.YCbCr (what image/jpeg returns) is converted as libjpeg does
//     for PIL: "fancy" triangle upsampling of subsampled chroma and
//     libjpeg's fixed-point JFIF equations;
//   - *image.CMYK uses PIL's CMYK→RGB equations.
//
// An *RGB is returned as is; other image types go through
// color.NRGBAModel. A nil image gives an empty one.
func ToRGB(img image.Image) *RGB {
	if img == nil {
		return &RGB{}
	}
	if m, ok := img.(*RGB); ok {
		return m
	}
	b := img.Bounds()
	out := NewRGB(b.Dx(), b.Dy())
	if out.W == 0 || out.H == 0 {
		return out
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < out.H; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:out.W]
			dst := out.Pix[3*y*out.W:]
			for x, v := range row {
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		}
	case *image.Gray16:
		for y := 0; y < out.H; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:2*out.W]
			dst := out.Pix[3*y*out.W:]
			for x := 0; x < out.W; x++ {
				v := saturate16(row[2*x], row[2*x+1])
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		}
	case *image.NRGBA:
		copyChannels(out, m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), 4, 1)
	case *image.NRGBA64:
		copyChannels(out, m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), 8, 2)
	case *image.RGBA:
		if opaque8(m) {
			copyChannels(out, m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), 4, 1)
		} else {
			generic(out, m)
		}
	case *image.RGBA64:
		if m.Opaque() {
			copyChannels(out, m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), 8, 2)
		} else {
			generic(out, m)
		}
	case *image.Paletted:
		var lut [256][3]uint8
		for i, c := range m.Palette {
			if i < len(lut) {
				n := color.NRGBAModel.Convert(c).(color.NRGBA)
				lut[i] = [3]uint8{n.R, n.G, n.B}
			}
		}
		for y := 0; y < out.H; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:out.W]
			dst := out.Pix[3*y*out.W:]
			for x, idx := range row {
				copy(dst[3*x:3*x+3], lut[idx][:])
			}
		}
	case *image.YCbCr:
		jpegYCbCrToRGB(out, m)
	case *image.NYCbCrA:
		jpegYCbCrToRGB(out, &m.YCbCr)
	case *image.CMYK:
		for y := 0; y < out.H; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*out.W]
			dst := out.Pix[3*y*out.W:]
			for x := 0; x < out.W; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = pilCMYK(row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
			}
		}
	default:
		generic(out, img)
	}
	return out
}

// copyChannels copies the first three channels of packed pixels of
// stride bpp bytes, taking the first (high, big-endian) byte of each
// channel of size cs bytes.
func copyChannels(out *RGB, pix []uint8, stride, off, bpp, cs int) {
	for y := 0; y < out.H; y++ {
		row := pix[off+y*stride:][:bpp*out.W]
		dst := out.Pix[3*y*out.W:][:3*out.W]
		for x := 0; x < out.W; x++ {
			p := row[bpp*x:]
			dst[3*x], dst[3*x+1], dst[3*x+2] = p[0], p[cs], p[2*cs]
		}
	}
}

// opaque8 reports whether every pixel of m has alpha 255.
func opaque8(m *image.RGBA) bool {
	b := m.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := m.Pix[m.PixOffset(b.Min.X, y):][:4*b.Dx()]
		for x := 3; x < len(row); x += 4 {
			if row[x] != 0xff {
				return false
			}
		}
	}
	return true
}

// generic converts pixel by pixel through straight (non-premultiplied)
// colour, dropping alpha.
func generic(out *RGB, img image.Image) {
	b := img.Bounds()
	for y := 0; y < out.H; y++ {
		dst := out.Pix[3*y*out.W:]
		for x := 0; x < out.W; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			dst[3*x], dst[3*x+1], dst[3*x+2] = c.R, c.G, c.B
		}
	}
}

// saturate16 is PIL's I;16 → 8-bit conversion of a big-endian sample:
// values above 255 saturate rather than scale.
func saturate16(hi, lo uint8) uint8 {
	if hi != 0 {
		return 0xff
	}
	return lo
}

// pilCMYK is PIL's cmyk2rgb: each channel is (255-k) - (c·(255-k))/255
// with PIL's rounded division by 255.
func pilCMYK(c, m, y, k uint8) (uint8, uint8, uint8) {
	nk := 255 - int(k)
	f := func(v uint8) uint8 {
		t := int(v)*nk + 128
		return clip8(nk - ((t>>8)+t)>>8)
	}
	return f(c), f(m), f(y)
}

// clip8 clamps to [0, 255].
func clip8(v int) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}
