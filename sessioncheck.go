package jwtrefresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/nilcheck"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// SessionCheck returns a check for middleware.WithSessionCheck that
// refuses access tokens whose session has ended (logged out, revoked,
// reused, evicted, expired), so that a logout takes effect before the
// access token expires:
//
//	mw, err := svc.Middleware(middleware.WithSessionCheck(svc.SessionCheck(), 0))
//
// It asks the store (one cheap read) and caches the answers (see
// [WithSessionCache]); with a store that pushes ends (session.Watcher) a
// session ended anywhere is refused within milliseconds. While the store
// cannot answer it answers from what it knows ([WithMaxStale]). Its errors
// wrap middleware.ErrSessionRevoked for an ended session (401) and
// session.ErrUnavailable when it cannot tell (503 with Retry-After, never
// 401: an outage must not send every client to refresh). The package
// documentation's "Session check" section, and docs/operations.md, have the
// rules. It is safe for concurrent use; [Service.Close] stops its push.
func (s *Service) SessionCheck() func(context.Context, *middleware.Claims) error {
	return s.sessions.check
}

// NewSessionCheck returns the session check of [Service.SessionCheck] for
// a resource server that verifies access tokens without running the token
// service: it needs only the store (redisstore.New on the same Redis and
// key prefix), no secret. Call stop when done: it ends the push
// subscription.
//
// opts may be WithAccessTokenTTL (the issuer's; it sizes what is
// remembered of ended sessions), WithSessionCache, WithMaxStale,
// WithLogger and WithEvents; others are an error wrapping
// [ErrInvalidConfig], as is a nil store.
func NewSessionCheck(store session.Store, opts ...Option) (check func(context.Context, *middleware.Claims) error, stop func(), err error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case nilcheck.IsNil(store):
		return nil, nil, configError("NewSessionCheck: nil store (%T)", store)
	case cfg.audience != nil, cfg.loader != nil, cfg.cookie != nil:
		return nil, nil, configError("NewSessionCheck: WithAudience, WithClaimsLoader and WithRefreshCookie configure a Service")
	}
	c := newSessionCheck(store, cfg)
	return c.check, c.close, nil
}

// Close stops the session check's subscription to the store's push, if
// the store has one; afterwards the check asks the store whenever it is
// not sure. The Service itself keeps working. It always returns nil.
func (s *Service) Close() error {
	s.sessions.close()
	return nil
}

// sessionCheck answers "is this session active?" for the session check:
// from a bounded cache kept current by the store's push, else from the
// store, else, while the store fails, from what it knows.
type sessionCheck struct {
	store    session.Store
	watcher  session.Watcher // nil: the store does not push
	ttl      time.Duration   // how long "active" is trusted
	ended    time.Duration   // how long an end is remembered: an access token's life
	skew     time.Duration
	maxStale time.Duration // 0: fail closed
	size     int
	now      func() time.Time
	events   func(context.Context, Event)
	logger   *slog.Logger

	started   atomic.Bool
	startOnce sync.Once

	mu            sync.Mutex
	byID          map[string]sessionEntry // by session id; guarded by mu
	tombs         tombstones              // guarded by mu
	invalidations uint64                  // local ends; guarded by mu
	push          pushState               // guarded by mu
	outage        outage                  // guarded by mu
	stop          func()                  // ends the push; guarded by mu
	closed        bool                    // guarded by mu
}

// sessionEntry is what a store read said about a session.
type sessionEntry struct {
	subject  string
	active   bool
	until    time.Time // trusted until (active: TTL, never past deadline)
	deadline time.Time // the session's own deadline (active)
	read     time.Time // when the read began
	epoch    uint64    // the push epoch when the read began
}

var (
	errSessionEnded = fmt.Errorf("%w: the session has ended", middleware.ErrSessionRevoked)
	errNoSession    = fmt.Errorf("%w: the access token names no session", middleware.ErrSessionRevoked)
	errStoreFailing = fmt.Errorf("%w: the store failed within the last second and is not asked again yet", session.ErrUnavailable)
)

func newSessionCheck(store session.Store, cfg config) *sessionCheck {
	c := &sessionCheck{store: store, ttl: cfg.cacheTTL, ended: cfg.accessTTL + cfg.skew, skew: cfg.skew,
		maxStale: cfg.maxStale, size: cfg.cacheSize, now: cfg.now, events: cfg.events, logger: cfg.logger,
		byID: make(map[string]sessionEntry), tombs: tombstones{at: map[string]time.Time{}}}
	c.watcher, _ = store.(session.Watcher)
	if c.ttl < 0 {
		c.ttl = defaultCacheTTL
		if c.watcher != nil {
			c.ttl = defaultPushedCacheTTL
		}
	}
	if c.maxStale < 0 {
		c.maxStale = cfg.accessTTL
	}
	return c
}

func verdict(active bool) error {
	if active {
		return nil
	}
	return errSessionEnded
}

