package jwtrefresh

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// activeStub is a store whose Active answers from a function and counts
// the calls; its other methods are not used by the session check.
type activeStub struct {
	session.Store
	calls    atomic.Int64
	active   func(subject, sid string) (bool, error)
	deadline time.Time // of an active session; zero: farDeadline
}

// farDeadline is the deadline the stub reports for an active session.
var farDeadline = time.Now().Add(24 * time.Hour)

func (s *activeStub) Active(_ context.Context, sid, subject string) (time.Time, error) {
	s.calls.Add(1)
	ok, err := s.active(subject, sid)
	if !ok || err != nil {
		return time.Time{}, err
	}
	if !s.deadline.IsZero() {
		return s.deadline, nil
	}
	return farDeadline, nil
}

// pushStub is an activeStub that pushes: the test calls ended and live
// through what Watch was given.
type pushStub struct {
	activeStub
	mu    sync.Mutex
	ended func([]string)
	live  func(bool)
	stops int
}

func (s *pushStub) Watch(ended func([]string), live func(bool)) func() {
	s.mu.Lock()
	s.ended, s.live = ended, live
	s.mu.Unlock()
	live(true)
	return func() {
		s.mu.Lock()
		s.stops++
		s.mu.Unlock()
	}
}

func (s *pushStub) push(ids ...string) { s.ended(ids) }
func (s *pushStub) setLive(ok bool)    { s.live(ok) }

// testClock is a settable clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func claimsOf(sub, sid string) *middleware.Claims {
	return &middleware.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub}, SessionID: sid}
}

// issuedClaims are claims of an access token issued at iat (backdated by
// the skew, as the service does), living the default lifetime.
func issuedClaims(sub, sid string, iat time.Time) *middleware.Claims {
	c := claimsOf(sub, sid)
	c.IssuedAt = jwt.NewNumericDate(iat.Add(-defaultSkew))
	c.ExpiresAt = jwt.NewNumericDate(iat.Add(defaultAccessTTL))
	return c
}

func newTestCheck(st session.Store, ttl time.Duration, size int, now func() time.Time, opts ...Option) *sessionCheck {
	cfg, err := newConfig(opts)
	if err != nil {
		panic(err)
	}
	cfg.cacheTTL, cfg.cacheSize, cfg.now = ttl, size, now
	return newSessionCheck(st, cfg)
}

func TestSessionCacheBounded(t *testing.T) {
	st := &activeStub{active: func(string, string) (bool, error) { return true, nil }}
	c := newTestCheck(st, time.Minute, 3, time.Now)
	for i := range 10 {
		if err := c.check(t.Context(), claimsOf("alice", fmt.Sprint("sid-", i))); err != nil {
			t.Fatal(err)
		}
		if n := c.len(); n > 3 {
			t.Fatalf("cache holds %d sessions, bound 3", n)
		}
	}
	if c.len() != 3 || st.calls.Load() != 10 {
		t.Fatalf("len %d, %d reads", c.len(), st.calls.Load())
	}
}

func TestSessionCacheRefusals(t *testing.T) {
	down := fmt.Errorf("%w: connection refused", session.ErrUnavailable)
	st := &activeStub{active: func(sub, sid string) (bool, error) {
		switch sid {
		case "down":
			return false, down
		case "ended":
			return false, nil
		}
		return sub == "alice", nil
	}}
	c := newTestCheck(st, time.Minute, 10, time.Now, WithMaxStale(0))
	for _, tc := range []struct {
		sub, sid string
		revoked  bool // want ErrSessionRevoked (401); otherwise a 503 error or nil
		err      error
	}{
		{"alice", "s1", false, nil},
		{"mallory", "s1", true, nil}, // cached for alice: another subject is asked anew
		{"alice", "ended", true, nil},
		{"alice", "", true, nil},
		{"", "s1", true, nil},
		{"alice", "down", false, session.ErrUnavailable},
	} {
		err := c.check(t.Context(), claimsOf(tc.sub, tc.sid))
		if errors.Is(err, middleware.ErrSessionRevoked) != tc.revoked || (tc.err != nil && !errors.Is(err, tc.err)) ||
			(!tc.revoked && tc.err == nil && err != nil) {
			t.Errorf("check(%q, %q) = %v", tc.sub, tc.sid, err)
		}
	}
	// An outage is not cached: the store is asked again once the probe
	// interval has passed.
	n := st.calls.Load()
	c.outage.probe = time.Time{}
	_ = c.check(t.Context(), claimsOf("alice", "down"))
	if st.calls.Load() != n+1 {
		t.Fatal("a failed read was cached")
	}
}

// TestSessionCacheRevocationRace: an answer read before a revocation and
// stored after it must not resurrect the session in the cache.
func TestSessionCacheRevocationRace(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var ended atomic.Bool
	st := &activeStub{active: func(string, string) (bool, error) {
		if ended.Load() {
			return false, nil
		}
		close(entered)
		<-release
		return true, nil // read before the revocation
	}}
	c := newTestCheck(st, time.Minute, 10, time.Now)
	done := make(chan error)
	go func() { done <- c.check(context.Background(), claimsOf("alice", "s1")) }()
	<-entered
	ended.Store(true) // the store now says "ended"
	c.endSession("alice", "s1")
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the racing check: %v (it read 'active')", err)
	}
	if err := c.check(t.Context(), claimsOf("alice", "s1")); !errors.Is(err, middleware.ErrSessionRevoked) {
		t.Fatalf("after the revocation: %v, want revoked", err)
	}
	if st.calls.Load() != 2 {
		t.Fatalf("%d reads, want 2: the stale answer must not have been cached", st.calls.Load())
	}
}

// TestSessionCacheEndSession: an end names the subject, so naming someone
// else's session id changes nothing; an empty subject (a session id proven
// by a genuine refresh token) ends the session whoever's it is.
func TestSessionCacheEndSession(t *testing.T) {
	st := &activeStub{active: func(string, string) (bool, error) { return true, nil }}
	c := newTestCheck(st, time.Minute, 10, time.Now)
	for _, sid := range []string{"s1", "s2"} {
		if err := c.check(t.Context(), claimsOf("alice", sid)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		subject, sid string
		s1, s2       bool // still active afterwards
	}{
		{"mallory", "s1", true, true},
		{"alice", "s1", false, true},
		{"", "s2", false, false},
	} {
		c.endSession(tc.subject, tc.sid)
		for sid, want := range map[string]bool{"s1": tc.s1, "s2": tc.s2} {
			if err := c.check(t.Context(), claimsOf("alice", sid)); (err == nil) != want {
				t.Fatalf("after endSession(%q, %q): check(alice, %s) = %v, want active %v", tc.subject, tc.sid, sid, err, want)
			}
		}
	}
	if st.calls.Load() != 2 {
		t.Fatalf("%d store reads, want 2: the cache decides", st.calls.Load())
	}
}

// len reports the number of cached sessions.
func (c *sessionCheck) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID)
}
