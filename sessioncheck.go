package jwtrefresh

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jwtrefresh/jwtrefresh/middleware"
)

// SessionCheck returns a check for middleware.WithSessionCheck that
// refuses access tokens whose session has ended (logged out, revoked,
// reused, evicted, expired), so that a logout takes effect before the
// access token expires:
//
//	mw, err := svc.Middleware(middleware.WithSessionCheck(svc.SessionCheck(), 0))
//
// It asks the store (one cheap read) and caches the answers (see
// [WithSessionCache]): a session ended through this Service is refused at
// once, one ended elsewhere within the cache TTL; the package
// documentation's "Session check" section has the details. Its errors wrap
// middleware.ErrSessionRevoked for an ended session (401) and
// session.ErrUnavailable when the store cannot answer (503 with
// Retry-After, never 401: an outage must not send every client to
// refresh). It is safe for concurrent use.
func (s *Service) SessionCheck() func(context.Context, *middleware.Claims) error {
	return s.sessions.check
}

// sessionCache answers "is this session active?" for the session check.
type sessionCache struct {
	active func(ctx context.Context, subject, sid string) (bool, error)
	ttl    time.Duration // how long "active" is trusted; 0: no cache
	ended  time.Duration // how long "ended" is kept: an access token's life
	size   int
	now    func() time.Time
	mu     sync.Mutex
	byID   map[string]sessionEntry // by session id; guarded by mu
	epochs uint64                  // counts invalidations; guarded by mu
}

type sessionEntry struct {
	subject string
	active  bool
	until   time.Time
}

var (
	errSessionEnded = fmt.Errorf("%w: the session has ended", middleware.ErrSessionRevoked)
	errNoSession    = fmt.Errorf("%w: the access token names no session", middleware.ErrSessionRevoked)
)

func newSessionCache(active func(ctx context.Context, subject, sid string) (bool, error), cfg config) *sessionCache {
	c := &sessionCache{active: active, ttl: cfg.cacheTTL, ended: cfg.accessTTL + cfg.skew, size: cfg.cacheSize, now: cfg.now}
	if c.ttl > 0 {
		c.byID = make(map[string]sessionEntry)
	}
	return c
}

func verdict(active bool) error {
	if active {
		return nil
	}
	return errSessionEnded
}

func (c *sessionCache) check(ctx context.Context, claims *middleware.Claims) error {
	sid, sub := claims.SessionID, claims.Subject
	if sid == "" || sub == "" {
		return errNoSession
	}
	var epoch uint64
	if c.byID != nil {
		now := c.now()
		c.mu.Lock()
		e, ok := c.byID[sid]
		epoch = c.epochs
		c.mu.Unlock()
		if ok && e.subject == sub && now.Before(e.until) {
			return verdict(e.active)
		}
	}
	active, err := c.active(ctx, sub, sid)
	if err != nil {
		return fmt.Errorf("jwtrefresh: session check: %w", err)
	}
	if c.byID != nil {
		c.put(sid, sub, active, epoch)
	}
	return verdict(active)
}

// put caches an answer read while the cache was at epoch. An invalidation
// since then may be newer than the answer, so the answer is dropped.
func (c *sessionCache) put(sid, sub string, active bool, epoch uint64) {
	until := c.now().Add(c.ttl)
	if !active {
		until = c.now().Add(max(c.ttl, c.ended))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epochs != epoch {
		return
	}
	if _, ok := c.byID[sid]; !ok && len(c.byID) >= c.size {
		for k := range c.byID { // map order is random: a random victim
			delete(c.byID, k)
			break
		}
	}
	c.byID[sid] = sessionEntry{subject: sub, active: active, until: until}
}

// endSession records that subject's session sid is not active: this
// process ended it, or found it gone. An entry of another subject is left
// alone, so naming someone else's session id changes nothing. An empty
// subject matches any: only for a session id proven by a genuine refresh
// token, whose subject the store may no longer know.
func (c *sessionCache) endSession(subject, sid string) {
	if c.byID == nil {
		return
	}
	until := c.now().Add(max(c.ttl, c.ended))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epochs++
	if e, ok := c.byID[sid]; ok && (subject == "" || e.subject == subject) {
		e.active, e.until = false, until
		c.byID[sid] = e
	}
}

// endSubject records that this process ended every session of subject.
// It visits the whole cache (bounded by its size): logging out everywhere
// is rare.
func (c *sessionCache) endSubject(subject string) {
	if c.byID == nil {
		return
	}
	until := c.now().Add(max(c.ttl, c.ended))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epochs++
	for sid, e := range c.byID {
		if e.subject == subject {
			e.active, e.until = false, until
			c.byID[sid] = e
		}
	}
}
