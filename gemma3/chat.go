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
	s       *Session
	system  string
	turns   int
	history []tokenizer.Message // user and model turns, in order
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
	return c.send(ctx, ids, tokenizer.Message{Role: "user", Content: strings.TrimSpace(user)}, opt)
}

// send generates the answer to a user turn whose ids are ready and records
// the turn as msg.
func (c *Chat) send(ctx context.Context, ids []int, msg tokenizer.Message, opt GenerateOptions) (Stats, error) {
	var answer []int
	if on := opt.OnToken; on != nil {
		opt.OnToken = func(id int) error {
			if err := on(id); err != nil {
				return err
			}
			answer = append(answer, id)
			return nil
		}
	} else {
		opt.OnToken = func(id int) error { answer = append(answer, id); return nil }
	}
	start := c.s.Pos()
	st, err := c.s.Generate(ctx, ids, opt)
	if err == nil && len(answer) > 0 && c.s.Pos() == start+len(ids)+len(answer)-1 {
		// MaxTokens ended the answer: its last token was shown but not fed.
		// Feed it, so the model's context holds what the user saw.
		_, err = c.s.Feed(answer[len(answer)-1:])
	}
	if st.PromptTime > 0 || err == nil {
		// The turn is in the cache, with as much of the answer as was
		// generated before a stop, a cancellation or a full context.
		c.turns++
		c.history = append(c.history, msg,
			tokenizer.Message{Role: "model", Content: c.s.m.Tokenizer.Decode(answer)})
	}
	return st, err
}

// System returns the conversation's system prompt ("" for none).
func (c *Chat) System() string { return c.system }

// Messages returns the conversation so far: the system prompt first (when
// there is one), then each user message and the model's answer to it as
// generated (an interrupted answer as far as it got). RestoreChat continues
// from it.
func (c *Chat) Messages() []tokenizer.Message {
	var msgs []tokenizer.Message
	if c.system != "" {
		msgs = append(msgs, tokenizer.Message{Role: "system", Content: c.system})
	}
	return append(msgs, c.history...)
}

// RestoreChat continues a conversation on s: msgs is an optional system
// message, then user and model messages alternating, ending with the
// model's ("assistant" is read as "model"). It empties the session and feeds
// the whole history, so the next Send answers as if the conversation had
// happened here. The messages, and their length against the context, are
// checked before the session is touched: on such an error the session is
// left as it was. An error while feeding leaves it empty.
func RestoreChat(s *Session, msgs []tokenizer.Message) (*Chat, error) {
	c := &Chat{s: s}
	turns := msgs
	if len(turns) > 0 && turns[0].Role == "system" {
		c.system, turns = turns[0].Content, turns[1:]
	}
	for i, m := range turns {
		want := "user"
		if i%2 == 1 {
			want = "model"
		}
		role := m.Role
		if role == "assistant" {
			role = "model"
		}
		switch {
		case m.Parts != nil:
			return nil, fmt.Errorf("gemma3: restore chat: message %d: only text content can be restored", i)
		case role != want:
			return nil, fmt.Errorf("gemma3: restore chat: message %d has role %q, want %q (an optional system message, then user and model turns alternating)", i, m.Role, want)
		case role == "user" && strings.TrimSpace(m.Content) == "":
			return nil, fmt.Errorf("gemma3: restore chat: message %d: empty user message", i)
		}
		content := m.Content
		if role == "user" {
			content = strings.TrimSpace(content) // as Send keeps it
		}
		c.history = append(c.history, tokenizer.Message{Role: role, Content: content})
	}
	if len(turns)%2 == 1 {
		return nil, fmt.Errorf("gemma3: restore chat: the last message is the user's; a conversation ends with the model's answer")
	}
	if len(turns) == 0 {
		s.Reset()
		return c, nil
	}
	ids, err := c.historyIDs()
	if err != nil {
		return nil, err
	}
	// The next Send needs room for at least its own turn.
	if len(ids) >= s.Ctx() {
		return nil, fmt.Errorf("gemma3: restore chat: %w: the conversation is %d tokens, the context %d", ErrContextFull, len(ids), s.Ctx())
	}
	s.Reset()
	if _, err := s.Feed(ids); err != nil {
		s.Reset()
		return nil, fmt.Errorf("gemma3: restore chat: %w", err)
	}
	c.turns = len(turns) / 2
	return c, nil
}

// historyIDs tokenizes the conversation as the cache holds it after the
// last answer: rendered by the template, without the closing <end_of_turn>
// of the model's last turn (the next Prompt starts with it).
func (c *Chat) historyIDs() ([]int, error) {
	m := c.s.m
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("gemma3: chat: the model has no tokenizer")
	}
	text, err := tokenizer.RenderChat(c.Messages(), false)
	if err != nil {
		return nil, fmt.Errorf("gemma3: restore chat: %w", err)
	}
	closing := tokenizer.EndOfTurn + "\n"
	if !strings.HasSuffix(text, closing) {
		return nil, fmt.Errorf("gemma3: restore chat: rendered conversation does not end with %q", closing)
	}
	return m.Tokenizer.Encode(strings.TrimSuffix(text, closing), true), nil
}
