package gemmavk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrQueueFull is returned by Pool.Acquire when every session is busy and
// the queue of waiting requests is full.
var ErrQueueFull = errors.New("gemmavk: all sessions are busy and the queue is full")

// ErrClosed is returned by Pool.Acquire after Close.
var ErrClosed = errors.New("gemmavk: pool closed")

// Pool lends a model's sessions to concurrent requests: at most Size at a
// time (sessions are opened on demand and kept, each with its cache),
// and up to Queue requests wait beyond that, first come first served.
//
// A session keeps its tokens between requests, so Acquire gives a request
// the idle session holding the longest reusable prefix of its prompt
// (Session.Reusable; image tokens count only for the same images); only
// the rest is evaluated. With no prefix to reuse
// it prefers an unopened slot, then the least recently used session.
type Pool struct {
	m     *Model
	size  int
	queue int

	mu      sync.Mutex
	idle    []*Session // least recently used first
	opened  int
	busy    int
	waiters []chan *Session
	closed  bool

	// counters for Stats
	requests, cachedTokens, promptTokens atomic.Int64
}

// PoolStats count a pool's sessions and work.
type PoolStats struct {
	Size, Opened, Busy, Waiting int
	Requests                    int64 // Acquire calls that got a session
	// PromptTokens is the sum of the prompts given to Acquire and
	// CachedTokens the part of them found in a session's cache: the rest
	// was evaluated.
	PromptTokens, CachedTokens int64
}

// NewPool returns a pool of size sessions (at least 1) with room for queue
// waiting requests (negative: no limit).
func (m *Model) NewPool(size, queue int) *Pool {
	return &Pool{m: m, size: max(1, size), queue: queue}
}

// Acquire waits for a session for prompt (see Pool). It fails with
// ErrQueueFull at once when the queue is full, and with ctx's error when
// ctx ends while waiting. Release must follow.
func (p *Pool) Acquire(ctx context.Context, prompt []int) (*Session, error) {
	return p.AcquirePrompt(ctx, &Prompt{IDs: prompt})
}

// AcquirePrompt is Acquire for a prompt with images: a session's cached
// image tokens count as a shared prefix only for the same images.
func (p *Pool) AcquirePrompt(ctx context.Context, prompt *Prompt) (*Session, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if s, ok := p.pick(prompt); ok {
		p.busy++
		p.mu.Unlock()
		if s == nil {
			ns, err := p.m.NewSession()
			if err != nil {
				p.mu.Lock()
				p.busy--
				p.opened--
				p.handOff()
				p.mu.Unlock()
				return nil, fmt.Errorf("gemmavk: pool: %w", err)
			}
			s = ns
		}
		p.count(s, prompt)
		return s, nil
	}
	if p.queue >= 0 && len(p.waiters) >= p.queue {
		p.mu.Unlock()
		return nil, ErrQueueFull
	}
	ch := make(chan *Session, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	select {
	case s := <-ch:
		if s == nil {
			return nil, ErrClosed
		}
		p.count(s, prompt)
		return s, nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	p.mu.Unlock()
	// A session was handed over just as ctx ended: give it back.
	if s := <-ch; s != nil {
		p.Release(s)
	}
	return nil, ctx.Err()
}

func (p *Pool) count(s *Session, prompt *Prompt) {
	p.requests.Add(1)
	p.promptTokens.Add(int64(len(prompt.IDs)))
	p.cachedTokens.Add(int64(s.reusable(prompt)))
}

// pick chooses an idle session for prompt, or a nil session with true when
// a new one should be opened, or false when the caller must wait. p.mu is
// held.
func (p *Pool) pick(prompt *Prompt) (*Session, bool) {
	best, bestN := -1, 0
	for i, s := range p.idle {
		if n := s.reusable(prompt); n > bestN {
			best, bestN = i, n
		}
	}
	if best < 0 && p.opened < p.size {
		p.opened++
		return nil, true
	}
	if best < 0 && len(p.idle) > 0 {
		best = 0 // least recently used
	}
	if best < 0 {
		return nil, false
	}
	s := p.idle[best]
	p.idle = append(p.idle[:best], p.idle[best+1:]...)
	return s, true
}

// Release returns a session to the pool; a waiting request gets it at once.
func (p *Pool) Release(s *Session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		s.Close()
		return
	}
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		ch <- s
		return
	}
	p.busy--
	p.idle = append(p.idle, s)
}

// handOff lets the first waiter open a session after a failed open freed a
// slot. p.mu is held.
func (p *Pool) handOff() {
	if len(p.waiters) > 0 && p.opened < p.size {
		// The waiter retries through Acquire's path by getting a nil-free
		// fresh session now; opening may fail again, which it then reports.
		if s, err := p.m.NewSession(); err == nil {
			p.opened++
			p.busy++
			ch := p.waiters[0]
			p.waiters = p.waiters[1:]
			ch <- s
		}
	}
}

// Stats reports the pool's state and counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Size: p.size, Opened: p.opened, Busy: p.busy, Waiting: len(p.waiters),
		Requests: p.requests.Load(), PromptTokens: p.promptTokens.Load(), CachedTokens: p.cachedTokens.Load()}
}

// Close closes the idle sessions and, as they are released, the busy ones;
// waiting and later requests fail with ErrClosed.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, s := range p.idle {
		s.Close()
	}
	p.idle = nil
	for _, ch := range p.waiters {
		ch <- nil
	}
	p.waiters = nil
}
