package jwtrefresh

import (
	"time"

	"github.com/jwtrefresh/jwtrefresh/middleware"
)

// What the session check keeps of the store's push and of outages; the
// package documentation's "Session check" section has the rules.

const (
	// probeEvery: while the store fails, one request per interval asks it;
	// the others are answered from memory.
	probeEvery = time.Second
	// pushTolerance: a push lost this shortly before the store's first
	// failure is taken as lost to the same outage (a dead Redis drops both
	// connections, noticed a little apart).
	pushTolerance = 2 * time.Second
	// maxTombstones bounds the ends remembered. Beyond it the oldest are
	// dropped, and the push no longer vouches for sessions this instance
	// never saw, as after a lost subscription.
	maxTombstones = 1 << 17
)

// pushState follows the store's push (session.Watcher). epoch counts its
// changes: an answer read at the current epoch while the push is live is
// kept current by it.
type pushState struct {
	live     bool
	epoch    uint64
	since    time.Time // the current live period began
	verified time.Time // the push was last proven live
	lost     period    // the last live period, ended by a loss
}

type period struct {
	epoch    uint64
	from, to time.Time
}

// outage is degraded mode: the store failed a read begun at since.
type outage struct {
	down  bool
	since time.Time
	probe time.Time // the next request from then asks the store
}

// start subscribes to the store's push at the first check (a Service that
// never checks a session holds no subscription).
func (c *sessionCheck) start() {
	if c.watcher == nil || c.started.Load() {
		return
	}
	c.startOnce.Do(func() {
		stop := c.watcher.Watch(c.pushEnded, c.pushLive) // may call pushLive: without mu
		c.mu.Lock()
		closed := c.closed
		if !closed {
			c.stop = stop
		}
		c.mu.Unlock()
		if closed {
			stop()
		}
	})
	c.started.Store(true)
}

// close ends the push subscription; the check then trusts no cached
// "active".
func (c *sessionCheck) close() {
	c.mu.Lock()
	c.closed = true
	stop := c.stop
	c.stop = nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	c.pushLive(false)
}

// pushEnded records pushed ends as tombstones and overturns cached
// "active" answers.
func (c *sessionCheck) pushEnded(ids []string) {
	now := c.now()
	until := now.Add(c.ended)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sid := range ids {
		if c.tombs.add(sid, until, now) {
			c.push.since, c.push.lost = now, period{} // an end was forgotten
		}
		if e, ok := c.byID[sid]; ok && e.active {
			e.active, e.until = false, now.Add(max(c.ttl, c.ended))
			c.byID[sid] = e
		}
	}
}

// pushLive records that the push is live (again, or still), or lost.
func (c *sessionCheck) pushLive(ok bool) {
	now := c.now()
	c.mu.Lock()
	p := &c.push
	changed := ok != p.live
	switch {
	case ok && !p.live:
		p.live, p.since, p.verified = true, now, now
		p.epoch++
	case ok:
		p.verified = now
	case p.live:
		p.lost = period{epoch: p.epoch, from: p.since, to: p.verified}
		p.live = false
		p.epoch++
	}
	closed := c.closed
	c.mu.Unlock()
	if changed && c.logger != nil && !closed { // a Close is no loss
		if ok {
			c.logger.Info("session check: revocation push live")
		} else {
			c.logger.Warn("session check: revocation push lost; cached answers are checked with the store until it is back")
		}
	}
}

// degraded answers while the store fails, from what this instance knows
// at most maxStale old: ended → 401, known active → accepted, a session
// never seen → accepted if the push vouches for it; else cause (503). The
// caller holds mu.
func (c *sessionCheck) degraded(claims *middleware.Claims, now time.Time, cause error) error {
	sid, sub := claims.SessionID, claims.Subject
	if c.tombs.has(sid, now) {
		return errSessionEnded
	}
	e, seen := c.byID[sid]
	seen = seen && e.subject == sub
	if seen && !e.active && now.Before(e.until) {
		return errSessionEnded
	}
	if c.maxStale == 0 {
		return cause
	}
	if seen && e.active && now.Before(e.deadline) && now.Sub(c.asOf(e, now)) <= c.maxStale {
		return nil
	}
	if asOf, ok := c.vouched(claims, now); ok && now.Sub(asOf) <= c.maxStale {
		return nil
	}
	return cause
}

// asOf is when a cached answer was last known current: when it was read,
// or later while the push that kept it current lasted. The caller holds
// mu.
func (c *sessionCheck) asOf(e sessionEntry, now time.Time) time.Time {
	switch {
	case c.watcher == nil:
	case e.epoch == c.push.epoch && c.push.live:
		return now
	case e.epoch == c.push.lost.epoch && c.push.lost.to.After(e.read):
		return c.push.lost.to
	}
	return e.read
}

// vouched reports whether the push covered the whole life of the token of
// claims up to the outage, so that its session, had it ended, would have
// a tombstone; and until when. The caller holds mu.
func (c *sessionCheck) vouched(claims *middleware.Claims, now time.Time) (time.Time, bool) {
	if c.watcher == nil || claims.IssuedAt == nil || claims.ExpiresAt == nil ||
		claims.ExpiresAt.Sub(claims.IssuedAt.Time) > c.ended {
		return time.Time{}, false // a token longer-lived than the tombstones
	}
	issued := claims.IssuedAt.Add(-c.skew)
	p := c.push
	switch {
	case p.live && !p.since.After(issued):
		return now, true
	case !p.live && !p.lost.from.IsZero() && !p.lost.from.After(issued) &&
		!p.lost.to.Before(c.outage.since.Add(-pushTolerance)):
		return p.lost.to, true
	}
	return time.Time{}, false
}

// tombstones remember pushed ends for an access token's lifetime, oldest
// first.
type tombstones struct {
	at    map[string]time.Time // session id → forgotten at
	order []tomb
}

type tomb struct {
	sid   string
	until time.Time
}

// add remembers sid until then, dropping what has expired by now; it
// reports whether an unexpired end had to be dropped for room.
func (ts *tombstones) add(sid string, until, now time.Time) (overflow bool) {
	for len(ts.order) > 0 && (!now.Before(ts.order[0].until) || len(ts.order) >= maxTombstones) {
		old := ts.order[0]
		overflow = overflow || now.Before(old.until)
		if ts.at[old.sid].Equal(old.until) {
			delete(ts.at, old.sid)
		}
		ts.order[0] = tomb{}
		ts.order = ts.order[1:]
	}
	ts.at[sid] = until
	ts.order = append(ts.order, tomb{sid, until})
	return overflow
}

func (ts *tombstones) has(sid string, now time.Time) bool {
	until, ok := ts.at[sid]
	return ok && now.Before(until)
}
