package imageproc

import "math"

// Resize scales src to w×h with antialiased bilinear resampling as HF's
// Gemma3ImageProcessor does it (transformers 5, torchvision backend:
// torch's uint8 _upsample_bilinear2d_aa kernel, a port of PIL's
// ImagingResample):
//
//   - each output sample is a triangle-filter average of the input samples
//     around its centre; when shrinking, the filter's support widens by the
//     scale factor, so every input pixel contributes (antialiasing);
//   - the weights of one output sample are normalized to sum to 1, then
//     rounded to fixed point with as many fraction bits (at most 22) as keep
//     the largest weight of the pass within an int16;
//   - the horizontal pass runs first, over the rows the vertical pass will
//     read, and rounds to uint8; the vertical pass then does the same.
//
// A pass whose size does not change is skipped. PIL's own kernel differs
// only in always using 22 fraction bits, which moves about one value in
// 500 by one level. A size that is not positive gives an empty image, an
// empty src a black one.
func Resize(src *RGB, w, h int) *RGB {
	switch {
	case w <= 0 || h <= 0:
		return &RGB{}
	case src.W <= 0 || src.H <= 0:
		return NewRGB(w, h)
	case w == src.W && h == src.H:
		out := NewRGB(w, h)
		copy(out.Pix, src.Pix)
		return out
	}
	var vert coeffs
	first, rows := 0, src.H // input rows the vertical pass reads
	if h != src.H {
		vert = bilinearCoeffs(src.H, h)
		first = vert.start[0]
		rows = vert.start[h-1] + vert.count[h-1] - first
	}
	tmp := src
	if w != src.W {
		tmp = resizeRows(src, w, first, rows)
	} else {
		first = 0 // tmp is src itself
	}
	if h == src.H {
		return tmp
	}
	return resizeColumns(tmp, h, vert, first)
}

// resizeRows is the horizontal pass over rows first … first+rows−1 of src.
func resizeRows(src *RGB, w, first, rows int) *RGB {
	c := bilinearCoeffs(src.W, w)
	out := NewRGB(w, rows)
	for y := range rows {
		in := src.Pix[3*(first+y)*src.W:][:3*src.W]
		dst := out.Pix[3*y*w:][:3*w]
		for x := range w {
			px := in[3*c.start[x]:]
			r, g, b := c.half(), c.half(), c.half()
			for i, k := range c.weights(x) {
				r += int32(px[3*i]) * k
				g += int32(px[3*i+1]) * k
				b += int32(px[3*i+2]) * k
			}
			dst[3*x], dst[3*x+1], dst[3*x+2] = c.toU8(r), c.toU8(g), c.toU8(b)
		}
	}
	return out
}

// resizeColumns is the vertical pass; src's row 0 is input row first.
func resizeColumns(src *RGB, h int, c coeffs, first int) *RGB {
	out := NewRGB(src.W, h)
	stride := 3 * src.W
	acc := make([]int32, stride)
	for y := range h {
		for i := range acc {
			acc[i] = c.half()
		}
		y0 := c.start[y] - first
		for i, k := range c.weights(y) {
			row := src.Pix[(y0+i)*stride:][:stride]
			for j, v := range row {
				acc[j] += int32(v) * k
			}
		}
		dst := out.Pix[y*stride:][:stride]
		for j, s := range acc {
			dst[j] = c.toU8(s)
		}
	}
	return out
}

// maxBits is PIL's PRECISION_BITS (32 − 8 − 2), the most fraction bits a
// weight gets.
const maxBits = 22

// half starts every weighted sum at one half.
func (c *coeffs) half() int32 { return 1 << (c.bits - 1) }

// toU8 is PIL's clip8: shift out the fraction, clamp to [0, 255].
func (c *coeffs) toU8(s int32) uint8 {
	return clip8(int(s >> c.bits))
}

// coeffs holds, for each output sample, the first input sample it reads,
// how many it reads, and their fixed-point weights (ksize per sample).
type coeffs struct {
	start, count []int
	k            []int32
	ksize        int
	bits         uint // fixed-point fraction bits of k
}

func (c *coeffs) weights(i int) []int32 { return c.k[i*c.ksize:][:c.count[i]] }

// bilinearCoeffs computes the weights as PIL's precompute_coeffs and
// torch's _compute_weights_aa do for the bilinear filter (support 1) over
// the whole input, in the same floating-point order so that the rounded
// weights come out identical, then rounds them to fixed point as torch's
// uint8 kernel does.
func bilinearCoeffs(inSize, outSize int) coeffs {
	scale := float64(inSize) / float64(outSize)
	filterScale := max(scale, 1)
	support := filterScale // bilinear support is 1
	ksize := int(math.Ceil(support))*2 + 1
	c := coeffs{
		start: make([]int, outSize),
		count: make([]int, outSize),
		k:     make([]int32, outSize*ksize),
		ksize: ksize,
	}
	ss := 1 / filterScale
	w := make([]float64, outSize*ksize)
	var wmax float64
	for xx := range outSize {
		center := float64((float64(xx) + 0.5) * scale)
		// int() truncates toward zero like C's cast.
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), inSize) - xmin
		xmax = min(xmax, ksize) // torch clamps rare rounding overshoots
		k := w[xx*ksize:]
		var sum float64
		for x := 0; x < xmax; x++ {
			v := triangle(float64((float64(x+xmin) - center + 0.5) * ss))
			k[x] = v
			sum += v
		}
		for x := 0; x < xmax; x++ {
			if sum != 0 {
				k[x] /= sum
			}
			wmax = max(wmax, k[x])
		}
		c.start[xx], c.count[xx] = xmin, xmax
	}
	// torch's compute_index_ranges_int16_weights: the largest precision
	// at which the biggest weight, rounded, still fits an int16.
	for c.bits < maxBits && int(0.5+wmax*float64(int(1)<<(c.bits+1))) < 1<<15 {
		c.bits++
	}
	for i, v := range w {
		// Bilinear weights are never negative.
		c.k[i] = int32(0.5 + float64(v*float64(int(1)<<c.bits)))
	}
	return c
}

// triangle is PIL's bilinear_filter.
func triangle(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}
