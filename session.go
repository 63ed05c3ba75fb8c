package gemmavk

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"gemmavk/gemma3"
	"gemmavk/gemma3/sample"
)

// GenerateOptions control one generation.
type GenerateOptions struct {
	// MaxTokens stops after this many new tokens (0: until a stop token or
	// a full context).
	MaxTokens int
	Sampling  sample.Config // zero value: greedy
	// Stop lists stop strings: generation ends where the decoded text first
	// contains one, and neither it nor anything after it is emitted.
	Stop []string
	// IgnoreEOS keeps generating through the model's end-of-sequence and
	// end-of-turn tokens (for measuring speed).
	IgnoreEOS bool
}

// Token is one item of a stream.
type Token struct {
	// ID is the generated token id, or -1 for text released when the
	// stream ends (held back while it could have begun a stop string or a
	// character).
	ID int
	// Text is the decoded text this token makes visible; it may be empty
	// while a character's bytes or a possible stop string are incomplete.
	Text string
}

// Finish reasons, as the OpenAI API names them.
const (
	FinishStop   = "stop"   // a stop token or stop string
	FinishLength = "length" // MaxTokens, or the context is full
)

// Stats describe the last generation of a session or chat.
type Stats struct {
	PromptTokens int // prompt tokens, those found in the cache included
	// CachedTokens of the prompt were already in the KV cache (a shared
	// prefix with what the session held) and were not evaluated again.
	CachedTokens int
	Tokens       int // tokens generated (a stop token excluded)
	PromptTime   time.Duration
	GenTime      time.Duration
	FinishReason string // FinishStop or FinishLength; empty after an error
}

// Result is a whole generation.
type Result struct {
	Text  string
	IDs   []int
	Stats Stats
}

// Session is one sequence (KV cache) over a model's shared weights. It
// keeps its tokens between generations: a prompt that begins with what the
// session holds is only evaluated from where they differ (see Stream). A
// session is for one goroutine at a time; several sessions of one model
// may generate concurrently, interleaving token by token.
type Session struct {
	m    *Model
	g    *gemma3.Session
	last Stats
}

// Gemma returns the underlying gemma3 session.
func (s *Session) Gemma() *gemma3.Session { return s.g }

// Tokens returns the ids in the session's cache.
func (s *Session) Tokens() []int { return s.g.Tokens() }

// Ctx is the session's context length in tokens.
func (s *Session) Ctx() int { return s.g.Ctx() }

// Stats describe the session's last generation.
func (s *Session) Stats() Stats { return s.last }

// Reset empties the session.
func (s *Session) Reset() { s.g.Reset() }

// Close releases the session's cache (and, on a GPU, its plans).
func (s *Session) Close() {
	// Freeing device memory waits for the turn, like any device use.
	s.m.turn.lock(context.Background())
	defer s.m.turn.unlock()
	s.g.Close()
}

// Reusable is how many leading tokens of prompt the session would take
// from its cache rather than evaluate: their common prefix, less one when
// the prompt is all prefix (the last prompt token is fed to get logits),
// and 0 when dropping the rest of the cache is not safe
// (gemma3.Session.CanRewind: a sliding-window ring that has wrapped).
func (s *Session) Reusable(prompt []int) int {
	have := s.g.Tokens()
	n := 0
	for n < len(have) && n < len(prompt) && have[n] == prompt[n] {
		n++
	}
	if n >= len(prompt) {
		n = len(prompt) - 1
	}
	if n < 0 || (n < len(have) && !s.g.CanRewind(n)) {
		return 0
	}
	return n
}

// Stream evaluates prompt (token ids, <bos> included) and yields the
// generated tokens. The part of the prompt the session already holds
// (Reusable) is not evaluated again: the cache is rewound to it and only
// the rest is fed, in chunks, each one model turn. Breaking out of the
// loop, or ctx ending, stops generation at the next token; the session
// then holds the prompt and the tokens generated so far. An error ends the
// stream as its last item. Stats tells how it went.
func (s *Session) Stream(ctx context.Context, prompt []int, opt GenerateOptions) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		s.last = Stats{PromptTokens: len(prompt)}
		r := runner{s: s, ctx: ctx, opt: opt, yield: yield, st: &s.last}
		r.run(func(g gemma3.GenerateOptions) (gemma3.Stats, error) {
			if err := r.prefill(prompt); err != nil {
				return gemma3.Stats{}, err
			}
			return s.g.Generate(ctx, nil, g)
		})
	}
}

// Generate is Stream collected: the text and ids generated.
func (s *Session) Generate(ctx context.Context, prompt []int, opt GenerateOptions) (Result, error) {
	return collect(s.Stream(ctx, prompt, opt), &s.last)
}

func collect(seq iter.Seq2[Token, error], st *Stats) (Result, error) {
	var r Result
	var sb strings.Builder
	for t, err := range seq {
		if err != nil {
			r.Text, r.Stats = sb.String(), *st
			return r, err
		}
		if t.ID >= 0 {
			r.IDs = append(r.IDs, t.ID)
		}
		sb.WriteString(t.Text)
	}
	r.Text, r.Stats = sb.String(), *st
	return r, nil
}

// errStopString and errConsumerGone end a gemma3 generation from OnToken.
var (
	errStopString   = errors.New("gemmavk: stop string")
	errConsumerGone = errors.New("gemmavk: the consumer stopped reading")
)

// runner is one generation: it holds the model's turn while computing and
// lets go of it while the caller takes each token.
type runner struct {
	s     *Session
	ctx   context.Context
	opt   GenerateOptions
	yield func(Token, error) bool
	st    *Stats
	held  bool
	gone  bool // yield returned false
}

