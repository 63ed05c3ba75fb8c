package gemma3

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gemmavk/tokenizer"
)

// ImageFeatures are the features of one image as the vision encoder gives
// them: the whole image's [tokens, H] rows first, then those of each of its
// Pan & Scan crops in order.
type ImageFeatures [][]float32

// Crops is the number of Pan & Scan crops after the whole image.
func (f ImageFeatures) Crops() int { return max(len(f)-1, 0) }

// PromptImages returns the token ids that the next user message adds when
// images come with it. The images go first in the turn, one
// <start_of_image> each, then the text, as the template renders a message
// with image parts followed by a text part; image i is expanded with
// crops[i] Pan & Scan crops (ExpandImages).
func (c *Chat) PromptImages(user string, crops []int) ([]int, error) {
	msg, err := imageMessage(user, len(crops))
	if err != nil {
		return nil, err
	}
	m := c.s.m
	if c.turns == 0 {
		var msgs []tokenizer.Message
		if c.system != "" {
			msgs = append(msgs, tokenizer.Message{Role: "system", Content: c.system})
		}
		return m.ChatPromptImages(append(msgs, msg), 0, crops)
	}
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("gemma3: chat: the model has no tokenizer")
	}
	// As Prompt: close the model's turn, then the user's with its images.
	text := "<end_of_turn>\n<start_of_turn>user\n" + strings.Repeat(tokenizer.StartOfImageText, len(crops)) +
		strings.TrimSpace(user) + "<end_of_turn>\n<start_of_turn>model\n"
	return encodeImagePrompt(m.Tokenizer, m.Config.Image.Resolved(), text, crops)
}

// SendImages is Send for a message that comes with images, in the order
// they appear in the turn (before the text). The conversation records the
// message with one image part per image and its text; Messages returns it
// so, and RestoreChat, which restores text only, refuses it.
func (c *Chat) SendImages(ctx context.Context, user string, images []ImageFeatures, opt GenerateOptions) (Stats, error) {
	if len(images) == 0 {
		return c.Send(ctx, user, opt)
	}
	crops := make([]int, len(images))
	var features [][]float32
	for i, im := range images {
		if len(im) == 0 {
			return Stats{}, fmt.Errorf("gemma3: chat: image %d has no features", i)
		}
		crops[i] = im.Crops()
		features = append(features, im...)
	}
	ids, err := c.PromptImages(user, crops)
	if err != nil {
		return Stats{}, err
	}
	msg, err := imageMessage(user, len(images))
	if err != nil {
		return Stats{}, err
	}
	opt.Images = features
	return c.send(ctx, ids, msg, opt)
}

// imageMessage is a user message of n image parts and the trimmed text.
func imageMessage(user string, n int) (tokenizer.Message, error) {
	text := strings.TrimSpace(user)
	if n == 0 && text == "" {
		return tokenizer.Message{}, errors.New("gemma3: chat: empty message")
	}
	parts := make([]tokenizer.Part, 0, n+1)
	for range n {
		parts = append(parts, tokenizer.Part{Type: "image"})
	}
	if text != "" {
		parts = append(parts, tokenizer.Part{Type: "text", Text: text})
	}
	return tokenizer.Message{Role: "user", Parts: parts}, nil
}
