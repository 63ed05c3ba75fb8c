package gemma3

import (
	"context"
	"errors"
	"fmt"

	"gemmavk/gemma3/sample"
	"gemmavk/kernels"
)

// gpuParams maps a sampling configuration onto the GPU sampler, or reports
// false when it needs the CPU one (a repetition penalty, or top-p/min-p
// over more candidates than the GPU keeps).
func gpuParams(cfg sample.Config) (kernels.SampleParams, bool) {
	if cfg.RepeatPenalty != 0 && cfg.RepeatPenalty != 1 {
		return kernels.SampleParams{}, false
	}
	if cfg.Temperature <= 0 {
		return kernels.SampleParams{}, true
	}
	if cfg.TopK < 1 || cfg.TopK > kernels.SampleKMax {
		return kernels.SampleParams{}, false
	}
	p := kernels.SampleParams{Temperature: float32(cfg.Temperature), TopK: cfg.TopK, MinP: float32(cfg.MinP)}
	if cfg.TopP > 0 && cfg.TopP < 1 {
		p.TopP = float32(cfg.TopP)
	}
	return p, true
}

// decodeOnGPU continues a generation whose first token was sampled
// on the CPU: every further step is a replay of the recorded decode step
// with the token chosen on the GPU, which feeds it to the next replay
// itself. It returns false when the backend or the sampling configuration
// does not allow it (the caller then steps on the CPU).
func (s *Session) decodeOnGPU(ctx context.Context, first int, cfg sample.Config,
	opt GenerateOptions, stop []int, st *Stats) (bool, error) {
	vocab := s.m.Config.Vocab
	if cfg.ExcludeFrom > 0 && cfg.ExcludeFrom < vocab {
		vocab = cfg.ExcludeFrom
	}
	vb, ok := s.be.(*vkBackend)
	if !ok {
		return false, nil
	}
	params, ok := gpuParams(cfg)
	if !ok {
		return false, nil
	}
	c, err := s.compile(1, StepOptions{})
	if err != nil {
		return true, err
	}
	if vb.loop == nil || vb.loopPlan != c.plan || vb.loopParams != params || vb.loopVocab != vocab {
		if vb.loop != nil {
			vb.loop.Close()
		}
		vb.loop, err = vb.exec.NewDecodeLoop(c.plan, vb.env, c.step.Logits, vocab, params)
		if errors.Is(err, kernels.ErrSampleUnsupported) {
			vb.loop = nil
			return false, nil
		}
		if err != nil {
			vb.loop = nil
			return true, err
		}
		vb.loopPlan, vb.loopParams, vb.loopVocab = c.plan, params, vocab
	}
	// id has been delivered and must be fed: each replay feeds it and
	// selects the next token, which the GPU makes the next replay's input.
	id := first
	vb.loop.Start(int32(id), int32(s.Pos()), uint32(cfg.Seed)^uint32(cfg.Seed>>32))
	// A step queued ahead of a stop token is dropped; the logits in the
	// arena may be that step's, so a later Generate without a prompt
	// recomputes the last token's (Session.logitsAfterLast).
	defer vb.loop.Drain()
	for opt.MaxTokens <= 0 || st.Tokens < opt.MaxTokens {
		if err := ctx.Err(); err != nil {
			return true, err
		}
		if err := s.checkRoom(1); err != nil {
			return true, err
		}
		ahead := (opt.MaxTokens <= 0 || st.Tokens+1 < opt.MaxTokens) && s.Pos()+1 < s.opt.Ctx
		next, err := vb.loop.Step(ahead)
		if err != nil {
			return true, err
		}
		if next < 0 {
			// The GPU sampler's "no token" (every logit -Inf or NaN: a
			// damaged model file, for one), as the CPU's Sampler says it.
			return true, fmt.Errorf("gemma3: %w", sample.ErrNoCandidate)
		}
		s.tokens = append(s.tokens, id)
		s.lastLogits = nil
		id = int(next)
		if contains(stop, id) {
			st.StopToken = id
			return true, nil
		}
		st.Tokens++
		if opt.OnToken != nil {
			if err := opt.OnToken(id); err != nil {
				return true, err
			}
		}
	}
	// As on the CPU path, the last delivered token is fed.
	vb.loop.Drain()
	_, err = s.Feed([]int{id})
	return true, err
}
