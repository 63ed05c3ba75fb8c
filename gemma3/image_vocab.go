package gemma3

import (
	"fmt"

	"gemmavk/tokenizer"
)

// EnableImages prepares the model for image prompts with a vision tower
// that gives tokens soft tokens per image (its mm_tokens_per_image).
//
// A GGUF text model carries no image keys, so the zero fields of
// Config.Image are taken from the vocabulary: the ids of its
// <start_of_image>, <end_of_image> and <image_soft_token> pieces (the
// defaults where a piece is missing); Config.Image.Tokens becomes tokens.
// Then the image tokens must be single pieces of the tokenizer at the ids
// Config.Image names (a text-only vocabulary fails here), and a number of
// tokens per image stated by the config must equal tokens.
func (m *Model) EnableImages(tokens int) error {
	if m.Tokenizer == nil {
		return fmt.Errorf("gemma3: images: the model has no tokenizer")
	}
	if tokens <= 0 {
		return fmt.Errorf("gemma3: images: %d tokens per image", tokens)
	}
	ic := &m.Config.Image
	if ic.Tokens != 0 && ic.Tokens != tokens {
		return fmt.Errorf("gemma3: images: the text model's config has %d tokens per image, the vision tower gives %d",
			ic.Tokens, tokens)
	}
	for _, f := range []struct {
		piece string
		id    *int
	}{
		{tokenizer.StartOfImageText, &ic.BOI},
		{tokenizer.EndOfImageText, &ic.EOI},
		{tokenizer.ImageSoftToken, &ic.Token},
	} {
		if *f.id == 0 {
			if id, ok := m.Tokenizer.ID(f.piece); ok {
				*f.id = id
			}
		}
	}
	ic.Tokens = tokens
	return checkImageVocab(m.Tokenizer, ic.Resolved())
}

// checkImageVocab reports whether tok has the image tokens of ic as single
// pieces at ic's ids.
func checkImageVocab(tok *tokenizer.Tokenizer, ic ImageConfig) error {
	for _, p := range []struct {
		piece string
		id    int
	}{
		{tokenizer.StartOfImageText, ic.BOI},
		{tokenizer.EndOfImageText, ic.EOI},
		{tokenizer.ImageSoftToken, ic.Token},
	} {
		if id, ok := tok.ID(p.piece); !ok || id != p.id {
			return fmt.Errorf("gemma3: image prompt: the tokenizer has no %s token %d (a text-only vocabulary?)", p.piece, p.id)
		}
	}
	return nil
}

// ImageText tokenizes raw text (no chat template) whose <start_of_image>
// markers stand for images, with one <bos> first: each marker is expanded
// as ExpandImages does, with Config.Image's tokens per image and crops[i]
// Pan & Scan crops for image i (nil: none).
func (m *Model) ImageText(text string, crops []int) ([]int, error) {
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("gemma3: image prompt: the model has no tokenizer")
	}
	ids, err := encodeImagePrompt(m.Tokenizer, m.Config.Image.Resolved(), text, crops)
	if err != nil {
		return nil, err
	}
	return append([]int{m.Config.BOS}, ids...), nil
}

// encodeImagePrompt is EncodeImagePrompt with the image ids and tokens
// per image of ic.
func encodeImagePrompt(tok *tokenizer.Tokenizer, ic ImageConfig, prompt string, crops []int) ([]int, error) {
	if err := checkImageVocab(tok, ic); err != nil {
		return nil, err
	}
	text, err := ExpandImages(prompt, ic.Tokens, crops)
	if err != nil {
		return nil, err
	}
	return tok.Encode(text, true), nil
}
