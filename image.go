package gemmavk

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"gemmavk/siglip/imageproc"
)

// Image is an image given with a conversation: the encoded bytes and the
// decoded RGB picture the vision encoder reads.
type Image struct {
	MIME string // as the data URL declared it, e.g. "image/png"
	Data []byte // the encoded file
	RGB  *imageproc.RGB
}

// ErrBadImage is wrapped by DecodeDataURL's errors.
var ErrBadImage = errors.New("bad image")

// DecodeDataURL parses a data: URL (RFC 2397, "data:image/png;base64,…")
// and decodes the image it carries with imageproc.Decode (PNG, JPEG, GIF
// or WebP, within imageproc's default limits, EXIF orientation applied).
// Other URL schemes are refused: the engine fetches nothing. Errors wrap
// ErrBadImage, and imageproc's error when the image itself is bad.
func DecodeDataURL(u string) (*Image, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		scheme, _, _ := strings.Cut(u, ":")
		if len(scheme) > 16 {
			scheme = scheme[:16] + "…"
		}
		return nil, fmt.Errorf("%w: only data: URLs are accepted, not %q", ErrBadImage, scheme+":")
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, fmt.Errorf("%w: data URL without a comma", ErrBadImage)
	}
	params := strings.Split(meta, ";")
	mime := strings.ToLower(strings.TrimSpace(params[0]))
	b64 := false
	for _, p := range params[1:] {
		if strings.EqualFold(strings.TrimSpace(p), "base64") {
			b64 = true
		}
	}
	if mime != "" && !strings.HasPrefix(mime, "image/") {
		return nil, fmt.Errorf("%w: data URL of type %q, want an image", ErrBadImage, mime)
	}
	var data []byte
	var err error
	if b64 {
		payload = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, payload)
		data, err = base64.StdEncoding.DecodeString(payload)
		if err != nil {
			data, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(payload, "="))
		}
	} else {
		var s string
		s, err = url.PathUnescape(payload)
		data = []byte(s)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: data URL payload: %v", ErrBadImage, err)
	}
	rgb, err := imageproc.Decode(bytes.NewReader(data), imageproc.Limits{})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadImage, orUnknown(mime), err)
	}
	return &Image{MIME: mime, Data: data, RGB: rgb}, nil
}

func orUnknown(mime string) string {
	if mime == "" {
		return "data of no declared type"
	}
	return mime
}

// imageKey identifies what an image's soft tokens hold: its pixels and
// whether Pan & Scan crops follow the whole image. Equal keys give equal
// features.
type imageKey [sha256.Size]byte

func keyOf(img *imageproc.RGB, panAndScan bool) imageKey {
	h := sha256.New()
	var head [17]byte
	binary.LittleEndian.PutUint64(head[0:], uint64(img.W))
	binary.LittleEndian.PutUint64(head[8:], uint64(img.H))
	if panAndScan {
		head[16] = 1
	}
	h.Write(head[:])
	h.Write(img.Pix)
	var k imageKey
	h.Sum(k[:0])
	return k
}
