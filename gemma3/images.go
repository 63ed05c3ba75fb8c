package gemma3

import (
	"fmt"
	"math"

	"gemmavk/kernels"
)

// Image prompts (GEMMA3.md §3, §6.3, §8.3). A prompt holds, per image (or
// Pan & Scan crop), a run of image soft tokens between <start_of_image> and
// <end_of_image>. Each soft token's input is the next row of the image
// features (the vision tower and projector's output) instead of its
// embedding, and the tokens of one run attend to each other both ways on
// every layer. The chunks holding soft tokens run a step built with
// StepOptions.Images: its input is the [T, H] embeddings, made on the host
// (token rows looked up and scaled as OpEmbed does, soft-token rows copied
// unscaled), and the span id of each token; chunks of text run the usual
// step.

// ImageEncoder turns one preprocessed image into the features of its soft
// tokens (the SigLIP tower and the multimodal projector, GEMMA3.md §6).
type ImageEncoder interface {
	// Encode maps pixels, one image as CHW float32 [3, size, size]
	// preprocessed as GEMMA3.md §7, to its features [tokens, H] row-major.
	Encode(pixels []float32) ([]float32, error)
}

// imageChunk is what one chunk of an image prompt needs besides its ids.
type imageChunk struct {
	token int       // the soft-token id
	rows  []float32 // the features of the chunk's soft tokens in order, [n, H]
}

// FeedImages evaluates a prompt with images in prefill chunks and returns
// the logits of its last position.
//
// Every position whose id is the image soft token (Config.Image.Token,
// which need not lie inside the vocabulary: it is never looked up) takes
// the next feature row instead of its embedding, not scaled by sqrt(H).
// images[i] holds the rows of the i-th image or crop, [tokens, H]
// row-major; all rows together must match the soft tokens one to one, in
// order, or nothing is evaluated. Each contiguous run of soft tokens is one
// image block, whose tokens see each other both ways on every layer.
//
// A chunk never splits a run: a chunk that would end inside one ends
// before it instead, and a run longer than Options.Chunk gets a chunk of
// its own. With no soft tokens and no images, FeedImages is Feed.
func (s *Session) FeedImages(ids []int, images [][]float32) ([]float32, error) {
	var logits []float32
	err := s.feedImages(ids, images, StepOptions{}, func(o *Outputs) { logits = o.Logits })
	return logits, err
}

// FeedImagesAll is FeedImages returning the logits of every position,
// [len(ids), vocab].
func (s *Session) FeedImagesAll(ids []int, images [][]float32) ([]float32, error) {
	all := make([]float32, 0, len(ids)*s.m.Config.Vocab)
	err := s.feedImages(ids, images, StepOptions{AllLogits: true}, func(o *Outputs) { all = append(all, o.Logits...) })
	return all, err
}

func (s *Session) feedImages(ids []int, images [][]float32, opt StepOptions, take func(*Outputs)) error {
	if len(ids) == 0 {
		return fmt.Errorf("gemma3: no tokens to evaluate")
	}
	if err := s.checkRoom(len(ids)); err != nil {
		return err
	}
	tok := s.m.Config.Image.Resolved().Token
	rows, err := s.imageRows(ids, images, tok)
	if err != nil {
		return err
	}
	H := s.m.Config.Hidden
	for start := 0; start < len(ids); {
		end := chunkEnd(ids, start, s.opt.Chunk, tok)
		chunk := ids[start:end]
		n := 0
		for _, id := range chunk {
			if id == tok {
				n++
			}
		}
		var o *Outputs
		if n == 0 {
			o, err = s.run(chunk, opt, nil)
		} else {
			io := opt
			io.Images = true
			o, err = s.run(chunk, io, &imageChunk{token: tok, rows: rows[:n*H]})
			rows = rows[n*H:]
		}
		if err != nil {
			return err
		}
		take(o)
		start = end
	}
	return nil
}

// imageRows checks a prompt's ids and image features against each other
// and returns the feature rows in order, [soft tokens, H].
func (s *Session) imageRows(ids []int, images [][]float32, tok int) ([]float32, error) {
	c := &s.m.Config
	tokens, runs := 0, 0
	for i, id := range ids {
		switch {
		case id == tok:
			tokens++
			if i == 0 || ids[i-1] != tok {
				runs++
			}
		case id < 0 || id >= c.Vocab:
			return nil, fmt.Errorf("gemma3: token id %d outside the vocabulary of %d", id, c.Vocab)
		}
	}
	total := 0
	for i, im := range images {
		if len(im) == 0 || len(im)%c.Hidden != 0 {
			return nil, fmt.Errorf("gemma3: image %d: %d feature values are not whole rows of %d", i, len(im), c.Hidden)
		}
		total += len(im) / c.Hidden
	}
	if total != tokens {
		return nil, fmt.Errorf("gemma3: the prompt has %d image soft tokens (id %d) in %d runs, the %d images give %d feature rows",
			tokens, tok, runs, len(images), total)
	}
	rows := make([]float32, 0, total*c.Hidden)
	for i, im := range images {
		for j, v := range im {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("gemma3: image %d: feature %d of row %d is %g", i, j%c.Hidden, j/c.Hidden, v)
			}
		}
		rows = append(rows, im...)
	}
	return rows, nil
}

// chunkEnd returns where the chunk starting at ids[start] ends: after
// chunk tokens, or before the run of soft tokens (id tok) that this would
// split; a run that starts the chunk and is longer than it makes the chunk.
func chunkEnd(ids []int, start, chunk, tok int) int {
	end := min(len(ids), start+chunk)
	if end == len(ids) || ids[end-1] != tok || ids[end] != tok {
		return end
	}
	r := end - 1
	for r > start && ids[r-1] == tok {
		r--
	}
	if r > start {
		return r
	}
	for end < len(ids) && ids[end] == tok {
		end++
	}
	return end
}

// runImages makes a chunk's input embeddings and span ids and runs its
// step (built with StepOptions.Images).
func (s *Session) runImages(c *compiled, ids, pos []int32, img *imageChunk) error {
	cfg := &s.m.Config
	H, T := cfg.Hidden, len(ids)
	embeds, spans := make([]float32, T*H), make([]int32, T)
	rows := img.rows
	var span int32
	for t, id := range ids {
		if int(id) != img.token {
			if err := kernels.Embed(embeds, ids, s.m.Weights.Embed, cfg.EmbedScale, t, t+1); err != nil {
				return fmt.Errorf("gemma3: %w", err)
			}
			continue
		}
		if t == 0 || int(ids[t-1]) != img.token {
			span++ // a new image block
		}
		if len(rows) < H {
			return fmt.Errorf("gemma3: %d image feature rows for more soft tokens", len(img.rows)/H)
		}
		spans[t] = span
		copy(embeds[t*H:(t+1)*H], rows[:H])
		rows = rows[H:]
	}
	return s.be.runImages(c, pos, spans, embeds)
}
