package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"gemmavk"
	"gemmavk/gemma3"
	"gemmavk/gpu"
	"gemmavk/siglip"
	"gemmavk/siglip/imageproc"
	"gemmavk/tokenizer"
)

// Images in generation and chat (GEMMA3.md §6–§8):
//
//	run -m DIR -p "What is this?" --image cat.png [--image dog.jpg] [--pan-and-scan]
//	run -m text.gguf --mmproj mmproj.gguf -p "..." --image cat.png
//	run -m DIR            then /image cat.png in the chat
//
// The vision tower comes from --mmproj (a llama.cpp mmproj GGUF) or, for
// an HF checkpoint directory whose config.json has vision_config, from the
// directory itself. It runs on the text model's executor and device.

// visionOptions are the image flags of generation and chat. Pan & Scan is
// --pan-and-scan, shared with --preprocess.
type visionOptions struct {
	images []string // --image, in order
	mmproj string
}

func (v *visionOptions) register(fs *flag.FlagSet) {
	fs.Func("image", "image file (PNG, JPEG, GIF, WebP) for -p, or for the chat's first message; repeat for several",
		func(s string) error {
			if s == "" {
				return errors.New("empty path")
			}
			v.images = append(v.images, s)
			return nil
		})
	fs.StringVar(&v.mmproj, "mmproj", "", "vision tower: a llama.cpp mmproj GGUF to pair with -m (an HF directory with vision_config brings its own)")
}

// check validates the image flags once the others are parsed.
func (v *visionOptions) check(o *options) error {
	if len(v.images) > 0 && (o.ids != "" || o.tokenize) {
		return errors.New("--image goes with -p or the chat; an --ids evaluation takes --pixels or --features")
	}
	return nil
}

// vision is the vision tower paired with the text model. Its encoder is
// made on the text model's executor at the first image and kept.
type vision struct {
	model      *siglip.Model
	source     string // where the tower came from, for messages
	panAndScan bool
	dev        *gpu.Device // nil: the CPU executor
	threads    int
	log        *slog.Logger
	prog       *progress
	note       io.Writer // one line per image encoded, when stderr is not a terminal
	enc        *siglip.Encoder
	// images are the decoded --image files, encoded by prompt.
	images []*imageproc.RGB
	names  []string
}

// openVision loads the vision tower for the run, when one is wanted: always
// with --mmproj or --image, and for the chat (so that /image works) when
// the checkpoint directory has one. It decodes the --image files first, so
// that a bad file fails before anything slow. nil means no vision.
func openVision(o *options, m *gemma3.Model, prog *progress, note io.Writer) (*vision, error) {
	var imgs []*imageproc.RGB
	for _, path := range o.vis.images {
		img, err := decodeImage(path)
		if err != nil {
			return nil, fmt.Errorf("--image %w", err)
		}
		imgs = append(imgs, img)
	}
	if o.vis.mmproj == "" && len(imgs) == 0 && o.prompt != "" {
		return nil, nil // -p without images
	}
	v, src, err := openTower(o.model, o.vis.mmproj, m)
	if err != nil {
		return nil, err
	}
	if v == nil {
		if len(imgs) > 0 {
			return nil, fmt.Errorf("--image: %s has no vision tower; pair a GGUF with one through --mmproj FILE (a llama.cpp mmproj GGUF)", o.model)
		}
		return nil, nil
	}
	return &vision{model: v, source: src, panAndScan: o.pre.panAndScan, prog: prog, note: note,
		images: imgs, names: o.vis.images}, nil
}

// openTower opens the vision tower that goes with the text model m read
// from model, and pairs the two (gemmavk.OpenVision): the --mmproj file
// when one is named, else the checkpoint directory's own. It returns nil
// and no error when there is none; source names where it came from.
func openTower(model, mmproj string, m *gemma3.Model) (v *siglip.Model, source string, err error) {
	v, source, err = gemmavk.OpenVision(m, model, mmproj)
	if err != nil && mmproj != "" {
		err = fmt.Errorf("--mmproj: %w", err)
	}
	return v, source, err
}

