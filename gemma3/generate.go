package gemma3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gemmavk/gemma3/sample"
)

// GenerateOptions control one generation.
type GenerateOptions struct {
	MaxTokens int           // stop after this many new tokens (0: until a stop token or the context is full)
	Sampling  sample.Config // zero value: greedy
	// Stop lists the ids that end generation; nil means the model's EOS set
	// (<eos> and <end_of_turn>). The stop token is not fed to the cache.
	Stop []int
	// OnToken receives every generated token as it is sampled (stop tokens
	// excluded). Returning an error ends generation with that error.
	OnToken func(id int) error
	// Images holds the features of the image soft tokens in the prompt, as
	// for Session.FeedImages; a prompt with soft tokens needs them.
	Images [][]float32
}

// Stats measure one generation.
type Stats struct {
	PromptTokens int
	PromptTime   time.Duration
	Tokens       int // tokens generated (stop token excluded)
	GenTime      time.Duration
	StopToken    int // the stop id that ended generation, or -1
}

// PromptRate and GenRate are tokens per second.
func (s Stats) PromptRate() float64 { return rate(s.PromptTokens, s.PromptTime) }

// GenRate is generated tokens per second, timing from the first sampled
// token to the last.
func (s Stats) GenRate() float64 { return rate(s.Tokens, s.GenTime) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Generate feeds prompt (which may be empty when the session already holds
// a context) and samples until a stop token, MaxTokens, cancellation or a
// full context. On ErrContextFull every sampled token has been delivered
// and all but the last are in the cache: the last is a valid prediction
// that no longer fits.
func (s *Session) Generate(ctx context.Context, prompt []int, opt GenerateOptions) (st Stats, err error) {
	st = Stats{PromptTokens: len(prompt), StopToken: -1}
	cfg := opt.Sampling
	if cfg.ExcludeFrom == 0 && s.m.Config.Vocab > textVocab {
		cfg.ExcludeFrom = textVocab // image soft token and padding rows are never predictions
	}
	sampler, err := sample.New(cfg)
	if err != nil {
		return st, fmt.Errorf("gemma3: %w", err)
	}
	stop := opt.Stop
	if stop == nil {
		stop = s.m.Config.EOS
	}
	t0 := time.Now()
	var logits []float32
	switch {
	case len(prompt) > 0:
		logits, err = s.FeedImages(prompt, opt.Images)
	case len(opt.Images) > 0:
		err = errors.New("gemma3: generate: images without a prompt")
	case s.lastLogits != nil:
		logits = s.lastLogits
	case len(s.tokens) > 0:
		logits, err = s.logitsAfterLast()
	default:
		err = errors.New("gemma3: generate: empty prompt and empty session")
	}
	if err != nil {
		return st, err
	}
	st.PromptTime = time.Since(t0)
	t1 := time.Now()
	defer func() { st.GenTime = time.Since(t1) }()
	for opt.MaxTokens <= 0 || st.Tokens < opt.MaxTokens {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		id, err := sampler.Sample(logits, s.tokens)
		if err != nil {
			return st, fmt.Errorf("gemma3: %w", err)
		}
		if contains(stop, id) {
			st.StopToken = id
			return st, nil
		}
		st.Tokens++
		if opt.OnToken != nil {
			if err := opt.OnToken(id); err != nil {
				return st, err
			}
		}
		if opt.MaxTokens <= 0 || st.Tokens < opt.MaxTokens {
			// On a GPU the rest of the generation can run without reading
			// logits back (the sampler then runs there too).
			if done, err := s.decodeOnGPU(ctx, id, cfg, opt, stop, &st); done {
				return st, err
			}
		}
		if logits, err = s.Feed([]int{id}); err != nil {
			return st, err
		}
	}
	return st, nil
}

// logitsAfterLast recomputes the logits after the last token in the cache
// by feeding it again at its own position: the cache row it rewrites gets
// the same keys and values. When a sliding ring may no longer hold the
// window before it (a step queued past the end wrote one position further,
// see rewind.go), the whole sequence is fed again.
func (s *Session) logitsAfterLast() ([]float32, error) {
	n := len(s.tokens)
	if !s.CanRewind(n - 1) {
		ids := append([]int(nil), s.tokens...)
		s.Reset()
		return s.Feed(ids)
	}
	last := s.tokens[n-1]
	s.tokens = s.tokens[:n-1]
	return s.Feed([]int{last})
}

// textVocab is the size of the Gemma 3 SentencePiece vocabulary; rows past
// it (262144 <image_soft_token> and padding) are masked when sampling.
const textVocab = 262144

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
