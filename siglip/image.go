package siglip

import (
	"errors"
	"fmt"

	"gemmavk/siglip/imageproc"
)

// ImageOptions configure EncodeImageWith.
type ImageOptions struct {
	// PanAndScan adds the Pan & Scan crops of an elongated image after the
	// whole image (GEMMA3.md §7.1), with the processor's default crop
	// settings.
	PanAndScan bool
	// Progress, when set, is called before each part of the image is
	// encoded, with the parts done so far and the parts in all (the whole
	// image plus its crops), and once more with done == total at the end.
	Progress func(done, total int)
}

// EncodeImage preprocesses one decoded image at the encoder's image size
// (imageproc.Preprocess: the whole image, then its Pan & Scan crops when
// panAndScan is set) and encodes each part. features[0] is the whole
// image's [TokensPerImage, TextHidden] rows, features[1:] those of the
// crops in order, which is the order of the image's soft-token runs in a
// prompt expanded with crops Pan & Scan crops (gemma3.ExpandImages).
func (e *Encoder) EncodeImage(img *imageproc.RGB, panAndScan bool) (features [][]float32, crops int, err error) {
	return e.EncodeImageWith(img, ImageOptions{PanAndScan: panAndScan})
}

// EncodeImageWith is EncodeImage with progress reports.
func (e *Encoder) EncodeImageWith(img *imageproc.RGB, opt ImageOptions) (features [][]float32, crops int, err error) {
	if img == nil || img.W <= 0 || img.H <= 0 {
		return nil, 0, errors.New("siglip: encode image: empty image")
	}
	if len(img.Pix) != 3*img.W*img.H {
		return nil, 0, fmt.Errorf("siglip: encode image: %d bytes of pixels for %dx%d RGB", len(img.Pix), img.W, img.H)
	}
	c := &e.m.Config
	if c.Channels != 3 {
		return nil, 0, fmt.Errorf("siglip: encode image: the encoder takes %d channels, images have 3", c.Channels)
	}
	px, err := imageproc.Preprocess(img, imageproc.Options{Size: c.ImageSize, PanAndScan: opt.PanAndScan})
	if err != nil {
		return nil, 0, fmt.Errorf("siglip: encode image: %w", err)
	}
	progress := opt.Progress
	if progress == nil {
		progress = func(int, int) {}
	}
	features = make([][]float32, px.Images)
	for i := range features {
		progress(i, px.Images)
		if features[i], err = e.Encode(px.Image(i)); err != nil {
			if i > 0 {
				err = fmt.Errorf("crop %d of %d: %w", i, px.Crops, err)
			}
			return nil, 0, err
		}
	}
	progress(px.Images, px.Images)
	return features, px.Crops, nil
}
