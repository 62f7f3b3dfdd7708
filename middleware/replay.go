package middleware

import (
	"sync"
	"time"
)

// replayCache remembers the proofs this instance accepted, by a hash of
// key thumbprint and jti, for at least period (twice the iat window: a
// proof dated up to a window ahead stays valid that long). It is two
// generations of a set: every period the older is dropped, so entries live
// between one and two periods and no unexpired one is ever evicted. When
// both hold size entries together, add refuses: the caller answers 503
// rather than forget a proof that could be replayed.
type replayCache struct {
	size   int
	period time.Duration

	mu       sync.Mutex
	cur, old map[[16]byte]struct{} // guarded by mu
	started  time.Time             // when cur began; guarded by mu
}

type replayResult uint8

const (
	replayFresh replayResult = iota
	replaySeen
	replayFull
)

func newReplayCache(size int, period time.Duration) *replayCache {
	return &replayCache{size: size, period: period, cur: map[[16]byte]struct{}{}, old: map[[16]byte]struct{}{}}
}

// add records id unless it is there already or the cache is full.
func (c *replayCache) add(id [16]byte, now time.Time) replayResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch age := now.Sub(c.started); {
	case age >= 2*c.period:
		clear(c.old)
		clear(c.cur)
		c.started = now
	case age >= c.period:
		c.old, c.cur = c.cur, c.old
		clear(c.cur)
		c.started = c.started.Add(c.period)
	}
	if _, ok := c.cur[id]; ok {
		return replaySeen
	}
	if _, ok := c.old[id]; ok {
		return replaySeen
	}
	if len(c.cur)+len(c.old) >= c.size {
		return replayFull
	}
	c.cur[id] = struct{}{}
	return replayFresh
}

// remove forgets id, recorded by a request that was then refused for
// another reason than the proof.
func (c *replayCache) remove(id [16]byte) {
	c.mu.Lock()
	delete(c.cur, id)
	delete(c.old, id)
	c.mu.Unlock()
}
