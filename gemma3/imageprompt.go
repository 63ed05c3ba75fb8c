package gemma3

import (
	"fmt"
	"strings"

	"gemmavk/tokenizer"
)

// Image token ids of the Gemma 3 tokenizer (GEMMA3.md §8.1).
const (
	StartOfImageID   = DefaultBOI        // <start_of_image>, BOI
	EndOfImageID     = DefaultEOI        // <end_of_image>, EOI
	ImageSoftTokenID = DefaultImageToken // <image_soft_token>, replaced by image features
)

// ImageSeq is the text one image becomes (GEMMA3.md §8.3):
// "\n\n<start_of_image>" + n × "<image_soft_token>" + "<end_of_image>\n\n".
func ImageSeq(n int) string {
	return "\n\n" + tokenizer.StartOfImageText + strings.Repeat(tokenizer.ImageSoftToken, n) +
		tokenizer.EndOfImageText + "\n\n"
}

// ExpandImages replaces the <start_of_image> placeholders of a rendered
// prompt as Gemma3Processor does before tokenizing. Image i (in order of
// appearance) with crops[i] Pan & Scan crops becomes
//
//	"Here is the original image " + SEQ + " and here are some crops to help you see better " + SEQ + " " + SEQ …
//
// with crops[i] SEQs after the text (GEMMA3.md §7.1), and plain SEQ when
// it has none; SEQ is ImageSeq(tokens). crops may be nil (no crops
// anywhere); otherwise it needs one entry per placeholder.
func ExpandImages(prompt string, tokens int, crops []int) (string, error) {
	if tokens <= 0 {
		return "", fmt.Errorf("gemma3: image prompt: %d tokens per image", tokens)
	}
	parts := strings.Split(prompt, tokenizer.StartOfImageText)
	images := len(parts) - 1
	if crops != nil && len(crops) != images {
		return "", fmt.Errorf("gemma3: image prompt: %d crop counts for %d images", len(crops), images)
	}
	seq := ImageSeq(tokens)
	var sb strings.Builder
	sb.WriteString(parts[0])
	for i, p := range parts[1:] {
		n := 0
		if crops != nil {
			n = crops[i]
		}
		switch {
		case n < 0:
			return "", fmt.Errorf("gemma3: image prompt: image %d: %d crops", i, n)
		case n == 0:
			sb.WriteString(seq)
		default:
			sb.WriteString("Here is the original image " + seq + " and here are some crops to help you see better ")
			sb.WriteString(strings.TrimSuffix(strings.Repeat(seq+" ", n), " "))
		}
		sb.WriteString(p)
	}
	return sb.String(), nil
}

// EncodeImagePrompt expands a rendered prompt's images (ExpandImages) and
// tokenizes it with special tokens parsed and nothing added: the ids of
// transformers' Gemma3Processor without the second <bos> its tokenizer
// puts in front of the template's. It fails when tok does not have the
// image tokens as single pieces (a text-only vocabulary).
func EncodeImagePrompt(tok *tokenizer.Tokenizer, prompt string, tokens int, crops []int) ([]int, error) {
	ic := ImageConfig{Token: ImageSoftTokenID, BOI: StartOfImageID, EOI: EndOfImageID, Tokens: tokens}
	return encodeImagePrompt(tok, ic, prompt, crops)
}

// ChatPromptImages is ChatPrompt for conversations with image parts: the
// chat template, then ExpandImages with tokens soft tokens per image
// and crops[i] Pan & Scan crops for image i (nil:
// none), then tokenization with one <bos>. The image tokens are those of
// Config.Image, which also gives the tokens per image when tokens is 0.
func (m *Model) ChatPromptImages(msgs []tokenizer.Message, tokens int, crops []int) ([]int, error) {
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("gemma3: chat: the model has no tokenizer")
	}
	text, err := tokenizer.RenderChat(msgs, true)
	if err != nil {
		return nil, fmt.Errorf("gemma3: chat: %w", err)
	}
	ic := m.Config.Image.Resolved()
	if tokens != 0 {
		ic.Tokens = tokens
	}
	return encodeImagePrompt(m.Tokenizer, ic, text, crops)
}
