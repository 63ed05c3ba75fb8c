package gemmavk

import (
	"context"
	"errors"
	"iter"

	"gemmavk/gemma3"
)

// Chat is a multi-turn conversation on its own session: each turn feeds
// only what is new (gemma3.Chat), since the cache holds the history.
type Chat struct {
	// Options apply to every turn's generation (zero value: greedy, until
	// the end of the turn or a full context).
	Options GenerateOptions

	s      *Session
	g      *gemma3.Chat
	system string
}

// NewChat opens a conversation on a new session; system (may be empty) is
// folded into the first user turn as the Gemma template does.
func (m *Model) NewChat(system string) (*Chat, error) {
	if m.g.Tokenizer == nil {
		return nil, errors.New("gemmavk: chat: the model has no tokenizer")
	}
	s, err := m.NewSession()
	if err != nil {
		return nil, err
	}
	return &Chat{s: s, g: gemma3.NewChat(s.g, system), system: system}, nil
}

// Stream sends a user message and yields the model's answer token by token
// (see Session.Stream for stopping, cancellation and errors). The turn
// counts even when stopped early: the next message follows the part of the
// answer that was generated.
func (c *Chat) Stream(ctx context.Context, user string) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		c.s.last = Stats{}
		r := runner{s: c.s, ctx: ctx, opt: c.Options, yield: yield, st: &c.s.last}
		r.run(func(g gemma3.GenerateOptions) (gemma3.Stats, error) {
			cached := c.s.g.Pos()
			st, err := c.g.Send(ctx, user, g)
			c.s.last.PromptTokens = cached + st.PromptTokens
			c.s.last.CachedTokens = cached
			c.s.last.PromptTime = st.PromptTime
			return st, err
		})
	}
}

// Send is Stream collected.
func (c *Chat) Send(ctx context.Context, user string) (Result, error) {
	return collect(c.Stream(ctx, user), &c.s.last)
}

// Stats describe the last turn.
func (c *Chat) Stats() Stats { return c.s.last }

// Session returns the chat's session.
func (c *Chat) Session() *Session { return c.s }

// Reset forgets the conversation (the system prompt stays).
func (c *Chat) Reset() { c.g = gemma3.NewChat(c.s.g, c.system) }

// Close releases the chat's session.
func (c *Chat) Close() { c.s.Close() }

// Message is one turn of a conversation given whole (as an OpenAI-style
// request gives it).
type Message struct {
	Role  string // "system", "user", "assistant" (or "model")
	Text  string // the content, when Parts is nil
	Parts []Part // list content: text and images in order
}

// Part is a piece of list content: text, or an image.
type Part struct {
	Text  string
	Image *Image // non-nil for an image part
}

// ErrNoVision is returned for a conversation with images on a model that
// has no vision tower (see Model.Vision).
var ErrNoVision = errors.New("the model has no vision encoder: images are not supported")

// PromptIDs tokenizes a raw prompt (no chat template) after <bos>.
func (m *Model) PromptIDs(prompt string) ([]int, error) {
	if m.g.Tokenizer == nil {
		return nil, errors.New("gemmavk: the model has no tokenizer")
	}
	return append([]int{m.g.Config.BOS}, m.g.Tokenizer.Encode(prompt, false)...), nil
}

// Generate completes a raw prompt (no chat template; <bos> is added) on a
// session the model keeps for the purpose, streaming the continuation.
// Concurrent calls take turns on that one session; for parallel
// generations open sessions or a Pool.
func (m *Model) Generate(ctx context.Context, prompt string, opt GenerateOptions) iter.Seq2[Token, error] {
	return m.generate(ctx, prompt, opt, new(Stats))
}

// Complete is Generate collected.
func (m *Model) Complete(ctx context.Context, prompt string, opt GenerateOptions) (Result, error) {
	var st Stats
	return collect(m.generate(ctx, prompt, opt, &st), &st)
}

func (m *Model) generate(ctx context.Context, prompt string, opt GenerateOptions, st *Stats) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		ids, err := m.PromptIDs(prompt)
		if err != nil {
			yield(Token{ID: -1}, err)
			return
		}
		p := m.defaultPool()
		s, err := p.Acquire(ctx, ids)
		if err != nil {
			yield(Token{ID: -1}, err)
			return
		}
		defer p.Release(s)
		defer func() { *st = s.Stats() }()
		for t, err := range s.Stream(ctx, ids, opt) {
			if !yield(t, err) {
				return
			}
		}
	}
}

func (m *Model) defaultPool() *Pool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pool == nil {
		m.pool = m.NewPool(1, -1)
	}
	return m.pool
}
