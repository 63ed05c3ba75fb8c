package gemma3

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gemmavk/internal/checkpoint"
	"gemmavk/safetensors"
	"gemmavk/tokenizer"
)

// hfPrefixes are the places the text decoder lives in HF checkpoints
// (GEMMA3.md §5.1): text-only, multimodal as stored on the Hub, and
// multimodal re-saved by newer transformers.
var hfPrefixes = []string{"model.", "language_model.model.", "model.language_model."}

// hfSource reads tensors from safetensors files under one decoder prefix.
type hfSource struct {
	set    *safetensors.Set
	prefix string
}

func (s hfSource) gainOffset() float32 { return 1 }

func (s hfSource) tensor(name string) (checkpoint.Tensor, bool, error) {
	full := s.prefix + name
	if name == "lm_head.weight" {
		// The untied head sits beside the decoder, not inside it.
		full = "lm_head.weight"
		if s.prefix == "language_model.model." {
			full = "language_model.lm_head.weight"
		}
	}
	return checkpoint.FromSafetensors(s.set, full)
}

// loadHF opens an HF checkpoint directory: config.json, safetensors (one
// file or sharded), and tokenizer.json when present.
func loadHF(dir string) (*Model, error) {
	cfg, set, err := checkpoint.OpenHF(dir, ParseHFConfig)
	if err != nil {
		return nil, err
	}
	m, err := modelFromHF(dir, cfg, set)
	if err != nil {
		set.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	m.closers = append(m.closers, set)
	return m, nil
}

func modelFromHF(dir string, cfg Config, set *safetensors.Set) (*Model, error) {
	src := hfSource{set: set}
	for _, p := range hfPrefixes {
		if _, ok := set.Tensor(p + "embed_tokens.weight"); ok {
			src.prefix = p
		}
	}
	if src.prefix == "" {
		return nil, fmt.Errorf("no embed_tokens.weight under any of the prefixes %v", hfPrefixes)
	}
	w, err := loadWeights(&cfg, src, func(s tensorSpec) string { return s.hf })
	if err != nil {
		return nil, err
	}
	cfg.EmbedScale = embedScale(cfg.Hidden, w.Embed.Type)
	m := &Model{Config: cfg, Weights: w}
	tok, err := tokenizer.LoadHFJSON(filepath.Join(dir, "tokenizer.json"))
	switch {
	case err == nil:
		m.Tokenizer = tok
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	return m, nil
}
