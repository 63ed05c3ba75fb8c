package gemmavk

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"gemmavk/gemma3"
	"gemmavk/siglip"
	"gemmavk/siglip/imageproc"
)

// OpenVision loads the vision tower that goes with the text model g read
// from model, and pairs the two: the mmproj file (a llama.cpp mmproj GGUF)
// when one is named, else the checkpoint directory's own when model is an
// HF directory whose config.json has a vision_config. It returns nil and
// no error when there is none. source names where the tower came from.
//
// Pairing checks that the projector's output width is the text model's
// hidden size and that the text model's vocabulary has the image tokens
// at the ids its config names (gemma3.Model.EnableImages, which also takes
// the tokens per image from the tower). A model without a tokenizer is
// checked for the tokens per image only.
func OpenVision(g *gemma3.Model, model, mmproj string) (v *siglip.Model, source string, err error) {
	source = mmproj
	if source == "" {
		has, err := hasVisionConfig(model)
		if err != nil || !has {
			return nil, "", err
		}
		source = model
	}
	if v, err = siglip.Load(source); err != nil {
		return nil, "", err
	}
	if err := pairVision(g, v, source); err != nil {
		v.Close()
		return nil, "", err
	}
	return v, source, nil
}

// hasVisionConfig reports whether model is a checkpoint directory whose
// config.json has a vision_config (a multimodal checkpoint).
func hasVisionConfig(model string) (bool, error) {
	st, err := os.Stat(model)
	if err != nil || !st.IsDir() {
		return false, nil
	}
	raw, err := os.ReadFile(filepath.Join(model, "config.json"))
	if err != nil {
		return false, nil // the text loader has reported it by now
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return false, fmt.Errorf("%s: config.json: %w", model, err)
	}
	vc, ok := top["vision_config"]
	return ok && string(vc) != "null", nil
}

// pairVision checks that the vision tower v (from source) fits the text
// model g (see OpenVision).
func pairVision(g *gemma3.Model, v *siglip.Model, source string) error {
	if got, want := v.Config.TextHidden, g.Config.Hidden; got != want {
		return fmt.Errorf("%s: the vision projector gives %d-wide features, the text model is %d wide: the two do not belong together",
			source, got, want)
	}
	if g.Tokenizer == nil {
		if n := g.Config.Image.Tokens; n != 0 && n != v.Config.TokensPerImage {
			return fmt.Errorf("%s: the vision tower gives %d tokens per image, the text model's config says %d",
				source, v.Config.TokensPerImage, n)
		}
		return nil
	}
	if err := g.EnableImages(v.Config.TokensPerImage); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	return nil
}

// Vision reports whether the model accepts images: Load found a vision
// tower (Options.MMProj, or the checkpoint directory's own) and paired it
// with the text model.
func (m *Model) Vision() bool { return m.vis != nil }

// VisionSource names where the vision tower came from (empty: none).
func (m *Model) VisionSource() string { return m.visSource }

// encodeImage encodes one image (the whole image, then its Pan & Scan
// crops when panAndScan is set) on the model's executor. The encoder is
// made at the first image and kept. The caller holds the model's turn,
// which orders encoding with the sessions' steps and guards the encoder.
func (m *Model) encodeImage(img *imageproc.RGB, panAndScan bool) ([][]float32, error) {
	if m.vis == nil {
		return nil, ErrNoVision
	}
	if m.enc == nil {
		enc, err := m.vis.NewEncoder(siglip.EncoderOptions{Device: m.dev, Threads: m.opt.Threads, Logger: m.opt.Logger})
		if err != nil {
			return nil, fmt.Errorf("gemmavk: vision encoder (%s): %w", m.visSource, err)
		}
		m.enc = enc
	}
	f, _, err := m.enc.EncodeImageWith(img, siglip.ImageOptions{PanAndScan: panAndScan})
	if err != nil {
		return nil, fmt.Errorf("gemmavk: encoding an image of %dx%d: %w", img.W, img.H, err)
	}
	return f, nil
}

// closeVision releases the encoder and the tower.
func (m *Model) closeVision() {
	if m.enc != nil {
		m.enc.Close()
		m.enc = nil
	}
	if m.vis != nil {
		m.vis.Close()
		m.vis = nil
	}
}
