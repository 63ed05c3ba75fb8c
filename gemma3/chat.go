package gemma3

import (
	"context"
	"fmt"
	"strings"

	"gemmavk/tokenizer"
)

// Chat is a multi-turn conversation over one session. Each turn feeds only
// what is new: the cache already holds the history, so earlier turns are
// never evaluated again.
type Chat struct {
	s      *Session
	system string
	turns  int
}

// NewChat starts a conversation; system (may be empty) is folded into the
// first user turn as the Gemma template does (GEMMA3.md §8.2).
func NewChat(s *Session, system string) *Chat {
	s.Reset()
	return &Chat{s: s, system: system}
}

// Session returns the chat's session.
func (c *Chat) Session() *Session { return c.s }

// ChatPrompt renders a conversation with the Gemma chat template and the
// generation prompt, and tokenizes it (one <bos>, special tokens parsed).
func (m *Model) ChatPrompt(msgs []tokenizer.Message) ([]int, error) {
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("gemma3: chat: the model has no tokenizer")
	}
	text, err := tokenizer.RenderChat(msgs, true)
	if err != nil {
		return nil, fmt.Errorf("gemma3: chat: %w", err)
	}
	return m.Tokenizer.Encode(text, true), nil
}

// Prompt returns the token ids that the next user message adds.
func (c *Chat) Prompt(user string) ([]int, error) {
	m := c.s.m
	if c.turns == 0 {
		var msgs []tokenizer.Message
		if c.system != "" {
			msgs = append(msgs, tokenizer.Message{Role: "system", Content: c.system})
		}
		return m.ChatPrompt(append(msgs, tokenizer.Message{Role: "user", Content: user}))
	}
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("gemma3: chat: the model has no tokenizer")
	}
	// Close the model's turn (its <end_of_turn> stopped generation and was
	// not fed), then open the next user turn.
	text := "<end_of_turn>\n<start_of_turn>user\n" + strings.TrimSpace(user) + "<end_of_turn>\n<start_of_turn>model\n"
	return m.Tokenizer.Encode(text, true), nil
}

// Send adds a user message and generates the model's answer, streaming it
// through opt.OnToken.
func (c *Chat) Send(ctx context.Context, user string, opt GenerateOptions) (Stats, error) {
	ids, err := c.Prompt(user)
	if err != nil {
		return Stats{}, err
	}
	st, err := c.s.Generate(ctx, ids, opt)
	if st.PromptTime > 0 || err == nil {
		c.turns++
	}
	return st, err
}
