package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"gemmavk/gemma3"
)

// chat runs an interactive multi-turn conversation on stdin. Ctrl-C stops
// the current answer; Ctrl-D (end of input) or /bye ends the chat.
func chat(ctx context.Context, o *options, s *gemma3.Session, stdin io.Reader, stdout, stderr io.Writer) error {
	c := gemma3.NewChat(s, o.system)
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	fmt.Fprintf(stderr, "chat with %s (context %d tokens); /reset starts over, /bye or Ctrl-D ends\n", o.model, s.Ctx())
	for {
		fmt.Fprint(stdout, "> ")
		if !in.Scan() {
			fmt.Fprintln(stdout)
			return in.Err()
		}
		line := strings.TrimSpace(in.Text())
		switch line {
		case "":
			continue
		case "/bye", "/exit", "/quit":
			return nil
		case "/reset":
			c = gemma3.NewChat(s, o.system)
			fmt.Fprintln(stderr, "conversation cleared")
			continue
		}
		// Each answer gets its own interrupt scope: Ctrl-C ends the answer,
		// not the program.
		turnCtx, stop := signal.NotifyContext(ctx, os.Interrupt)
		emit, flush := streamTo(stdout, s.Model().Tokenizer)
		st, err := c.Send(turnCtx, line, gemma3.GenerateOptions{MaxTokens: o.n, Sampling: o.sampling, OnToken: emit})
		stop()
		flush()
		fmt.Fprintln(stdout)
		switch {
		case errors.Is(err, context.Canceled):
			fmt.Fprintln(stderr, "[stopped]")
		case errors.Is(err, gemma3.ErrContextFull):
			fmt.Fprintf(stderr, "%v\nuse /reset to start a new conversation\n", err)
		case err != nil:
			return err
		}
		if o.verbose {
			printStats(stderr, st)
		}
	}
}
