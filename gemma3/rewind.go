package gemma3

import "fmt"

// Rewinding a session keeps the first n tokens in the cache and drops the
// rest, so that a new continuation of a shared prefix is fed from position
// n on instead of from the start.
//
// Global layers keep one cache row per position: rows past n are stale, but
// a query at position p reads rows ≤ p only, and the chunk that brings p
// writes them first (attend to the cache for earlier positions, to the
// chunk's own keys for the rest). Dropping them is always safe.
//
// Sliding layers keep a ring of Slots rows, position j in row j % Slots. A
// chunk starting at position p needs the keys of positions [p−W+1, p−1]
// from the ring (kernels.Attn.KeyRange). Row j % Slots still holds position
// j unless some position j + k·Slots (k ≥ 1) was written after it. So the
// rows of the kept prefix are intact exactly when no position ≥ Slots was
// ever written — the ring never wrapped — or nothing is dropped. Written
// positions can run one past the tokens: a GPU decode loop queues the step
// after the last delivered token before it knows that token is a stop
// token, and that step writes its keys at position Pos(). CanRewind
// therefore takes Pos()+1 positions as written. Once the ring has wrapped,
// the session's token count never shrinks again (only no-op rewinds pass),
// so every row the kept tokens map to was last written by that very token:
// the check needs no history beyond the current length.
//
// When a rewind is not safe, the caller re-feeds: Reset and feed the whole
// prompt.

// CanRewind reports whether Rewind(n) keeps the cache exact (see above).
func (s *Session) CanRewind(n int) bool {
	cur := len(s.tokens)
	if n < 0 || n > cur {
		return false
	}
	if n == cur {
		return true
	}
	for _, rows := range s.slots {
		if rows < s.opt.Ctx && cur+1 > rows {
			return false // this ring may have wrapped
		}
	}
	return true
}

// Rewind drops every token after the first n, so the next token fed goes at
// position n; it fails (and changes nothing) when CanRewind(n) is false.
// Rewind(0) is Reset.
func (s *Session) Rewind(n int) error {
	if n == 0 {
		s.Reset()
		return nil
	}
	if !s.CanRewind(n) {
		return fmt.Errorf("gemma3: rewind to %d of %d tokens: the sliding-window cache no longer holds that prefix", n, len(s.tokens))
	}
	if n < len(s.tokens) {
		s.tokens, s.lastLogits = s.tokens[:n], nil
	}
	return nil
}
