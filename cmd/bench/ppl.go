package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"gemmavk/gemma3"
	"gemmavk/gpu"
)

// perplexity runs the --ppl mode: the text's perplexity on each backend,
// with the teacher-forced top-1 id of every position written to
// --top1-out (one "TOP1 pos id" line each, per backend when there are
// several) and the token ids to --ids-out, so that another engine can be
// run on exactly the same ids.
func perplexity(o *options, m *gemma3.Model, backends []string, stdout, stderr io.Writer) error {
	if m.Tokenizer == nil {
		return fmt.Errorf("--ppl: the model has no tokenizer")
	}
	text, err := os.ReadFile(o.ppl)
	if err != nil {
		return err
	}
	ids := append([]int{m.Config.BOS}, m.Tokenizer.Encode(string(text), false)...)
	if len(ids) > m.Config.MaxPositions {
		ids = ids[:m.Config.MaxPositions]
	}
	if o.idsOut != "" {
		var sb strings.Builder
		for i, id := range ids {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(strconv.Itoa(id))
		}
		sb.WriteByte('\n')
		if err := os.WriteFile(o.idsOut, []byte(sb.String()), 0o644); err != nil {
			return err
		}
	}
	for _, b := range backends {
		var d *gpu.Device
		if b == "vulkan" {
			if d, err = gpu.Open(gpu.Options{Select: o.device}); err != nil {
				return err
			}
		}
		chunk := 512
		if d != nil {
			// Each chunk's logits are one binding: [chunk, vocab] f32.
			if r := int(d.Caps().MaxStorageRange) / (4 * m.Config.Vocab); r > 0 && r < chunk {
				chunk = r
			}
		}
		s, err := m.NewSession(gemma3.Options{Ctx: len(ids), Threads: o.threads, Device: d})
		if err != nil {
			d.Close()
			return err
		}
		var top strings.Builder
		fmt.Fprintf(stderr, "bench: %s: perplexity over %d tokens in chunks of %d\n", b, len(ids), chunk)
		ppl, err := s.Perplexity(ids, chunk, func(p, id int) { fmt.Fprintf(&top, "TOP1 %d %d\n", p, id) })
		s.Close()
		if d != nil {
			d.Close()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
		fmt.Fprintf(stdout, "%s: PPL %.6f over %d predictions\n", b, ppl, len(ids)-1)
		if o.top1Out != "" {
			path := o.top1Out
			if len(backends) > 1 {
				path += "." + b
			}
			w, err := os.Create(path)
			if err != nil {
				return err
			}
			bw := bufio.NewWriter(w)
			bw.WriteString(top.String())
			if err := bw.Flush(); err != nil {
				w.Close()
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
		}
	}
	return nil
}
