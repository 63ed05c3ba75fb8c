package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gemmavk/gemma3"
	"gemmavk/gpu"
	"gemmavk/safetensors"
	"gemmavk/tokenizer"
)

// tokenizeStdin prints the ids of stdin's text as a JSON array, with no
// <bos> added; special tokens written in the text become single ids.
func tokenizeStdin(o *options, m *gemma3.Model, stdin io.Reader, stdout io.Writer) error {
	var tok *tokenizer.Tokenizer
	switch {
	case o.tokenizerPath != "":
		t, err := tokenizer.LoadHFJSON(o.tokenizerPath)
		if err != nil {
			return err
		}
		tok = t
	case m != nil && m.Tokenizer != nil:
		tok = m.Tokenizer
	default:
		return fmt.Errorf("the model has no tokenizer; pass --tokenizer tokenizer.json")
	}
	text, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	ids := tok.Encode(string(text), true)
	if ids == nil {
		ids = []int{}
	}
	out, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(out))
	return err
}

// parseIDs reads space-separated token ids.
func parseIDs(s string) ([]int, error) {
	var ids []int
	for _, f := range strings.Fields(s) {
		id, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("--ids: %q is not a token id", f)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("--ids: no token ids")
	}
	return ids, nil
}

// writeLogits evaluates exactly the given ids (no template, nothing added)
// and writes the logits of every position as tensor "logits" [T, vocab].
// Image soft tokens among the ids take the features of the images given
// with --pixels or --features (images.go). It runs on the CPU executor
// unless --backend vulkan asks for the GPU.
func writeLogits(o *options, m *gemma3.Model) error {
	ids, err := parseIDs(o.ids)
	if err != nil {
		return err
	}
	d, err := logitsDevice(o)
	if err != nil {
		return err
	}
	if d != nil {
		defer d.Close()
	}
	o.img.mmproj, o.img.dev, o.img.threads = o.vis.mmproj, d, o.threads
	images, err := o.img.images(o.model, m)
	if err != nil {
		return err
	}
	ctx := max(o.ctx, len(ids))
	s, err := m.NewSession(gemma3.Options{Ctx: min(ctx, m.Config.MaxPositions), Chunk: o.chunk, Threads: o.threads, Device: d})
	if err != nil {
		return err
	}
	defer s.Close()
	logits, err := s.FeedImagesAll(ids, images)
	if err != nil {
		return err
	}
	t := safetensors.F32Tensor("logits", []int{len(ids), m.Config.Vocab}, logits)
	return safetensors.WriteFile(o.logits, []safetensors.Tensor{t}, nil)
}

// logitsDevice is the device of an --ids evaluation: the Vulkan one with
// --backend vulkan, else none (the CPU executor, the reference).
func logitsDevice(o *options) (*gpu.Device, error) {
	if o.backend != "vulkan" {
		return nil, nil
	}
	d, err := gpu.Open(gpu.Options{Select: o.device})
	if err != nil {
		return nil, fmt.Errorf("--backend vulkan: %w", err)
	}
	return d, nil
}
