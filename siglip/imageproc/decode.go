package imageproc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// Errors wrapped by Decode, so that callers can tell bad input apart.
var (
	ErrEmpty             = errors.New("imageproc: empty image")
	ErrTruncated         = errors.New("imageproc: truncated image data")
	ErrUnsupportedFormat = errors.New("imageproc: unsupported image format")
	ErrTooLarge          = errors.New("imageproc: image too large")
	ErrCorrupt           = errors.New("imageproc: corrupt image data")
)

// Default limits; see Limits.
const (
	DefaultMaxSide   = 16384
	DefaultMaxPixels = 64 << 20
	DefaultMaxBytes  = 256 << 20
)

// Limits bound what Decode accepts. Dimensions are checked from the file's
// header before any pixel memory is allocated. Zero fields take the
// defaults above, so the zero Limits is ready to use.
type Limits struct {
	MaxSide   int   // largest width or height in pixels
	MaxPixels int64 // largest width × height
	MaxBytes  int64 // largest encoded input in bytes
}

func (l Limits) withDefaults() Limits {
	if l.MaxSide <= 0 {
		l.MaxSide = DefaultMaxSide
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}

// check refuses a w×h image that is empty or over the limits.
func (l Limits) check(name string, w, h int64) error {
	switch {
	case w <= 0 || h <= 0:
		return fmt.Errorf("imageproc: %s of %dx%d pixels: %w", name, w, h, ErrEmpty)
	case w > int64(l.MaxSide) || h > int64(l.MaxSide):
		return fmt.Errorf("imageproc: %s of %dx%d pixels: %w (at most %d pixels a side)", name, w, h, ErrTooLarge, l.MaxSide)
	case w*h > l.MaxPixels:
		return fmt.Errorf("imageproc: %s of %dx%d pixels: %w (at most %d pixels)", name, w, h, ErrTooLarge, l.MaxPixels)
	}
	return nil
}

// format is a supported container.
type format int

const (
	formatPNG format = iota + 1
	formatJPEG
	formatGIF
	formatWebP
)

func (f format) String() string {
	return [...]string{"", "PNG", "JPEG", "GIF", "WebP"}[f]
}

// signature is a file's leading bytes; '?' matches any byte.
type signature struct {
	magic string
	f     format // 0: a known format this package does not read
	name  string
}

// signatures lists the formats Decode reads, then common ones it does not,
// so that an error can name them.
func signatures() []signature {
	return []signature{
		{"\x89PNG\r\n\x1a\n", formatPNG, "PNG"},
		{"\xff\xd8\xff", formatJPEG, "JPEG"},
		{"GIF87a", formatGIF, "GIF"},
		{"GIF89a", formatGIF, "GIF"},
		{"RIFF????WEBP", formatWebP, "WebP"},
		{"BM", 0, "BMP"},
		{"II*\x00", 0, "TIFF"},
		{"MM\x00*", 0, "TIFF"},
		{"\x00\x00\x01\x00", 0, "ICO"},
		{"8BPS", 0, "PSD"},
		{"????ftyp", 0, "HEIF/AVIF"},
		{"\xff\x0a", 0, "JPEG XL"},
		{"\x00\x00\x00\x0cJXL ", 0, "JPEG XL"},
		{"qoif", 0, "QOI"},
	}
}

// matchPrefix reports whether data matches the first len(data) bytes of
// magic (all of it when data is longer).
func matchPrefix(data []byte, magic string) bool {
	for i := 0; i < len(magic) && i < len(data); i++ {
		if magic[i] != '?' && magic[i] != data[i] {
			return false
		}
	}
	return true
}

// sniff identifies data's format from its signature.
func sniff(data []byte) (format, error) {
	for _, s := range signatures() {
		if len(data) >= len(s.magic) && matchPrefix(data, s.magic) {
			if s.f == 0 {
				return 0, fmt.Errorf("imageproc: %s image: %w (want PNG, JPEG, GIF or WebP)", s.name, ErrUnsupportedFormat)
			}
			return s.f, nil
		}
	}
	for _, s := range signatures()[:5] {
		if len(data) < len(s.magic) && matchPrefix(data, s.magic) {
			return 0, fmt.Errorf("imageproc: %d bytes, the start of a %s signature: %w", len(data), s.name, ErrTruncated)
		}
	}
	return 0, fmt.Errorf("imageproc: unrecognized data (first bytes % x): %w (want PNG, JPEG, GIF or WebP)",
		data[:min(len(data), 8)], ErrUnsupportedFormat)
}

// Decode reads one PNG, JPEG, GIF (first frame) or WebP image and returns
// it as RGB, as transformers' load_image gives it to the image processor:
// PIL's decoding, ImageOps.exif_transpose (the EXIF orientation of JPEG,
// PNG and WebP files is applied), then convert("RGB") (see ToRGB; GIF
// transparency and the GIF logical screen follow PIL too).
//
// The input is read whole (at most lim.MaxBytes) and its dimensions are
// checked from the header against lim before decoding. Errors wrap
// ErrEmpty (no data, or zero width or height), ErrTruncated,
// ErrUnsupportedFormat (another format, or an animated WebP), ErrTooLarge
// or ErrCorrupt, and the decoder's own error where there is one.
func Decode(r io.Reader, lim Limits) (*RGB, error) {
	lim = lim.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("imageproc: reading image: %w", err)
	}
	switch {
	case len(data) == 0:
		return nil, fmt.Errorf("imageproc: no data: %w", ErrEmpty)
	case int64(len(data)) > lim.MaxBytes:
		return nil, fmt.Errorf("imageproc: input over %d bytes: %w", lim.MaxBytes, ErrTooLarge)
	}
	f, err := sniff(data)
	if err != nil {
		return nil, err
	}
	if err := checkHeader(f, data, lim); err != nil {
		return nil, err
	}
	cfg, err := decodeConfig(f, data)
	if err != nil {
		return nil, decodeError(f, data, err)
	}
	if err := lim.check(f.String()+" image", int64(cfg.Width), int64(cfg.Height)); err != nil {
		return nil, err
	}
	img, err := decodeImage(f, data)
	if err != nil {
		return nil, decodeError(f, data, err)
	}
	var rgb *RGB
	switch m := img.(type) {
	case *image.YCbCr:
		rgb = NewRGB(m.Rect.Dx(), m.Rect.Dy())
		if f == formatWebP {
			webpYCbCrToRGB(rgb, m)
		} else {
			jpegYCbCrToRGB(rgb, m)
		}
	case *image.NYCbCrA:
		rgb = NewRGB(m.Rect.Dx(), m.Rect.Dy())
		webpYCbCrToRGB(rgb, &m.YCbCr)
	case *image.Paletted:
		if f == formatGIF {
			rgb = gifToRGB(data, m, cfg.Width, cfg.Height)
		}
	case *image.NRGBA64:
		if f == formatPNG && isGray16PNG(data) {
			rgb = gray16ToRGB(m) // greyscale with tRNS, which Go widens to NRGBA64
		}
	}
	if rgb == nil {
		rgb = ToRGB(img)
	}
	if rgb.W == 0 || rgb.H == 0 {
		return nil, fmt.Errorf("imageproc: %s decoded to %dx%d pixels: %w", f, rgb.W, rgb.H, ErrEmpty)
	}
	return orient(rgb, exifOrientation(f, data)), nil
}

