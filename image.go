package gemmavk

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders for DecodeDataURL
	_ "image/jpeg"
	_ "image/png"
	"net/url"
	"strings"
)

// Image is an image given with a conversation: the encoded bytes and the
// decoded picture.
type Image struct {
	MIME   string // as the data URL declared it, e.g. "image/png"
	Format string // as the decoder found it: "png", "jpeg" or "gif"
	Data   []byte // the encoded file
	Image  image.Image
}

// ErrBadImage is wrapped by DecodeDataURL's errors.
var ErrBadImage = errors.New("bad image")

// DecodeDataURL parses a data: URL (RFC 2397, "data:image/png;base64,…")
// and decodes the image it carries (PNG, JPEG or GIF). Other URL schemes
// are refused: the engine fetches nothing.
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
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadImage, orUnknown(mime), err)
	}
	return &Image{MIME: mime, Format: format, Data: data, Image: img}, nil
}

func orUnknown(mime string) string {
	if mime == "" {
		return "data of no declared type"
	}
	return mime
}
