package main

import (
	"errors"
	"flag"
	"fmt"

	"gemmavk/gemma3"
	"gemmavk/gpu"
	"gemmavk/safetensors"
	"gemmavk/siglip"
)

// imageOptions give an --ids evaluation the images of its soft tokens
// (GEMMA3.md §6.3): each run of image soft tokens in --ids takes, in order,
// the features of the next image.
//
//	run -m MODEL --ids "..." --pixels PIXELS.safetensors --logits OUT.safetensors
//	run -m MODEL --ids "..." --features FEATURES.safetensors --logits OUT.safetensors
//
// --pixels encodes each image with the vision tower of the checkpoint
// directory or of --mmproj, on the executor of the evaluation.
type imageOptions struct {
	pixels   string // safetensors with pixel_values [N, 3, H, W], preprocessed
	features string // safetensors with image_features [images*tokens, H]
	// open makes the vision encoder that turns --pixels into features
	// (nil: openImageEncoder). An encoder with a Close method is closed
	// after the images.
	open func(model string, m *gemma3.Model) (gemma3.ImageEncoder, error)
	// What openImageEncoder needs besides the model: the --mmproj file, the
	// device of the evaluation (nil: the CPU) and the CPU threads.
	mmproj  string
	dev     *gpu.Device
	threads int
}

func (io *imageOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&io.pixels, "pixels", "", "with --ids: images for the image soft tokens, tensor pixel_values [N,3,H,W] (preprocessed) of this safetensors file")
	fs.StringVar(&io.features, "features", "", "with --ids: image features for the image soft tokens, tensor image_features [images*tokens, hidden] of this safetensors file")
}

// check validates the image flags once the others are parsed.
func (io *imageOptions) check(ids bool) error {
	switch {
	case io.pixels != "" && io.features != "":
		return errors.New("--pixels and --features exclude each other")
	case (io.pixels != "" || io.features != "") && !ids:
		return errors.New("--pixels and --features go with --ids and --logits")
	}
	return nil
}

// openImageEncoder opens the vision tower of the evaluation (--mmproj, or
// the checkpoint directory's own), checks it against the text model and
// makes its encoder on the evaluation's executor.
func (io *imageOptions) openImageEncoder(model string, m *gemma3.Model) (gemma3.ImageEncoder, error) {
	v, _, err := openTower(model, io.mmproj, m)
	if err != nil {
		return nil, fmt.Errorf("--pixels: %w", err)
	}
	if v == nil {
		return nil, fmt.Errorf("--pixels: %s has no vision tower; pass --mmproj FILE, or the image features with --features", model)
	}
	enc, err := v.NewEncoder(siglip.EncoderOptions{Device: io.dev, Threads: io.threads})
	if err != nil {
		v.Close()
		return nil, fmt.Errorf("--pixels: %w", err)
	}
	return &pixelEncoder{enc, v}, nil
}

// pixelEncoder is an encoder that owns its tower.
type pixelEncoder struct {
	*siglip.Encoder
	model *siglip.Model
}

func (e *pixelEncoder) Close() {
	e.Encoder.Close()
	e.model.Close()
}

// images returns the features of the images the flags name, in order (nil
// without image flags).
func (io *imageOptions) images(model string, m *gemma3.Model) ([][]float32, error) {
	switch {
	case io.features != "":
		return readFeatures(io.features, m.Config.Hidden)
	case io.pixels != "":
		open := io.open
		if open == nil {
			open = io.openImageEncoder
		}
		enc, err := open(model, m)
		if err != nil {
			return nil, err
		}
		if c, ok := enc.(interface{ Close() }); ok {
			defer c.Close()
		}
		pixels, per, err := readTensor(io.pixels, "pixel_values")
		if err != nil {
			return nil, err
		}
		if s := per.Shape; len(s) != 4 || s[0] < 1 || s[1] != 3 || s[2] < 1 || s[3] < 1 {
			return nil, fmt.Errorf("--pixels %s: pixel_values has shape %v, want [N, 3, H, W]", io.pixels, per.Shape)
		}
		n := per.Shape[0]
		size := len(pixels) / n
		out := make([][]float32, n)
		for i := range out {
			if out[i], err = enc.Encode(pixels[i*size : (i+1)*size]); err != nil {
				return nil, fmt.Errorf("--pixels %s: image %d: %w", io.pixels, i, err)
			}
		}
		return out, nil
	}
	return nil, nil
}

// readFeatures reads image_features, [rows, hidden] or [images, tokens,
// hidden], as one slice per image.
func readFeatures(path string, hidden int) ([][]float32, error) {
	v, info, err := readTensor(path, "image_features")
	if err != nil {
		return nil, err
	}
	s := info.Shape
	if (len(s) != 2 && len(s) != 3) || s[len(s)-1] != hidden || len(v) == 0 {
		return nil, fmt.Errorf("--features %s: image_features has shape %v, want [rows, %d] or [images, tokens, %d]", path, s, hidden, hidden)
	}
	if len(s) == 2 {
		return [][]float32{v}, nil
	}
	per := len(v) / s[0]
	out := make([][]float32, s[0])
	for i := range out {
		out[i] = v[i*per : (i+1)*per]
	}
	return out, nil
}

// readTensor reads one float tensor of a safetensors file.
func readTensor(path, name string) ([]float32, safetensors.TensorInfo, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, safetensors.TensorInfo{}, err
	}
	defer f.Close()
	info, ok := f.Tensor(name)
	if !ok {
		return nil, info, fmt.Errorf("%s: no tensor %q", path, name)
	}
	data, err := f.Data(name)
	if err != nil {
		return nil, info, fmt.Errorf("%s: %w", path, err)
	}
	v, err := safetensors.Float32s(info, data)
	if err != nil {
		return nil, info, fmt.Errorf("%s: %s: %w", path, name, err)
	}
	return v, info, nil
}
