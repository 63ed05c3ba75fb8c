package imageproc

import (
	"image"
	"image/color"
)

// gifToRGB renders a GIF's first frame as PIL does: on the logical screen
// (w×h), the area outside the frame filled with the transparent index if
// the frame has one, else index 0, and every index looked up in the file's
// colour table. Go's decoder returns the frame alone and replaces the
// transparent entry of the table by transparent black, so the table and
// the transparent index are read from the file again here.
func gifToRGB(data []byte, m *image.Paletted, w, h int) *RGB {
	table, trans := gifFirstFrameTable(data)
	var lut [256][3]uint8
	for i, c := range m.Palette {
		if i < len(lut) {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			lut[i] = [3]uint8{n.R, n.G, n.B}
		}
	}
	for i := 0; i < len(lut) && 3*i+2 < len(table); i++ {
		lut[i] = [3]uint8{table[3*i], table[3*i+1], table[3*i+2]}
	}
	fill := lut[0]
	if trans >= 0 {
		fill = lut[trans]
	}
	out := NewRGB(w, h)
	for i := 0; i < w*h; i++ {
		copy(out.Pix[3*i:3*i+3], fill[:])
	}
	r := m.Rect.Intersect(out.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := m.Pix[m.PixOffset(r.Min.X, y):][:r.Dx()]
		dst := out.Pix[3*(y*w+r.Min.X):]
		for x, idx := range row {
			copy(dst[3*x:3*x+3], lut[idx][:])
		}
	}
	return out
}

// gifFirstFrameTable walks a GIF's blocks up to the first image descriptor
// and returns the colour table that image uses (its local table, else the
// global one) and the transparent index of the graphic control extension
// before it (-1 if none). A malformed file gives what was found so far.
func gifFirstFrameTable(data []byte) (table []byte, trans int) {
	trans = -1
	if len(data) < 13 {
		return nil, trans
	}
	p := 13
	if flags := data[10]; flags&0x80 != 0 {
		n := 3 << (flags&7 + 1)
		if p+n > len(data) {
			return nil, trans
		}
		table = data[p : p+n]
		p += n
	}
	for p < len(data) {
		switch data[p] {
		case 0x21: // extension: label, then data sub-blocks
			if p+1 >= len(data) {
				return table, trans
			}
			label := data[p+1]
			p += 2
			if label == 0xf9 && p+5 < len(data) && data[p] == 4 {
				if data[p+1]&1 != 0 {
					trans = int(data[p+4])
				} else {
					trans = -1
				}
			}
			for p < len(data) && data[p] != 0 {
				p += 1 + int(data[p])
			}
			p++
		case 0x2c: // image descriptor
			if p+10 > len(data) {
				return table, trans
			}
			flags := data[p+9]
			if flags&0x80 != 0 {
				n := 3 << (flags&7 + 1)
				if p+10+n <= len(data) {
					table = data[p+10 : p+10+n]
				}
			}
			return table, trans
		default: // trailer or junk
			return table, trans
		}
	}
	return table, trans
}
