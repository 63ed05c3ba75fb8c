package imageproc

import (
	"bytes"
	"encoding/binary"
)

// exifOrientation returns the EXIF Orientation (tag 0x0112, 1…8) of a
// JPEG (APP1 "Exif"), PNG (eXIf chunk) or WebP (EXIF chunk) file, or 1
// when there is none or it cannot be read.
func exifOrientation(f format, data []byte) int {
	var tiff []byte
	switch f {
	case formatJPEG:
		tiff = jpegExif(data)
	case formatPNG:
		tiff = pngChunk(data, "eXIf")
	case formatWebP:
		tiff = riffChunk(data, "EXIF")
	}
	tiff = bytes.TrimPrefix(tiff, []byte("Exif\x00\x00"))
	return tiffOrientation(tiff)
}

// jpegExif returns the payload of the first APP1 "Exif" segment before the
// first scan.
func jpegExif(data []byte) []byte {
	var exif []byte
	jpegSegments(data, func(marker byte, seg []byte) bool {
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			exif = seg
			return false
		}
		return true
	})
	return exif
}

// jpegSegments calls f with each marker segment's marker and payload up to
// the first scan, until f returns false or the data ends or goes wrong.
func jpegSegments(data []byte, f func(marker byte, payload []byte) bool) {
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xff {
			return
		}
		marker := data[p+1]
		switch {
		case marker == 0xff: // fill byte
			p++
			continue
		case marker == 0xda || marker == 0xd9: // start of scan, end of image
			return
		case marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7): // no length
			p += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return
		}
		if !f(marker, data[p+4:p+2+n]) {
			return
		}
		p += 2 + n
	}
}

// pngChunk returns the data of the first chunk of the given type.
func pngChunk(data []byte, typ string) []byte {
	p := 8
	for p+8 <= len(data) {
		n := int64(binary.BigEndian.Uint32(data[p:]))
		if int64(p)+12+n > int64(len(data)) {
			return nil
		}
		if string(data[p+4:p+8]) == typ {
			return data[p+8 : p+8+int(n)]
		}
		p += 12 + int(n)
	}
	return nil
}

// riffChunk returns the data of the first chunk of the given FourCC in a
// RIFF WEBP file.
func riffChunk(data []byte, fourcc string) []byte {
	p := 12
	for p+8 <= len(data) {
		n := int64(binary.LittleEndian.Uint32(data[p+4:]))
		if int64(p)+8+n > int64(len(data)) {
			return nil
		}
		if string(data[p:p+4]) == fourcc {
			return data[p+8 : p+8+int(n)]
		}
		p += 8 + int(n) + int(n&1) // chunks are padded to even sizes
	}
	return nil
}

// tiffOrientation reads the Orientation entry of a TIFF structure's first
// IFD (a SHORT or LONG value), or returns 1.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	off := int64(bo.Uint32(t[4:]))
	if off+2 > int64(len(t)) {
		return 1
	}
	n := int64(bo.Uint16(t[off:]))
	for i := int64(0); i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > int64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		var v int
		switch bo.Uint16(t[e+2:]) {
		case 3: // SHORT
			v = int(bo.Uint16(t[e+8:]))
		case 4: // LONG
			v = int(bo.Uint32(t[e+8:]))
		default:
			return 1
		}
		if v < 1 || v > 8 {
			return 1
		}
		return v
	}
	return 1
}

// orient applies an EXIF orientation as PIL's ImageOps.exif_transpose
// does: 2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate 90°
// clockwise, 7 transverse, 8 rotate 90° counter-clockwise. Orientation 1
// (or any other value) returns m itself.
func orient(m *RGB, o int) *RGB {
	if o < 2 || o > 8 {
		return m
	}
	w, h := m.W, m.H
	if o >= 5 {
		w, h = h, w
	}
	out := NewRGB(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// (sx, sy): the source pixel shown at (x, y).
			var sx, sy int
			switch o {
			case 2:
				sx, sy = m.W-1-x, y
			case 3:
				sx, sy = m.W-1-x, m.H-1-y
			case 4:
				sx, sy = x, m.H-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, m.H-1-x
			case 7:
				sx, sy = m.W-1-y, m.H-1-x
			case 8:
				sx, sy = m.W-1-y, x
			}
			copy(out.Pix[3*(y*w+x):3*(y*w+x)+3], m.Pix[3*(sy*m.W+sx):])
		}
	}
	return out
}
