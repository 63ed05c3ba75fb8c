package gemma3

import (
	"fmt"
	"math"
)

// Perplexity evaluates ids as one sequence from an empty session, teacher
// forced, in chunks of at most chunk tokens, and returns exp of the mean
// negative log-likelihood of each token given the ones before it (in
// float64, len(ids)-1 predictions), the measure llama.cpp's perplexity
// tools report. top1, when not nil, receives the most likely next token
// at every position (ties to the lowest id).
func (s *Session) Perplexity(ids []int, chunk int, top1 func(pos, id int)) (float64, error) {
	if len(ids) < 2 {
		return 0, fmt.Errorf("gemma3: perplexity needs at least 2 tokens, got %d", len(ids))
	}
	if chunk <= 0 {
		chunk = s.opt.Chunk
	}
	s.Reset()
	if err := s.checkRoom(len(ids)); err != nil {
		return 0, err
	}
	vocab := s.m.Config.Vocab
	var nll float64
	for p := 0; p < len(ids); p += chunk {
		n := min(chunk, len(ids)-p)
		out, err := s.Run(ids[p:p+n], StepOptions{AllLogits: true})
		if err != nil {
			return 0, err
		}
		for t := 0; t < n; t++ {
			row := out.Logits[t*vocab : (t+1)*vocab]
			best, mx := 0, float64(row[0])
			for v, x := range row {
				if float64(x) > mx {
					best, mx = v, float64(x)
				}
			}
			if top1 != nil {
				top1(p+t, best)
			}
			if p+t+1 < len(ids) {
				var z float64
				for _, x := range row {
					z += math.Exp(float64(x) - mx)
				}
				nll -= float64(row[ids[p+t+1]]) - mx - math.Log(z)
			}
		}
	}
	return math.Exp(nll / float64(len(ids)-1)), nil
}
