package main

import (
	"fmt"
	"os"
	"strings"

	"gemmavk/gemma3"
	"gemmavk/siglip/imageproc"
	"gemmavk/tokenizer"
)

// chatImages is the chat's imageAttacher: /image decodes and encodes the
// image at once, so that a bad file is reported at once, and keeps its
// features until the next message, which takes them (takeImages).
type chatImages struct {
	v       *vision
	pending []gemma3.ImageFeatures
}

// attacher returns the chat's image attacher, with the --image files
// already attached to the first message; nil when the model has no vision
// tower.
func (v *vision) attacher() (imageAttacher, error) {
	if v == nil {
		return nil, nil
	}
	a := &chatImages{v: v}
	for i, img := range v.images {
		f, err := v.encode(img, v.names[i], i+1, len(v.images))
		if err != nil {
			return nil, fmt.Errorf("--image %s: %w", v.names[i], err)
		}
		a.pending = append(a.pending, f)
	}
	if n := len(a.pending); n > 0 {
		fmt.Fprintf(v.note, "run: %s attached to your first message\n", plural(n, "image"))
	}
	return a, nil
}

// Attach decodes and encodes the image at path for the next message.
func (a *chatImages) Attach(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	img, err := imageproc.Decode(f, imageproc.Limits{})
	f.Close()
	if err != nil {
		return err
	}
	n := len(a.pending) + 1
	feats, err := a.v.encode(img, path, n, n)
	if err != nil {
		return err
	}
	a.pending = append(a.pending, feats)
	return nil
}

// takeImages returns the images attached for the next message and forgets
// them.
func takeImages(a imageAttacher) []gemma3.ImageFeatures {
	c, ok := a.(*chatImages)
	if !ok {
		return nil
	}
	p := c.pending
	c.pending = nil
	return p
}

// savedText is what /save keeps of a message: its text, and for a message
// with image parts each image as the note "[image]" in its place (the
// features are not saved; /load continues the conversation without them).
// images counts the images left out.
func savedText(m tokenizer.Message) (text string, images int) {
	if m.Parts == nil {
		return m.Content, 0
	}
	var words []string
	for _, p := range m.Parts {
		switch p.Type {
		case "image":
			words = append(words, "[image]")
			images++
		default:
			words = append(words, p.Text)
		}
	}
	return strings.Join(words, " "), images
}

// plural writes n things, in words.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// imagesIn counts the images of a conversation.
func imagesIn(msgs []tokenizer.Message) int {
	n := 0
	for _, m := range msgs {
		_, k := savedText(m)
		n += k
	}
	return n
}
