package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"gemmavk/safetensors"
	"gemmavk/siglip/imageproc"
)

// preprocessOptions are the flags of the image preprocessing mode, which
// needs no model:
//
//	run --preprocess photo.jpg --pixels-out pixels.safetensors [--pan-and-scan] [--image-size 896]
type preprocessOptions struct {
	image, out string
	panAndScan bool
	size       int
}

func (p *preprocessOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&p.image, "preprocess", "", "preprocess this image (PNG, JPEG, GIF, WebP) for the vision tower and exit (with --pixels-out)")
	fs.StringVar(&p.out, "pixels-out", "", "write the preprocessed image as tensor pixel_values [1+crops,3,N,N] to this safetensors file")
	fs.BoolVar(&p.panAndScan, "pan-and-scan", false, "with --preprocess or --image: add Pan & Scan crops of elongated images")
	fs.IntVar(&p.size, "image-size", imageproc.DefaultSize, "with --preprocess: side N of the square images")
}

// validate checks the flags after parsing.
func (p *preprocessOptions) validate() error {
	if (p.image == "") != (p.out == "") {
		return errors.New("--preprocess and --pixels-out go together")
	}
	if p.size <= 0 || p.size > imageproc.MaxSize {
		return fmt.Errorf("--image-size %d: want 1…%d", p.size, imageproc.MaxSize)
	}
	return nil
}

// preprocessImage decodes the image, preprocesses it as Gemma 3's image
// processor does and writes pixel_values, with the crop count in the
// file's metadata ("num_crops") and on stdout.
func preprocessImage(p preprocessOptions, stdout io.Writer) error {
	f, err := os.Open(p.image)
	if err != nil {
		return err
	}
	img, err := imageproc.Decode(f, imageproc.Limits{})
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", p.image, err)
	}
	px, err := imageproc.Preprocess(img, imageproc.Options{Size: p.size, PanAndScan: p.panAndScan})
	if err != nil {
		return fmt.Errorf("%s: %w", p.image, err)
	}
	shape := []int{px.Images, 3, px.Size, px.Size}
	t := safetensors.F32Tensor("pixel_values", shape, px.Data)
	meta := map[string]string{"num_crops": strconv.Itoa(px.Crops)}
	if err := safetensors.WriteFile(p.out, []safetensors.Tensor{t}, meta); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s: %dx%d, %d crops: pixel_values %v written to %s\n",
		p.image, img.W, img.H, px.Crops, shape, p.out)
	return err
}