func (c *sessionCheck) check(ctx context.Context, claims *middleware.Claims) error {
	sid, sub := claims.SessionID, claims.Subject
	if sid == "" || sub == "" {
		return errNoSession
	}
	c.start()
	now := c.now()
	c.mu.Lock()
	switch c.known(sid, sub, now) {
	case accept:
		c.mu.Unlock()
		return nil
	case refuse:
		c.mu.Unlock()
		return errSessionEnded
	}
	if c.outage.down && now.Before(c.outage.probe) {
		err := c.degraded(claims, now, errStoreFailing)
		c.mu.Unlock()
		return err
	}
	c.outage.probe = now.Add(probeEvery)
	epoch, inval := c.push.epoch, c.invalidations
	c.mu.Unlock()
	until, err := c.store.Active(ctx, sid, sub)
	if err != nil {
		return c.failed(ctx, claims, now, err)
	}
	return c.answered(ctx, sid, sub, until, now, epoch, inval)
}

type knowledge uint8

const (
	unknown knowledge = iota
	accept
	refuse
)

// known answers from memory alone, when it can: a trusted "active", or an
// end. The caller holds mu.
func (c *sessionCheck) known(sid, sub string, now time.Time) knowledge {
	if e, ok := c.byID[sid]; ok && e.subject == sub && now.Before(e.until) {
		switch {
		case !e.active:
			return refuse
		case c.watcher == nil || (c.push.live && e.epoch == c.push.epoch):
			return accept
		}
	}
	if c.tombs.has(sid, now) {
		return refuse
	}
	return unknown
}

// answered records the store's answer to a read begun at began, and
// leaves degraded mode. A push that ended the session while the read was
// on its way wins over an "active" answer.
func (c *sessionCheck) answered(ctx context.Context, sid, sub string, until, began time.Time, epoch, inval uint64) error {
	now := c.now()
	c.mu.Lock()
	active := !until.IsZero() && !c.tombs.has(sid, now)
	c.put(sid, sub, active, until, began, epoch, inval, now)
	out := c.outage
	c.outage.down = false
	c.mu.Unlock()
	if out.down {
		c.report(ctx, EventCheckRestored, slog.Duration("degraded_for", now.Sub(out.since)))
	}
	return verdict(active)
}

// failed answers a request whose store read failed, entering degraded
// mode unless the caller went away (a cancelled context says nothing of
// the store; a deadline passed does: the store was too slow for it).
func (c *sessionCheck) failed(ctx context.Context, claims *middleware.Claims, began time.Time, err error) error {
	err = fmt.Errorf("jwtrefresh: session check: %w", err)
	if errors.Is(ctx.Err(), context.Canceled) {
		return err
	}
	now := c.now()
	c.mu.Lock()
	entered := !c.outage.down
	if entered {
		c.outage = outage{down: true, since: began, probe: now.Add(probeEvery)}
	}
	res := c.degraded(claims, now, err)
	c.mu.Unlock()
	if entered {
		c.report(ctx, EventCheckDegraded, slog.String("error", err.Error()), slog.Bool("fail_closed", c.maxStale == 0))
	}
	return res
}

// put caches an answer read from began at push epoch epoch, after inval
// local ends. A local end since then may be newer than the answer, so the
// answer is dropped. The caller holds mu.
func (c *sessionCheck) put(sid, sub string, active bool, deadline, began time.Time, epoch, inval uint64, now time.Time) {
	if c.invalidations != inval {
		return
	}
	e := sessionEntry{subject: sub, active: active, read: began, epoch: epoch}
	if active {
		e.deadline, e.until = deadline, began.Add(c.ttl)
		if deadline.Before(e.until) {
			e.until = deadline
		}
	} else {
		e.until = now.Add(max(c.ttl, c.ended))
	}
	if _, ok := c.byID[sid]; !ok && len(c.byID) >= c.size {
		for k := range c.byID { // map order is random: a random victim
			delete(c.byID, k)
			break
		}
	}
	c.byID[sid] = e
}

// endSession records that subject's session sid is not active: this
// process ended it, or found it gone. An entry of another subject is left
// alone, so naming someone else's session id changes nothing. An empty
// subject matches any: only for a session id proven by a genuine refresh
// token, whose subject the store may no longer know.
func (c *sessionCheck) endSession(subject, sid string) {
	until := c.now().Add(max(c.ttl, c.ended))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalidations++
	if e, ok := c.byID[sid]; ok && (subject == "" || e.subject == subject) {
		e.active, e.until = false, until
		c.byID[sid] = e
	}
}

// endSubject records that this process ended every session of subject.
// It visits the whole cache (bounded by its size): logging out everywhere
// is rare.
func (c *sessionCheck) endSubject(subject string) {
	until := c.now().Add(max(c.ttl, c.ended))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalidations++
	for sid, e := range c.byID {
		if e.subject == subject {
			e.active, e.until = false, until
			c.byID[sid] = e
		}
	}
}

// report sends a change of the check's state to the event hook and logs
// it once.
func (c *sessionCheck) report(ctx context.Context, kind EventKind, attrs ...slog.Attr) {
	if c.events != nil {
		c.events(ctx, Event{Kind: kind, Time: c.now()})
	}
	if c.logger == nil {
		return
	}
	if kind == EventCheckDegraded {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "session check degraded: the store does not answer; answering from what this instance knows", attrs...)
		return
	}
	c.logger.LogAttrs(ctx, slog.LevelInfo, "session check restored: the store answers again", attrs...)
}
