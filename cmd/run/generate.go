package main

import (
	"context"
	"fmt"
	"io"

	"gemmavk/gemma3"
	"gemmavk/tokenizer"
)

// promptIDs renders -p through the chat template (or raw with --raw).
func promptIDs(o *options, m *gemma3.Model) ([]int, error) {
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("the model has no tokenizer (an HF directory needs tokenizer.json)")
	}
	if o.raw {
		return append([]int{m.Config.BOS}, m.Tokenizer.Encode(o.prompt, false)...), nil
	}
	var msgs []tokenizer.Message
	if o.system != "" {
		msgs = append(msgs, tokenizer.Message{Role: "system", Content: o.system})
	}
	return m.ChatPrompt(append(msgs, tokenizer.Message{Role: "user", Content: o.prompt}))
}

// streamTo returns a token callback that writes decoded text as soon as it
// forms whole characters.
func streamTo(w io.Writer, tok *tokenizer.Tokenizer) (func(int) error, func()) {
	d := tok.NewStreamDecoder()
	return func(id int) error {
			_, err := io.WriteString(w, d.Push(id))
			return err
		}, func() {
			io.WriteString(w, d.Flush())
		}
}

// generate answers -p, with the --image files when vis has them.
func generate(ctx context.Context, o *options, s *gemma3.Session, vis *vision, stdout, stderr io.Writer) error {
	m := s.Model()
	ids, images, err := vis.prompt(o, m)
	if err != nil {
		return err
	}
	emit, flush := streamTo(stdout, m.Tokenizer)
	gen := gemma3.GenerateOptions{MaxTokens: o.n, Sampling: o.sampling, OnToken: emit, Images: images}
	if o.ignoreEOS {
		gen.Stop = []int{} // none, not the model's default set
	}
	st, err := s.Generate(ctx, ids, gen)
	flush()
	fmt.Fprintln(stdout)
	printStats(stderr, st)
	return err
}

func printStats(w io.Writer, st gemma3.Stats) {
	fmt.Fprintf(w, "prompt: %d tokens, %.1f t/s | generation: %d tokens, %.1f t/s\n",
		st.PromptTokens, st.PromptRate(), st.Tokens, st.GenRate())
}