func (r *runner) acquire(ctx context.Context) error {
	if err := r.s.m.turn.lock(ctx); err != nil {
		return err
	}
	r.held = true
	return nil
}

func (r *runner) release() {
	if r.held {
		r.s.m.turn.unlock()
		r.held = false
	}
}

// prefill rewinds to the reusable prefix of prompt and feeds the rest in
// chunks whose lengths are the chunk size or powers of two below it, so
// that a session compiles a bounded set of step shapes however the
// prompts' lengths vary. The turn is passed on between chunks.
func (r *runner) prefill(prompt []int) error {
	s := r.s
	if len(prompt) == 0 {
		return errors.New("gemmavk: empty prompt")
	}
	if len(prompt) > s.g.Ctx() {
		return fmt.Errorf("gemmavk: %w: a prompt of %d tokens exceeds the context of %d", gemma3.ErrContextFull, len(prompt), s.g.Ctx())
	}
	t0 := time.Now()
	keep := s.Reusable(prompt)
	if err := s.g.Rewind(keep); err != nil {
		return err
	}
	r.st.CachedTokens = keep
	tail := prompt[keep:]
	for len(tail) > 0 {
		n := pieceLen(len(tail), s.m.chunk)
		if _, err := s.g.Feed(tail[:n]); err != nil {
			return err
		}
		tail = tail[n:]
		if len(tail) > 0 {
			r.release()
			if err := r.acquire(r.ctx); err != nil {
				return err
			}
		}
	}
	r.st.PromptTime = time.Since(t0)
	return nil
}

// pieceLen is the next prefill piece for n tokens left: the chunk when as
// many remain, else the largest power of two not above n.
func pieceLen(n, chunk int) int {
	if n >= chunk {
		return chunk
	}
	p := 1
	for p*2 <= n {
		p *= 2
	}
	return p
}

// run takes the turn, calls gen (which prefills and generates through
// package gemma3 with the OnToken it is given), and yields tokens, the
// text left at the end, or the error.
func (r *runner) run(gen func(gemma3.GenerateOptions) (gemma3.Stats, error)) {
	defer r.release()
	if err := r.acquire(r.ctx); err != nil {
		r.yield(Token{ID: -1}, err)
		return
	}
	tok := r.s.m.g.Tokenizer
	if tok == nil {
		r.yield(Token{ID: -1}, errors.New("gemmavk: the model has no tokenizer"))
		return
	}
	dec := tok.NewStreamDecoder()
	stops := newStopper(r.opt.Stop)
	hit := false
	g := gemma3.GenerateOptions{MaxTokens: r.opt.MaxTokens, Sampling: r.opt.Sampling}
	if r.opt.IgnoreEOS {
		g.Stop = []int{}
	}
	g.OnToken = func(id int) error {
		r.st.Tokens++
		text, stop := stops.push(dec.Push(id))
		r.release()
		ok := true
		if text != "" || !stop {
			ok = r.yield(Token{ID: id, Text: text}, nil)
		}
		// Take the turn back whatever happens: gemma3 may touch the
		// device on its way out (a GPU decode loop drains).
		r.acquire(context.Background())
		switch {
		case !ok:
			r.gone = true
			return errConsumerGone
		case stop:
			hit = true
			return errStopString
		}
		return r.ctx.Err()
	}
	gst, err := gen(g)
	r.st.GenTime = gst.GenTime
	r.release()
	switch {
	case r.gone:
		return
	case hit:
		r.st.FinishReason = FinishStop
		return // what follows the stop string is dropped
	case errors.Is(err, gemma3.ErrContextFull) && r.st.Tokens > 0:
		r.st.FinishReason = FinishLength // the context filled while generating
	case err != nil:
		r.yield(Token{ID: -1}, err)
		return
	case gst.StopToken >= 0:
		r.st.FinishReason = FinishStop
	default:
		r.st.FinishReason = FinishLength
	}
	if rest := stops.flush(dec.Flush()); rest != "" {
		r.yield(Token{ID: -1, Text: rest}, nil)
	}
}

// stopper finds stop strings in streamed text, holding back any tail that
// could be the start of one.
type stopper struct {
	stops   []string
	pending string
	done    bool
}

func newStopper(stops []string) *stopper {
	var s []string
	for _, x := range stops {
		if x != "" {
			s = append(s, x)
		}
	}
	return &stopper{stops: s}
}

// push adds text and returns what may be shown now, and whether a stop
// string was found (the text returned then ends before it).
func (s *stopper) push(text string) (string, bool) {
	if s.done {
		return "", true
	}
	if len(s.stops) == 0 {
		return text, false
	}
	buf := s.pending + text
	first := -1
	for _, x := range s.stops {
		if i := strings.Index(buf, x); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first >= 0 {
		s.done, s.pending = true, ""
		return buf[:first], true
	}
	// Hold back the longest tail that is a proper prefix of a stop string.
	hold := 0
	for _, x := range s.stops {
		for k := min(len(x)-1, len(buf)); k > hold; k-- {
			if strings.HasSuffix(buf, x[:k]) {
				hold = k
				break
			}
		}
	}
	s.pending = buf[len(buf)-hold:]
	return buf[:len(buf)-hold], false
}

// flush returns the held-back text with the final text, at the end.
func (s *stopper) flush(text string) string {
	out, stop := s.push(text)
	if stop {
		return out
	}
	out += s.pending
	s.pending = ""
	return out
}
