package imageproc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// sentinels are the classes every Decode error must belong to.
var sentinels = []error{ErrEmpty, ErrTruncated, ErrUnsupportedFormat, ErrTooLarge, ErrCorrupt}

// wantDecodeError decodes data and checks that it fails with target.
func wantDecodeError(t *testing.T, data []byte, lim Limits, target error) error {
	t.Helper()
	m, err := Decode(bytes.NewReader(data), lim)
	if err == nil {
		t.Fatalf("decoded %dx%d image, want %v", m.W, m.H, target)
	}
	if !errors.Is(err, target) {
		t.Fatalf("error %q does not wrap %q", err, target)
	}
	for _, s := range sentinels {
		if s != target && errors.Is(err, s) {
			t.Errorf("error %q also wraps %q", err, s)
		}
	}
	t.Logf("%v", err)
	return err
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// pngBytes builds a PNG signature and IHDR chunk (with a valid CRC), then
// the given chunks; no pixel data unless a chunk carries it.
func pngBytes(w, h uint32, depth, colorType byte, chunks ...[]byte) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, depth, colorType, 0, 0, 0)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunkBytes("IHDR", ihdr)...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}

func pngChunkBytes(kind string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	body := append([]byte(kind), data...)
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
}

func TestDecodeTruncatedPNG(t *testing.T) {
	data := readTestdata(t, "photo_640x480.png")
	for _, n := range []int{len(data) / 2, len(data) - 13, 40, 20, 5} {
		wantDecodeError(t, data[:n], Limits{}, ErrTruncated)
	}
}

func TestDecodeTruncatedJPEG(t *testing.T) {
	data := readTestdata(t, "jpeg_420.jpg")
	for _, n := range []int{len(data) / 2, len(data) - 2, 200, 2} {
		wantDecodeError(t, data[:n], Limits{}, ErrTruncated)
	}
}

func TestDecodeTruncatedWebP(t *testing.T) {
	for _, name := range []string{"webp_lossy.webp", "webp_lossless.webp"} {
		data := readTestdata(t, name)
		for _, n := range []int{len(data) / 2, 24, 10} {
			wantDecodeError(t, data[:n], Limits{}, ErrTruncated)
		}
	}
}

func TestDecodeTruncatedGIF(t *testing.T) {
	data := readTestdata(t, "gif_plain.gif")
	for _, n := range []int{len(data) / 2, 12} {
		wantDecodeError(t, data[:n], Limits{}, ErrTruncated)
	}
}

func TestDecodeEmptyInput(t *testing.T) {
	wantDecodeError(t, nil, Limits{}, ErrEmpty)
}

func TestDecodeZeroSize(t *testing.T) {
	iend := pngChunkBytes("IEND", nil)
	gifZero := []byte("GIF89a\x00\x00\x05\x00\x00\x00\x00\x3b")
	for _, data := range [][]byte{
		pngBytes(0, 10, 8, 2, iend),
		pngBytes(10, 0, 8, 2, iend),
		gifZero,
		jpegFrameHeader(0, 0),
	} {
		wantDecodeError(t, data, Limits{}, ErrEmpty)
	}
}

func TestDecodeUnsupportedFormat(t *testing.T) {
	bmp := []byte("BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00")
	for _, data := range [][]byte{
		bmp,
		[]byte("just some text, not an image at all"),
		[]byte("II*\x00\x08\x00\x00\x00"),
	} {
		err := wantDecodeError(t, data, Limits{}, ErrUnsupportedFormat)
		if bytes.HasPrefix(data, []byte("BM")) && !strings.Contains(err.Error(), "BMP") {
			t.Errorf("error %q does not name BMP", err)
		}
	}
}

func TestDecodeAnimatedWebP(t *testing.T) {
	// RIFF header, then a VP8X chunk with the animation flag set.
	vp8x := []byte("VP8X\x0a\x00\x00\x00\x02\x00\x00\x00\x0f\x00\x00\x0f\x00\x00")
	data := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(vp8x)))...)
	data = append(append(data, "WEBP"...), vp8x...)
	wantDecodeError(t, data, Limits{}, ErrUnsupportedFormat)
}

// jpegFrameHeader is SOI, a baseline frame header (three components,
// 4:2:0) declaring w×h, and EOI: no tables, no scan.
func jpegFrameHeader(w, h uint16) []byte {
	seg := []byte{0xff, 0xd8, 0xff, 0xc0, 0, 17, 8}
	seg = binary.BigEndian.AppendUint16(seg, h)
	seg = binary.BigEndian.AppendUint16(seg, w)
	seg = append(seg, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	return append(seg, 0xff, 0xd9)
}

// TestDecodeEnormousDimensions declares huge images in headers built here;
// Decode must refuse them from the header, allocating next to nothing.
func TestDecodeEnormousDimensions(t *testing.T) {
	gifHeader := func(w, h uint16) []byte {
		d := []byte("GIF89a")
		d = binary.LittleEndian.AppendUint16(d, w)
		d = binary.LittleEndian.AppendUint16(d, h)
		return append(d, 0, 0, 0, 0x3b)
	}
	webpHeader := func(w, h uint32) []byte {
		vp8x := []byte("VP8X\x0a\x00\x00\x00\x00\x00\x00\x00")
		vp8x = append(vp8x, byte(w-1), byte((w-1)>>8), byte((w-1)>>16), byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
		d := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(vp8x)))...)
		return append(append(d, "WEBP"...), vp8x...)
	}
	iend := pngChunkBytes("IEND", nil)
	cases := []struct {
		name string
		data []byte
		lim  Limits
	}{
		{"png 100000x100000", pngBytes(100000, 100000, 8, 6, iend), Limits{}},
		{"png 4294967295 wide", pngBytes(1<<32-1, 1, 8, 2, iend), Limits{}},
		{"png 20000x1", pngBytes(20000, 1, 8, 2, iend), Limits{}},
		{"png 9000x9000 (81 Mpixel)", pngBytes(9000, 9000, 8, 2, iend), Limits{}},
		{"png 64x64 under a 32 px limit", pngBytes(64, 64, 8, 2, iend), Limits{MaxSide: 32}},
		{"jpeg 60000x60000", jpegFrameHeader(60000, 60000), Limits{}},
		{"gif 65535x65535", gifHeader(65535, 65535), Limits{}},
		{"webp 16777216x16777216", webpHeader(1<<24, 1<<24), Limits{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			wantDecodeError(t, tc.data, tc.lim, ErrTooLarge)
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Errorf("allocated %d bytes refusing a header", n)
			}
		})
	}
}

func TestDecodeInputTooLong(t *testing.T) {
	data := readTestdata(t, "png_rgba.png")
	wantDecodeError(t, data, Limits{MaxBytes: int64(len(data) - 1)}, ErrTooLarge)
	if _, err := Decode(bytes.NewReader(data), Limits{MaxBytes: int64(len(data))}); err != nil {
		t.Fatalf("input of exactly MaxBytes: %v", err)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	iend := pngChunkBytes("IEND", nil)
	garbage := pngChunkBytes("IDAT", []byte("this is not zlib data at all"))
	wantDecodeError(t, pngBytes(4, 4, 8, 2, garbage, iend), Limits{}, ErrCorrupt)
	wantDecodeError(t, pngBytes(4, 4, 7, 2, iend), Limits{}, ErrCorrupt) // bit depth 7
}
