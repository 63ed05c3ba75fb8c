package gemma3

import (
	"fmt"
	"strings"

	"gemmavk/tokenizer"
)

// The Pan & Scan wording around an image's crops (GEMMA3.md §7.1).
const (
	panScanOriginal = "Here is the original image "
	panScanCrops    = " and here are some crops to help you see better "
)

// ExpandImages replaces each <start_of_image> marker of a rendered prompt
// by the image sequence the model reads (GEMMA3.md §8.3):
//
//	SEQ = "\n\n<start_of_image>" + tokens × "<image_soft_token>" + "<end_of_image>\n\n"
//
// crops[i] is the number of Pan & Scan crops of image i (nil: none). An
// image with n > 0 crops becomes "Here is the original image " + SEQ +
// " and here are some crops to help you see better " + n SEQs joined by
// spaces (§7.1), and its features are those of the original, then of each
// crop. crops must have one entry per marker when not nil.
func ExpandImages(prompt string, tokens int, crops []int) (string, error) {
	if tokens <= 0 {
		return "", fmt.Errorf("gemma3: %d tokens per image", tokens)
	}
	parts := strings.Split(prompt, tokenizer.StartOfImageText)
	images := len(parts) - 1
	if crops != nil && len(crops) != images {
		return "", fmt.Errorf("gemma3: crop counts for %d images, the prompt has %d", len(crops), images)
	}
	seq := "\n\n" + tokenizer.StartOfImageText + strings.Repeat(tokenizer.ImageSoftToken, tokens) +
		tokenizer.EndOfImageText + "\n\n"
	var sb strings.Builder
	sb.WriteString(parts[0])
	for i, rest := range parts[1:] {
		n := 0
		if crops != nil {
			n = crops[i]
		}
		switch {
		case n < 0:
			return "", fmt.Errorf("gemma3: image %d: %d crops", i, n)
		case n == 0:
			sb.WriteString(seq)
		default:
			sb.WriteString(panScanOriginal + seq + panScanCrops)
			sb.WriteString(strings.TrimSuffix(strings.Repeat(seq+" ", n), " "))
		}
		sb.WriteString(rest)
	}
	return sb.String(), nil
}

// ImagePrompt renders a conversation with the chat template and the
// generation prompt (image parts become <start_of_image>), expands its
// images (ExpandImages, with Config.Image's tokens per image and the Pan &
// Scan crop count of each image, nil for none) and tokenizes it. Feed the
// ids with the images' features in order (FeedImages).
func (m *Model) ImagePrompt(msgs []tokenizer.Message, crops []int) ([]int, error) {
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("gemma3: chat: the model has no tokenizer")
	}
	text, err := tokenizer.RenderChat(msgs, true)
	if err != nil {
		return nil, fmt.Errorf("gemma3: chat: %w", err)
	}
	if text, err = ExpandImages(text, m.Config.Image.Resolved().Tokens, crops); err != nil {
		return nil, err
	}
	return m.Tokenizer.Encode(text, true), nil
}