// decodeImage reads one image file as RGB (imageproc.Decode with the
// default limits). Errors start with the path and fit on one line.
func decodeImage(path string) (*imageproc.RGB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError: "open PATH: ..."
	}
	defer f.Close()
	img, err := imageproc.Decode(f, imageproc.Limits{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// use sets the executor the encoder runs on: the text model's.
func (v *vision) use(d *gpu.Device, threads int, log *slog.Logger) {
	if v != nil {
		v.dev, v.threads, v.log = d, threads, log
	}
}

// Close releases the encoder and the tower.
func (v *vision) Close() {
	if v == nil {
		return
	}
	if v.enc != nil {
		v.enc.Close()
	}
	v.model.Close()
}

// encode preprocesses and encodes one image (the i-th of n, for the
// progress line) with its Pan & Scan crops when asked.
func (v *vision) encode(img *imageproc.RGB, name string, i, n int) (gemma3.ImageFeatures, error) {
	if v.enc == nil {
		enc, err := v.model.NewEncoder(siglip.EncoderOptions{Device: v.dev, Threads: v.threads, Logger: v.log})
		if err != nil {
			return nil, fmt.Errorf("vision encoder (%s): %w", v.source, err)
		}
		v.enc = enc
	}
	crops := 0
	if v.panAndScan {
		crops = len(imageproc.CropRects(img.W, img.H, imageproc.Options{}))
	}
	what := fmt.Sprintf("encoding image %d/%d", i, n)
	switch crops {
	case 0:
	case 1:
		what += " (1 crop)"
	default:
		what += fmt.Sprintf(" (%d crops)", crops)
	}
	if !v.prog.tty {
		fmt.Fprintf(v.note, "run: %s: %s, %dx%d…\n", what, filepath.Base(name), img.W, img.H)
	}
	bar := v.prog.hook(what, false)
	f, _, err := v.enc.EncodeImageWith(img, siglip.ImageOptions{PanAndScan: v.panAndScan,
		Progress: func(done, total int) { bar(int64(done), int64(total)) }})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// prompt renders -p with the --image files and encodes them: without
// --raw, one user turn whose image parts come before the text (the chat
// template, gemma3.Model.ImagePrompt); with --raw, the images go where the
// prompt has <start_of_image> markers, one per image, or before the text
// when it has none. It returns the ids and the features of the soft
// tokens in order. Without images it is promptIDs.
func (v *vision) prompt(o *options, m *gemma3.Model) ([]int, [][]float32, error) {
	if v == nil || len(v.images) == 0 {
		ids, err := promptIDs(o, m)
		return ids, nil, err
	}
	if m.Tokenizer == nil {
		return nil, nil, fmt.Errorf("the model has no tokenizer (an HF directory needs tokenizer.json)")
	}
	n, text := len(v.images), o.prompt
	switch marks := strings.Count(text, tokenizer.StartOfImageText); {
	case !o.raw && marks > 0:
		return nil, nil, fmt.Errorf("-p holds %s: the chat template puts the images before the text; with --raw they go at the markers", tokenizer.StartOfImageText)
	case o.raw && marks == 0:
		text = strings.Repeat(tokenizer.StartOfImageText, n) + text
	case o.raw && marks != n:
		return nil, nil, fmt.Errorf("--raw: the prompt has %d %s markers for %d images", marks, tokenizer.StartOfImageText, n)
	}
	var features [][]float32
	crops := make([]int, n)
	for i, img := range v.images {
		f, err := v.encode(img, v.names[i], i+1, n)
		if err != nil {
			return nil, nil, fmt.Errorf("--image %s: %w", v.names[i], err)
		}
		crops[i] = f.Crops()
		features = append(features, f...)
	}
	var ids []int
	var err error
	if o.raw {
		ids, err = m.ImageText(text, crops)
	} else {
		var msgs []tokenizer.Message
		if o.system != "" {
			msgs = append(msgs, tokenizer.Message{Role: "system", Content: o.system})
		}
		parts := make([]tokenizer.Part, n, n+1)
		for i := range parts {
			parts[i] = tokenizer.Part{Type: "image"}
		}
		parts = append(parts, tokenizer.Part{Type: "text", Text: o.prompt})
		ids, err = m.ImagePrompt(append(msgs, tokenizer.Message{Role: "user", Parts: parts}), crops)
	}
	return ids, features, err
}
