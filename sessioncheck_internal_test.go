package jwtrefresh

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// activeStub answers the session check's store read from a function and
// counts the calls.
type activeStub struct {
	calls  atomic.Int64
	active func(subject, sid string) (bool, error)
}

func (s *activeStub) read(_ context.Context, subject, sid string) (bool, error) {
	s.calls.Add(1)
	return s.active(subject, sid)
}

func claimsOf(sub, sid string) *middleware.Claims {
	return &middleware.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub}, SessionID: sid}
}

func newTestCache(st *activeStub, ttl time.Duration, size int, now func() time.Time) *sessionCache {
	cfg := defaultConfig()
	cfg.cacheTTL, cfg.cacheSize, cfg.now = ttl, size, now
	return newSessionCache(st.read, cfg)
}

func TestSessionCacheBounded(t *testing.T) {
	st := &activeStub{active: func(string, string) (bool, error) { return true, nil }}
	c := newTestCache(st, time.Minute, 3, time.Now)
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
	c := newTestCache(st, time.Minute, 10, time.Now)
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
	// An outage is not cached: the next check asks again.
	n := st.calls.Load()
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
	c := newTestCache(st, time.Minute, 10, time.Now)
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
	c := newTestCache(st, time.Minute, 10, time.Now)
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
func (c *sessionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID)
}
