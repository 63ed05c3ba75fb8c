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
	"gemmavk/tokenizer"
)

// imageAttacher queues images for the next user message. The vision code
// provides one; a nil attacher means the model cannot take images, and
// /image says so.
type imageAttacher interface {
	Attach(path string) error
}

// chat runs an interactive multi-turn conversation on stdin. Answers
// stream to stdout; notes and command output go to stderr. Ctrl-C stops
// the current answer (at the prompt it only prints a hint); Ctrl-D (end of
// input) or /bye ends the chat.
func chat(ctx context.Context, o *options, s *gemma3.Session, images imageAttacher, stdin io.Reader, stdout, stderr io.Writer) error {
	if s.Model().Tokenizer == nil {
		return errors.New("chat: the model has no tokenizer (an HF directory needs tokenizer.json)")
	}
	// Catch Ctrl-C for the whole chat: during an answer it stops the
	// answer, at the prompt it must not end the program.
	intr := make(chan os.Signal, 1)
	signal.Notify(intr, os.Interrupt)
	defer signal.Stop(intr)
	done := make(chan struct{})
	defer close(done)
	u := &chatUI{o: o, s: s, c: gemma3.NewChat(s, o.system), images: images, out: stdout, note: stderr, intr: intr}
	return u.run(ctx, readLines(stdin, done))
}

// chatUI is the state of one terminal chat.
type chatUI struct {
	o      *options
	s      *gemma3.Session
	c      *gemma3.Chat
	images imageAttacher
	out    io.Writer // the prompt and the answers
	note   io.Writer // notes, errors and command output
	intr   <-chan os.Signal
	last   gemma3.Stats // the last answer's, valid when answered
	// answered is set once an answer has been generated.
	answered bool
}

// inputLine is one line of input, or the error that ended reading.
type inputLine struct {
	text string
	err  error
}

// readLines reads r line by line on its own goroutine, so that the chat
// can wait for a line and for Ctrl-C at once. The channel closes at end of
// input; closing done releases the goroutine.
func readLines(r io.Reader, done <-chan struct{}) <-chan inputLine {
	ch := make(chan inputLine)
	go func() {
		defer close(ch)
		in := bufio.NewScanner(r)
		in.Buffer(make([]byte, 64<<10), 1<<20)
		for in.Scan() {
			select {
			case ch <- inputLine{text: in.Text()}:
			case <-done:
				return
			}
		}
		if err := in.Err(); err != nil {
			select {
			case ch <- inputLine{err: fmt.Errorf("reading input: %w", err)}:
			case <-done:
			}
		}
	}()
	return ch
}

func (u *chatUI) run(ctx context.Context, lines <-chan inputLine) error {
	fmt.Fprintln(u.note, "chat: /help lists the commands; Ctrl-C stops an answer, Ctrl-D or /bye leaves")
	for {
		text, ok, err := u.readMessage(ctx, lines)
		if err != nil || !ok {
			return err
		}
		if text == "" {
			continue
		}
		if isSlash(text) {
			call, err := parseSlash(text)
			if err == nil {
				var quit bool
				if quit, err = u.command(call); quit {
					return nil
				}
			}
			if err != nil {
				fmt.Fprintln(u.note, err)
			}
			continue
		}
		if err := u.answer(ctx, strings.TrimPrefix(text, "/")); err != nil {
			return err
		}
	}
}

