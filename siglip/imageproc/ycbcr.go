package imageproc

import "image"

// JPEG and WebP store colour as luma plus subsampled chroma. Go's decoders
// hand the planes over as they are; PIL's libraries (libjpeg-turbo and
// libwebp) interpolate the chroma and convert with their own fixed-point
// equations. The functions here reproduce those two libraries so that a
// decoded file gives PIL's RGB values, not Go's nearest-neighbour ones.

// chromaPlane is one subsampled chroma plane: w×h valid samples, each
// covering hs×vs luma pixels.
type chromaPlane struct {
	pix    []uint8
	stride int
	w, h   int
}

func (p chromaPlane) row(y int) []uint8 { return p.pix[y*p.stride:][:p.w] }

// planes returns the Cb and Cr planes of m and the subsampling factors,
// or ok=false when m's origin is not (0, 0) (a sub-image whose chroma
// grid does not start on its first pixel).
func planes(m *image.YCbCr) (cb, cr chromaPlane, hs, vs int, ok bool) {
	if m.Rect.Min != (image.Point{}) {
		return cb, cr, 0, 0, false
	}
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		hs, vs = 1, 2
	case image.YCbCrSubsampleRatio411:
		hs, vs = 4, 1
	case image.YCbCrSubsampleRatio410:
		hs, vs = 4, 2
	default:
		return cb, cr, 0, 0, false
	}
	w := (m.Rect.Max.X + hs - 1) / hs
	h := (m.Rect.Max.Y + vs - 1) / vs
	cb = chromaPlane{m.Cb, m.CStride, w, h}
	cr = chromaPlane{m.Cr, m.CStride, w, h}
	return cb, cr, hs, vs, true
}

// jpegYCbCrToRGB converts as libjpeg(-turbo) decodes for PIL: fancy
// upsampling (jdsample.c: h2v1, h2v2 and h1v2 triangle filters with their
// alternating rounding bias; other ratios and planes of at most two
// columns are replicated), then the JFIF equations of jdcolor.c.
func jpegYCbCrToRGB(out *RGB, m *image.YCbCr) {
	cb, cr, hs, vs, ok := planes(m)
	if !ok {
		// Unusual layout: Go's own nearest-neighbour chroma lookup.
		b := m.Bounds()
		for y := 0; y < out.H; y++ {
			dst := out.Pix[3*y*out.W:]
			for x := 0; x < out.W; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				dst[3*x], dst[3*x+1], dst[3*x+2] = jpegPixel(m.Y[yi], m.Cb[ci], m.Cr[ci])
			}
		}
		return
	}
	// Rows are upsampled to whole chroma groups, then cut to the width.
	ucb := make([]uint8, max(out.W, hs*cb.w))
	ucr := make([]uint8, len(ucb))
	for y := 0; y < out.H; y++ {
		jpegUpsampleRow(ucb, cb, hs, vs, y)
		jpegUpsampleRow(ucr, cr, hs, vs, y)
		lum := m.Y[y*m.YStride:][:out.W]
		dst := out.Pix[3*y*out.W:]
		for x, l := range lum {
			dst[3*x], dst[3*x+1], dst[3*x+2] = jpegPixel(l, ucb[x], ucr[x])
		}
	}
}

// jpegUpsampleRow writes the chroma of luma row y, len(dst) pixels wide.
func jpegUpsampleRow(dst []uint8, p chromaPlane, hs, vs, y int) {
	fancyH := hs == 2 && p.w > 2
	switch {
	case hs == 1 && vs == 1:
		copy(dst, p.row(y))
	case hs == 2 && vs == 1 && fancyH:
		h2v1Row(dst, p.row(y))
	case hs == 2 && vs == 2 && fancyH:
		near, far, _ := verticalPair(p, y)
		h2v2Row(dst, near, far)
	case hs == 1 && vs == 2:
		near, far, bias := verticalPair(p, y)
		for x := range dst {
			dst[x] = uint8((3*int(near[x]) + int(far[x]) + bias) >> 2)
		}
	default: // box filter (libjpeg's h2v1, h2v2 and int upsamplers)
		row := p.row(y / vs)
		for x := range dst {
			dst[x] = row[x/hs]
		}
	}
}

// verticalPair returns the chroma row nearest to luma row y (vertical
// factor 2), the next nearest (above for even rows, below for odd ones,
// the edge row repeated at the borders as libjpeg's context rows do), and
// the rounding bias h1v2 uses for that row.
func verticalPair(p chromaPlane, y int) (near, far []uint8, bias int) {
	cy := y / 2
	fy, bias := cy-1, 1
	if y%2 == 1 {
		fy, bias = cy+1, 2
	}
	fy = min(max(fy, 0), p.h-1)
	return p.row(cy), p.row(fy), bias
}

// h2v1Row is libjpeg's h2v1_fancy_upsample: output samples at 1/4 and 3/4
// between input centres, 3/4·nearer + 1/4·further, rounding bias 1 and 2
// alternately; the outermost samples are copied.
func h2v1Row(dst, in []uint8) {
	n := len(in)
	dst[0] = in[0]
	dst[1] = uint8((3*int(in[0]) + int(in[1]) + 2) >> 2)
	for i := 1; i < n-1; i++ {
		v := 3 * int(in[i])
		dst[2*i] = uint8((v + int(in[i-1]) + 1) >> 2)
		dst[2*i+1] = uint8((v + int(in[i+1]) + 2) >> 2)
	}
	dst[2*n-2] = uint8((3*int(in[n-1]) + int(in[n-2]) + 1) >> 2)
	dst[2*n-1] = in[n-1]
}