// checkHeader reads the dimensions straight from the header where Go's
// DecodeConfig would reject them with a less useful error (zero, too big
// for an int) or need more of the file: PNG's IHDR, GIF's logical screen,
// WebP's VP8X canvas, JPEG's frame header.
func checkHeader(f format, data []byte, lim Limits) error {
	name := f.String() + " image"
	switch f {
	case formatJPEG:
		var err error
		jpegSegments(data, func(marker byte, seg []byte) bool {
			// SOF0…SOF15 except DHT (c4), JPG (c8) and DAC (cc).
			if marker < 0xc0 || marker > 0xcf || marker == 0xc4 || marker == 0xc8 || marker == 0xcc {
				return true
			}
			if len(seg) >= 5 {
				be := binary.BigEndian
				err = lim.check(name, int64(be.Uint16(seg[3:])), int64(be.Uint16(seg[1:])))
			}
			return false
		})
		return err
	case formatPNG:
		if len(data) < 33 {
			return fmt.Errorf("imageproc: PNG of %d bytes ends inside its header: %w", len(data), ErrTruncated)
		}
		if string(data[12:16]) != "IHDR" {
			return fmt.Errorf("imageproc: PNG without an IHDR chunk first: %w", ErrCorrupt)
		}
		be := binary.BigEndian
		return lim.check(name, int64(be.Uint32(data[16:])), int64(be.Uint32(data[20:])))
	case formatGIF:
		if len(data) < 13 {
			return fmt.Errorf("imageproc: GIF of %d bytes ends inside its header: %w", len(data), ErrTruncated)
		}
		le := binary.LittleEndian
		return lim.check(name, int64(le.Uint16(data[6:])), int64(le.Uint16(data[8:])))
	case formatWebP:
		if len(data) < 16 {
			return fmt.Errorf("imageproc: WebP of %d bytes ends inside its header: %w", len(data), ErrTruncated)
		}
		if string(data[12:16]) != "VP8X" {
			return nil
		}
		if len(data) < 30 {
			return fmt.Errorf("imageproc: WebP of %d bytes ends inside its VP8X header: %w", len(data), ErrTruncated)
		}
		if data[20]&0x02 != 0 {
			return fmt.Errorf("imageproc: animated WebP: %w", ErrUnsupportedFormat)
		}
		w := 1 + (int64(data[24]) | int64(data[25])<<8 | int64(data[26])<<16)
		h := 1 + (int64(data[27]) | int64(data[28])<<8 | int64(data[29])<<16)
		return lim.check(name, w, h)
	}
	return nil
}

