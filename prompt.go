package gemmavk

import (
	"errors"
	"fmt"
	"strings"

	"gemmavk/siglip/imageproc"
	"gemmavk/tokenizer"
)

// Prompt is a tokenized prompt with the images its image soft tokens stand
// for. ChatPrompt makes one from a conversation; a prompt of text only is
// just its ids, &Prompt{IDs: ids}.
//
// Each image becomes one run of soft tokens, or with Pan & Scan one run
// for the whole image and one per crop (GEMMA3.md §7.1, §8.3). The images
// are encoded when the prompt is evaluated (Session.StreamPrompt), and
// only those whose runs are not already in the session's cache.
type Prompt struct {
	IDs    []int
	images []promptImage
	runs   []imageRun // the soft-token runs of IDs in order
}

// promptImage is one image of a prompt.
type promptImage struct {
	rgb        *imageproc.RGB
	panAndScan bool
	key        imageKey
	parts      int // 1 + its Pan & Scan crops: its runs
}

// runKey identifies the features of one run of soft tokens: part 0 is the
// whole image, part i its i-th crop.
type runKey struct {
	image imageKey
	part  int
}

// imageRun is a run of soft tokens at IDs[start:start+n], the features of
// part key.part of image (an index into Prompt.images; in a session's
// record, unused).
type imageRun struct {
	start, n int
	image    int
	key      runKey
}

// Images is the number of images in the prompt.
func (p *Prompt) Images() int { return len(p.images) }

// PromptOptions control how ChatPrompt renders images.
type PromptOptions struct {
	// PanAndScan follows each elongated image with its Pan & Scan crops
	// (GEMMA3.md §7.1, the processor's default crop settings), each
	// encoded as an image of its own; off by default, as in transformers.
	PanAndScan bool
}

// ErrImageMarker is returned by ChatPrompt for text that holds the image
// tokens' text (<start_of_image>, <image_soft_token>) on a model with
// vision: only image parts may put images in a prompt.
var ErrImageMarker = errors.New("text holds an image token (<start_of_image> or <image_soft_token>); images go in image parts")

// ChatPrompt renders a whole conversation with the Gemma chat template and
// the generation prompt, and tokenizes it. Each image part becomes one
// <start_of_image> where it stands in its message, expanded to the image's
// soft tokens (gemma3.Model.ChatPromptImages). A conversation with images
// fails with ErrNoVision on a model without vision.
func (m *Model) ChatPrompt(msgs []Message, opt PromptOptions) (*Prompt, error) {
	tm := make([]tokenizer.Message, len(msgs))
	var images []*Image
	for i, msg := range msgs {
		tm[i] = tokenizer.Message{Role: msg.Role, Content: msg.Text}
		if msg.Parts == nil {
			continue
		}
		tm[i].Parts = make([]tokenizer.Part, len(msg.Parts))
		for j, p := range msg.Parts {
			if p.Image != nil {
				tm[i].Parts[j] = tokenizer.Part{Type: "image"}
				images = append(images, p.Image)
			} else {
				tm[i].Parts[j] = tokenizer.Part{Type: "text", Text: p.Text}
			}
		}
	}
	if !m.Vision() {
		if len(images) > 0 {
			return nil, fmt.Errorf("gemmavk: %d image(s) in the conversation: %w", len(images), ErrNoVision)
		}
		ids, err := m.g.ChatPrompt(tm)
		if err != nil {
			return nil, err
		}
		return &Prompt{IDs: ids}, nil
	}
	for i, msg := range tm {
		texts := []string{msg.Content}
		for _, p := range msg.Parts {
			texts = append(texts, p.Text)
		}
		for _, t := range texts {
			if strings.Contains(t, tokenizer.StartOfImageText) || strings.Contains(t, tokenizer.ImageSoftToken) {
				return nil, fmt.Errorf("gemmavk: message %d: %w", i, ErrImageMarker)
			}
		}
	}
	if len(images) == 0 {
		ids, err := m.g.ChatPrompt(tm)
		if err != nil {
			return nil, err
		}
		return &Prompt{IDs: ids}, nil
	}
	p := &Prompt{images: make([]promptImage, len(images))}
	crops := make([]int, len(images))
	for i, img := range images {
		if img.RGB == nil || img.RGB.W <= 0 || img.RGB.H <= 0 || len(img.RGB.Pix) != 3*img.RGB.W*img.RGB.H {
			return nil, fmt.Errorf("gemmavk: image %d: %w: no pixels", i, ErrBadImage)
		}
		if opt.PanAndScan {
			crops[i] = len(imageproc.CropRects(img.RGB.W, img.RGB.H, imageproc.Options{}))
		}
		p.images[i] = promptImage{rgb: img.RGB, panAndScan: opt.PanAndScan, key: keyOf(img.RGB, opt.PanAndScan), parts: 1 + crops[i]}
	}
	var err error
	if p.IDs, err = m.g.ChatPromptImages(tm, 0, crops); err != nil {
		return nil, err
	}
	found := m.softRuns(p.IDs)
	k := 0
	for i, im := range p.images {
		for part := range im.parts {
			if k < len(found) {
				found[k].image, found[k].key = i, runKey{im.key, part}
			}
			k++
		}
	}
	if k != len(found) {
		return nil, fmt.Errorf("gemmavk: the prompt has %d runs of image soft tokens for %d images in %d parts", len(found), len(images), k)
	}
	p.runs = found
	return p, nil
}

// softToken is the id whose positions take image features, or -1 on a
// model without vision (where no id is special).
func (m *Model) softToken() int {
	if m.vis == nil {
		return -1
	}
	return m.g.Config.Image.Resolved().Token
}

// softRuns finds the runs of image soft tokens in ids.
func (m *Model) softRuns(ids []int) []imageRun {
	soft := m.softToken()
	if soft < 0 {
		return nil
	}
	var runs []imageRun
	for i := 0; i < len(ids); i++ {
		if ids[i] != soft {
			continue
		}
		j := i
		for j < len(ids) && ids[j] == soft {
			j++
		}
		runs = append(runs, imageRun{start: i, n: j - i})
		i = j
	}
	return runs
}

// checkPrompt verifies that the soft tokens of p.IDs are the runs its
// images give (a prompt built as &Prompt{IDs: ids} has none).
func (m *Model) checkPrompt(p *Prompt) error {
	found := m.softRuns(p.IDs)
	if len(found) != len(p.runs) {
		return fmt.Errorf("gemmavk: the prompt has %d runs of image soft tokens and images for %d: make prompts with images with ChatPrompt",
			len(found), len(p.runs))
	}
	for i, r := range found {
		if r.start != p.runs[i].start || r.n != p.runs[i].n {
			return fmt.Errorf("gemmavk: the prompt's image soft tokens moved (run %d at %d, not %d)", i, r.start, p.runs[i].start)
		}
	}
	return nil
}

// ChatIDs renders a whole conversation as ChatPrompt does and returns its
// ids. Image soft tokens in them need their images' features: evaluate a
// conversation with images through ChatPrompt's Prompt.
func (m *Model) ChatIDs(msgs []Message) ([]int, error) {
	p, err := m.ChatPrompt(msgs, PromptOptions{})
	if err != nil {
		return nil, err
	}
	return p.IDs, nil
}