// h2v2Row is libjpeg's h2v2_fancy_upsample for one output row: vertical
// sums 3·near + far, then the same horizontal triangle with weights
// 9/16, 3/16, 3/16, 1/16 and rounding bias 8 and 7 alternately.
func h2v2Row(dst, near, far []uint8) {
	n := len(near)
	sum := func(i int) int { return 3*int(near[i]) + int(far[i]) }
	last, this := 0, sum(0)
	for i := 0; i < n; i++ {
		next := this // the last column has no right neighbour
		if i+1 < n {
			next = sum(i + 1)
		}
		if i == 0 {
			dst[0] = uint8((4*this + 8) >> 4)
		} else {
			dst[2*i] = uint8((3*this + last + 8) >> 4)
		}
		if i == n-1 {
			dst[2*i+1] = uint8((4*this + 7) >> 4)
		} else {
			dst[2*i+1] = uint8((3*this + next + 7) >> 4)
		}
		last, this = this, next
	}
}

// jpegPixel is libjpeg's ycc_rgb_convert (jdcolor.c) with its 16-bit
// fixed-point tables: R = Y + round(1.402·Cr'), B = Y + round(1.772·Cb'),
// G = Y + ⌊(−0.34414·Cb' − 0.71414·Cr' + ½)⌋, with Cb' = Cb−128 and
// Cr' = Cr−128, each clamped to [0, 255].
func jpegPixel(y, cb, cr uint8) (uint8, uint8, uint8) {
	const half = 1 << 15
	b1 := int32(cb) - 128
	r1 := int32(cr) - 128
	yy := int(y)
	r := yy + int((91881*r1+half)>>16)              // FIX(1.40200)
	b := yy + int((116130*b1+half)>>16)             // FIX(1.77200)
	g := yy + int((-22554*b1+half+(-46802)*r1)>>16) // FIX(0.34414), FIX(0.71414)
	return clip8(r), clip8(g), clip8(b)
}

// webpYCbCrToRGB converts VP8 (lossy WebP) planes as libwebp decodes them
// for PIL: fancy upsampling of the 4:2:0 chroma (upsampling.c, the
// 9-3-3-1 filter with libwebp's packed rounding) and the BT.601
// limited-range equations of yuv.h. Other layouts fall back to
// jpegYCbCrToRGB's rules, which is what Go's image.YCbCr means.
func webpYCbCrToRGB(out *RGB, m *image.YCbCr) {
	cb, cr, hs, vs, ok := planes(m)
	if !ok || hs != 2 || vs != 2 {
		jpegYCbCrToRGB(out, m)
		return
	}
	u := make([]uint8, out.W)
	v := make([]uint8, out.W)
	for y := 0; y < out.H; y++ {
		// Row 2k−1 lies nearest chroma row k−1, row 2k nearest row k;
		// the first and (for even heights) last rows see one row only.
		near := (y + 1) / 2
		far := near - 1
		if y%2 == 1 {
			near, far = y/2, y/2+1
		}
		far = min(max(far, 0), cb.h-1)
		webpUpsampleRow(u, cb.row(near), cb.row(far))
		webpUpsampleRow(v, cr.row(near), cr.row(far))
		lum := m.Y[y*m.YStride:][:out.W]
		dst := out.Pix[3*y*out.W:]
		for x, l := range lum {
			dst[3*x], dst[3*x+1], dst[3*x+2] = webpPixel(l, u[x], v[x])
		}
	}
}

// webpUpsampleRow is one row of libwebp's UPSAMPLE_FUNC: with a, b the
// near chroma row's samples left and right of a pixel pair and c, d the
// far row's, the pair gets ((avg + 2(b+c))>>3 + a)>>1 and
// ((avg + 2(a+d))>>3 + b)>>1, avg = a+b+c+d+8; the edge pixels get
// (3·near + far + 2)>>2.
func webpUpsampleRow(dst, near, far []uint8) {
	n := len(dst)
	dst[0] = uint8((3*int(near[0]) + int(far[0]) + 2) >> 2)
	last := (n - 1) >> 1
	for x := 1; x <= last; x++ {
		a, b := int(near[x-1]), int(near[x])
		c, d := int(far[x-1]), int(far[x])
		avg := a + b + c + d + 8
		dst[2*x-1] = uint8((((avg + 2*(b+c)) >> 3) + a) >> 1)
		dst[2*x] = uint8((((avg + 2*(a+d)) >> 3) + b) >> 1)
	}
	if n%2 == 0 {
		dst[n-1] = uint8((3*int(near[last]) + int(far[last]) + 2) >> 2)
	}
}

// webpPixel is libwebp's VP8YuvToRgb: 14-bit fixed point with the
// _mm_mulhi_epu16 emulation MultHi(v, c) = (v·c)>>8, descaled by 6 bits.
func webpPixel(y, u, v uint8) (uint8, uint8, uint8) {
	mul := func(a uint8, c int) int { return int(a) * c >> 8 }
	yy := mul(y, 19077)
	r := yy + mul(v, 26149) - 14234
	g := yy - mul(u, 6419) - mul(v, 13320) + 8708
	b := yy + mul(u, 33050) - 17685
	return webpClip(r), webpClip(g), webpClip(b)
}

// webpClip is libwebp's VP8Clip8.
func webpClip(v int) uint8 {
	if v&^(256<<6-1) == 0 {
		return uint8(v >> 6)
	}
	if v < 0 {
		return 0
	}
	return 255
}
