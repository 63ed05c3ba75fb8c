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
	// runs record the image soft-token runs in the cache, fed by
	// StreamPrompt, with the image part each holds.
	runs []imageRun
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
func (s *Session) Reset() {
	s.g.Reset()
	s.runs = nil
}

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
func (s *Session) Reusable(prompt []int) int { return s.reusable(&Prompt{IDs: prompt}) }

// reusable is Reusable for a prompt with images: a run of image soft
// tokens is shared only when the session fed it the features of the same
// image part, and the prefix never ends inside a run (a run is one block
// of attention, fed whole).
func (s *Session) reusable(p *Prompt) int {
	have, prompt := s.g.Tokens(), p.IDs
	soft := s.m.softToken()
	n, run := 0, 0
	for n < len(have) && n < len(prompt) && have[n] == prompt[n] {
		if prompt[n] == soft && (n == 0 || prompt[n-1] != soft) {
			for run < len(p.runs) && p.runs[run].start < n {
				run++
			}
			if run == len(p.runs) || p.runs[run].start != n || !s.holdsRun(p.runs[run]) {
				break
			}
		}
		n++
	}
	if n >= len(prompt) {
		n = len(prompt) - 1
	}
	for n > 0 && n < len(prompt) && prompt[n] == soft && prompt[n-1] == soft {
		n-- // back to the start of the run
	}
	if n < 0 || (n < len(have) && !s.g.CanRewind(n)) {
		return 0
	}
	return n
}

// holdsRun reports whether the session fed the features of r's image part
// at r's place.
func (s *Session) holdsRun(r imageRun) bool {
	for _, h := range s.runs {
		if h.start == r.start {
			return h.n == r.n && h.key == r.key
		}
	}
	return false
}

// keepRuns forgets the records of the runs at or after position n.
func (s *Session) keepRuns(n int) {
	k := 0
	for _, r := range s.runs {
		if r.start+r.n <= n {
			s.runs[k] = r
			k++
		}
	}
	s.runs = s.runs[:k]
}

// Stream evaluates prompt (token ids, <bos> included) and yields the
// generated tokens. The part of the prompt the session already holds
// (Reusable) is not evaluated again: the cache is rewound to it and only
// the rest is fed, in chunks, each one model turn. Breaking out of the
// loop, or ctx ending, stops generation at the next token; the session
// then holds the prompt and the tokens generated so far. An error ends the
// stream as its last item. Stats tells how it went.
func (s *Session) Stream(ctx context.Context, prompt []int, opt GenerateOptions) iter.Seq2[Token, error] {
	return s.StreamPrompt(ctx, &Prompt{IDs: prompt}, opt)
}

// StreamPrompt is Stream for a prompt with images (ChatPrompt): the images
// whose soft tokens are evaluated are encoded first, on the model's
// executor, one model turn each, and their features fed in place of the
// soft tokens. A run of soft tokens in the cache is reused only for the
// same image (its pixels, and Pan & Scan alike). PromptTokens count the
// soft tokens.
func (s *Session) StreamPrompt(ctx context.Context, prompt *Prompt, opt GenerateOptions) iter.Seq2[Token, error] {
	return func(yield func(Token, error) bool) {
		s.last = Stats{PromptTokens: len(prompt.IDs)}
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

// GeneratePrompt is StreamPrompt collected.
func (s *Session) GeneratePrompt(ctx context.Context, prompt *Prompt, opt GenerateOptions) (Result, error) {
	return collect(s.StreamPrompt(ctx, prompt, opt), &s.last)
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

// prefill rewinds to the reusable prefix of the prompt, encodes the images
// of the soft-token runs after it, and feeds the rest in chunks whose
// lengths are the chunk size or powers of two below it, so that a session
// compiles a bounded set of step shapes however the prompts' lengths vary
// (a chunk that would split a run of soft tokens ends before it, and a
// run that starts a chunk is one). The turn is passed on between chunks
// and between images.
func (r *runner) prefill(p *Prompt) error {
	s, prompt := r.s, p.IDs
	if len(prompt) == 0 {
		return errors.New("gemmavk: empty prompt")
	}
	if len(prompt) > s.g.Ctx() {
		return fmt.Errorf("gemmavk: %w: a prompt of %d tokens exceeds the context of %d", gemma3.ErrContextFull, len(prompt), s.g.Ctx())
	}
	if err := s.m.checkPrompt(p); err != nil {
		return err
	}
	t0 := time.Now()
	keep := s.reusable(p)
	if err := s.g.Rewind(keep); err != nil {
		return err
	}
	s.keepRuns(keep)
	r.st.CachedTokens = keep
	feats, err := r.encode(p, keep)
	if err != nil {
		return err
	}
	runs := p.runs
	for len(runs) > 0 && runs[0].start < keep {
		runs = runs[1:]
	}
	soft := s.m.softToken()
	for pos := keep; pos < len(prompt); {
		n := pieceLen(len(prompt)-pos, s.m.chunk)
		n = pieceAround(prompt[pos:], n, soft, s.m.chunk)
		var images [][]float32
		k := 0
		for k < len(runs) && runs[k].start < pos+n {
			images = append(images, feats[runs[k].start])
			k++
		}
		if len(images) == 0 {
			_, err = s.g.Feed(prompt[pos : pos+n])
		} else {
			_, err = s.g.FeedImages(prompt[pos:pos+n], images)
		}
		if err != nil {
			return err
		}
		s.runs = append(s.runs, runs[:k]...)
		runs = runs[k:]
		pos += n
		if pos < len(prompt) {
			r.release()
			if err := r.acquire(r.ctx); err != nil {
				return err
			}
		}
	}
	r.st.PromptTime = time.Since(t0)
	return nil
}

// encode encodes the images with soft-token runs at or after position
// keep and returns the features of those runs by their start.
func (r *runner) encode(p *Prompt, keep int) (map[int][]float32, error) {
	feats := map[int][]float32{}
	for i, im := range p.images {
		var runs []imageRun
		for _, run := range p.runs {
			if run.image == i && run.start >= keep {
				runs = append(runs, run)
			}
		}
		if len(runs) == 0 {
			continue
		}
		if len(feats) > 0 {
			r.release()
			if err := r.acquire(r.ctx); err != nil {
				return nil, err
			}
		}
		f, err := r.s.m.encodeImage(im.rgb, im.panAndScan)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i+1, err)
		}
		if len(f) != im.parts {
			return nil, fmt.Errorf("gemmavk: image %d: the encoder gave %d parts, the prompt has %d", i+1, len(f), im.parts)
		}
		for _, run := range runs {
			feats[run.start] = f[run.key.part]
		}
	}
	return feats, nil
}

// pieceAround moves the end of a prefill piece of n tokens of tail out of
// a run of soft tokens: before the run, in a piece of pieceLen tokens (and
// again out of any run that one would end in), or when the run starts the
// piece, to its end.
func pieceAround(tail []int, n, soft, chunk int) int {
	for soft >= 0 && n < len(tail) && tail[n-1] == soft && tail[n] == soft {
		start := n - 1
		for start > 0 && tail[start-1] == soft {
			start--
		}
		if start == 0 {
			for n < len(tail) && tail[n] == soft {
				n++
			}
			return n
		}
		n = pieceLen(start, chunk)
	}
	return n
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