// readMessage shows the prompt and reads one message: lines ending in a
// backslash continue on the next. Ctrl-C at the prompt drops what was typed
// and prints a hint. ok is false at the end of input.
func (u *chatUI) readMessage(ctx context.Context, lines <-chan inputLine) (text string, ok bool, err error) {
	prompt := "> "
	var parts []string
	for {
		fmt.Fprint(u.out, prompt)
		select {
		case l, open := <-lines:
			switch {
			case !open:
				fmt.Fprintln(u.out)
				return strings.TrimSpace(strings.Join(parts, "\n")), len(parts) > 0, nil
			case l.err != nil:
				return "", false, l.err
			}
			if head, more := strings.CutSuffix(l.text, `\`); more {
				parts, prompt = append(parts, head), ". "
				continue
			}
			return strings.TrimSpace(strings.Join(append(parts, l.text), "\n")), true, nil
		case <-u.intr:
			fmt.Fprintln(u.out)
			fmt.Fprintln(u.note, "(Ctrl-C stops an answer while it is written; /bye or Ctrl-D leaves)")
			parts, prompt = nil, "> "
		case <-ctx.Done():
			return "", false, ctx.Err()
		}
	}
}

// answer sends one message and streams the answer. Ctrl-C stops it; the
// part already written stays in the conversation.
func (u *chatUI) answer(ctx context.Context, text string) error {
	turn, cancel := context.WithCancel(ctx)
	defer cancel()
	answered, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-u.intr:
			cancel()
		case <-answered:
		}
	}()
	emit, flush := streamTo(u.out, u.s.Model().Tokenizer)
	gen := gemma3.GenerateOptions{MaxTokens: u.o.n, Sampling: u.o.sampling, OnToken: emit}
	if u.o.ignoreEOS {
		gen.Stop = []int{} // none, not the model's default set
	}
	st, err := u.c.SendImages(turn, text, takeImages(u.images), gen)
	close(answered)
	<-watched
	flush()
	fmt.Fprintln(u.out)
	u.last, u.answered = st, true
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(u.note, "[stopped]")
	case errors.Is(err, gemma3.ErrContextFull):
		fmt.Fprintf(u.note, "%v\n/reset starts a new conversation\n", err)
	case err != nil:
		return err
	}
	if u.o.verbose {
		printStats(u.note, st)
	}
	return nil
}

// command runs a parsed slash command; quit ends the chat.
func (u *chatUI) command(call slashCall) (quit bool, err error) {
	switch call.cmd.name {
	case "bye":
		return true, nil
	case "help":
		writeHelp(u.note)
	case "reset":
		u.c = gemma3.NewChat(u.s, u.c.System())
		fmt.Fprintln(u.note, "conversation cleared")
	case "system":
		return false, u.system(call)
	case "stats":
		u.stats()
	case "save":
		return false, u.save(call.arg)
	case "load":
		return false, u.load(call.arg)
	case "image":
		return false, u.image(call.arg)
	default:
		return false, fmt.Errorf("/%s is not implemented", call.cmd.name)
	}
	return false, nil
}

func (u *chatUI) system(call slashCall) error {
	if !call.hasArg {
		if sys := u.c.System(); sys != "" {
			fmt.Fprintf(u.note, "system prompt: %s\n", sys)
		} else {
			fmt.Fprintln(u.note, "no system prompt; /system TEXT sets one")
		}
		return nil
	}
	u.c = gemma3.NewChat(u.s, call.arg)
	if call.arg == "" {
		fmt.Fprintln(u.note, "system prompt cleared; new conversation")
	} else {
		fmt.Fprintln(u.note, "system prompt set; new conversation")
	}
	return nil
}

// stats prints the context in use, the KV cache and the last answer's
// speeds.
func (u *chatUI) stats() {
	pos, ctx := u.s.Pos(), u.s.Ctx()
	turns := userTurns(u.c.Messages())
	fmt.Fprintf(u.note, "context: %d of %d tokens (%.1f%%), %s | KV cache %.1f MiB\n",
		pos, ctx, 100*float64(pos)/float64(ctx), turns, float64(u.s.CacheBytes())/(1<<20))
	if !u.answered {
		fmt.Fprintln(u.note, "last answer: none yet")
		return
	}
	st := u.last
	fmt.Fprintf(u.note, "last answer: prompt %d tokens at %.1f t/s | generation %d tokens at %.1f t/s\n",
		st.PromptTokens, st.PromptRate(), st.Tokens, st.GenRate())
}

func (u *chatUI) save(path string) error {
	msgs := u.c.Messages()
	if err := saveChat(expandHome(path), msgs); err != nil {
		return fmt.Errorf("/save: %w", err)
	}
	fmt.Fprintf(u.note, "saved %s to %s\n", userTurns(msgs), path)
	if n := imagesIn(msgs); n > 0 {
		fmt.Fprintf(u.note, "note: the file keeps text only: %s marked [image], not saved\n", plural(n, "image"))
	}
	return nil
}

// load replaces the conversation by a saved one. Whatever goes wrong, the
// current conversation is kept.
func (u *chatUI) load(path string) error {
	msgs, err := readChat(expandHome(path))
	if err != nil {
		return fmt.Errorf("/load %s: %w; the current conversation is kept", path, err)
	}
	old, pos := u.c.Messages(), u.s.Pos()
	c, err := gemma3.RestoreChat(u.s, msgs)
	if err == nil {
		u.c = c
		fmt.Fprintf(u.note, "loaded %s from %s: %d of %d tokens of context\n",
			userTurns(msgs), path, u.s.Pos(), u.s.Ctx())
		return nil
	}
	if u.s.Pos() != pos {
		// The history was fed in part: feed the current one back.
		if back, rerr := gemma3.RestoreChat(u.s, old); rerr == nil {
			u.c = back
		} else {
			u.c = gemma3.NewChat(u.s, u.c.System())
			return fmt.Errorf("/load %s: %w; restoring the current conversation failed too (%v): starting a new one", path, err, rerr)
		}
	}
	return fmt.Errorf("/load %s: %w; the current conversation is kept", path, err)
}

func (u *chatUI) image(path string) error {
	if u.images == nil {
		return errors.New("/image: this model has no vision encoder, so it cannot take images")
	}
	path = expandHome(path)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("/image: %w", err)
	}
	if err := u.images.Attach(path); err != nil {
		return fmt.Errorf("/image %s: %w", path, err)
	}
	fmt.Fprintf(u.note, "attached %s; it goes with your next message\n", path)
	return nil
}

// userTurns counts the user messages of a conversation, in words.
func userTurns(msgs []tokenizer.Message) string {
	n := 0
	for _, m := range msgs {
		if m.Role == "user" {
			n++
		}
	}
	if n == 1 {
		return "1 turn"
	}
	return fmt.Sprintf("%d turns", n)
}