func decodeConfig(f format, data []byte) (image.Config, error) {
	r := bytes.NewReader(data)
	switch f {
	case formatPNG:
		return png.DecodeConfig(r)
	case formatJPEG:
		return jpeg.DecodeConfig(r)
	case formatGIF:
		return gif.DecodeConfig(r)
	default:
		return webp.DecodeConfig(r)
	}
}

func decodeImage(f format, data []byte) (image.Image, error) {
	r := bytes.NewReader(data)
	switch f {
	case formatPNG:
		return png.Decode(r)
	case formatJPEG:
		return jpeg.Decode(r)
	case formatGIF:
		return gif.Decode(r)
	default:
		return webp.Decode(r)
	}
}

// decodeError classifies a decoder's error: truncation when the decoder
// ran out of data or the file lacks its format's end marker, corruption
// otherwise. Both the class and the decoder's error are wrapped.
func decodeError(f format, data []byte, err error) error {
	class := ErrCorrupt
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || !complete(f, data) {
		class = ErrTruncated
	}
	return fmt.Errorf("imageproc: decoding %s: %w (%w)", f, class, err)
}

// complete reports whether data ends as a whole file of its format does.
func complete(f format, data []byte) bool {
	switch f {
	case formatPNG:
		return bytes.Contains(data[max(0, len(data)-64):], []byte("IEND"))
	case formatJPEG:
		return bytes.HasSuffix(bytes.TrimRight(data, "\x00"), []byte{0xff, 0xd9})
	case formatGIF:
		return bytes.HasSuffix(bytes.TrimRight(data, "\x00"), []byte{0x3b})
	default:
		return len(data) >= 8 && int64(binary.LittleEndian.Uint32(data[4:]))+8 <= int64(len(data))
	}
}

// isGray16PNG reports whether a PNG's IHDR declares 16-bit greyscale
// (checkHeader has seen the IHDR).
func isGray16PNG(data []byte) bool { return data[24] == 16 && data[25] == 0 }

// gray16ToRGB applies PIL's I;16 saturation to a greyscale image Go
// decoded as NRGBA64 because it carries a transparent grey level.
func gray16ToRGB(m *image.NRGBA64) *RGB {
	b := m.Bounds()
	out := NewRGB(b.Dx(), b.Dy())
	for y := 0; y < out.H; y++ {
		row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:8*out.W]
		dst := out.Pix[3*y*out.W:]
		for x := 0; x < out.W; x++ {
			v := saturate16(row[8*x], row[8*x+1])
			dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
		}
	}
	return out
}
