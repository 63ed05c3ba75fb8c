package gemmavk

import (
	"context"
	"sync"
)

// turnLock orders the sessions of one model: one computes at a time, and
// the turn goes to the waiters in the order they asked (a plain mutex lets
// the goroutine that just unlocked take it again, starving the others).
// The zero value is unlocked.
type turnLock struct {
	mu      sync.Mutex
	busy    bool
	waiters []chan struct{}
}

// lock waits for the turn; it gives up with ctx's error when ctx ends first.
func (l *turnLock) lock(ctx context.Context) error {
	l.mu.Lock()
	if !l.busy {
		l.busy = true
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	for i, w := range l.waiters {
		if w == ch {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			l.mu.Unlock()
			return ctx.Err()
		}
	}
	l.mu.Unlock()
	// The turn was handed over just as ctx ended: pass it on.
	l.unlock()
	return ctx.Err()
}

// unlock hands the turn to the longest waiter, if any.
func (l *turnLock) unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.waiters) == 0 {
		l.busy = false
		return
	}
	ch := l.waiters[0]
	l.waiters = l.waiters[1:]
	close(ch) // busy stays set: the turn passes directly
}
