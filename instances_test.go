package jwtrefresh_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
)

// TestTwoInstances: two services on one store behave as one. A refresh
// through one and its idempotent retry through the other return the same
// refresh token; either verifies the other's access tokens.
func TestTwoInstances(t *testing.T) {
	redistest.Each(t, func(t *testing.T, be *redistest.Backend) {
		a := newEnv(t, envConfig{backend: be})
		b := a.twin(t)
		tj := a.login(t, "alice")

		first := a.refresh(t, tj.RefreshToken, "Idempotency-Key", "retry-1-5f0c9e2a7b14d3").token(t)
		again := b.refresh(t, tj.RefreshToken, "Idempotency-Key", "retry-1-5f0c9e2a7b14d3").token(t)
		if first.RefreshToken == "" || again.RefreshToken != first.RefreshToken {
			t.Fatalf("the retry through the other instance got another refresh token")
		}
		if again.AccessToken == first.AccessToken {
			t.Fatal("the retry got the same access token; want a fresh one")
		}
		for _, e := range []*env{a, b} {
			for _, at := range []string{first.AccessToken, again.AccessToken} {
				if r := e.me(t, at); r.status != 200 {
					t.Fatalf("instance refuses an access token of its twin: %d", r.status)
				}
			}
		}
		// The chain continues on either instance.
		next := b.refresh(t, again.RefreshToken).token(t)
		if r := a.refresh(t, next.RefreshToken); r.status != 200 {
			t.Fatalf("refresh through a: %d %s", r.status, r.body)
		}
		// A retry with another key is reuse.
		wantError(t, b.refresh(t, tj.RefreshToken, "Idempotency-Key", "other-8d2e61c4a09b7f"), 400, "invalid_grant")
	})
}

// eventCounter counts session events by kind, as an expvar map would.
type eventCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *eventCounter) hook(_ context.Context, e jwtrefresh.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[string(e.Kind)]++
}

func (c *eventCounter) get(kind jwtrefresh.EventKind) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[string(kind)]
}

// TestConcurrentRefresh: many concurrent presentations of one refresh
// token through the endpoint rotate it exactly once.
func TestConcurrentRefresh(t *testing.T) {
	const n = 20
	race := func(t *testing.T, e *env, rt string, header ...string) (ok int, tokens map[string]int, codes map[string]int) {
		t.Helper()
		var mu sync.Mutex
		tokens, codes = map[string]int{}, map[string]int{}
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.refresh(t, rt, header...)
				tj := r.token(t)
				mu.Lock()
				defer mu.Unlock()
				if r.status == http.StatusOK {
					ok++
					tokens[tj.RefreshToken]++
				} else {
					codes[tj.Error]++
				}
			}()
		}
		wg.Wait()
		return ok, tokens, codes
	}

	t.Run("SameIdempotencyKey", func(t *testing.T) {
		var ev eventCounter
		e := newEnv(t, envConfig{svcOpts: []jwtrefresh.Option{jwtrefresh.WithEvents(ev.hook)}})
		rt := e.login(t, "alice").RefreshToken
		ok, tokens, codes := race(t, e, rt, "Idempotency-Key", "race-3a9f0b7c1e5d24")
		if ok != n || len(tokens) != 1 || len(codes) != 0 {
			t.Fatalf("%d succeeded with %d distinct refresh tokens, errors %v; want %d and 1", ok, len(tokens), codes, n)
		}
		if ev.get(jwtrefresh.EventRotate) != 1 || ev.get(jwtrefresh.EventReplay) != n-1 {
			t.Fatalf("events %v, want 1 rotation and %d replays", ev.n, n-1)
		}
	})
	t.Run("NoIdempotencyKeyStrict", func(t *testing.T) {
		var ev eventCounter
		e := newEnv(t, envConfig{storeOpts: strict, svcOpts: []jwtrefresh.Option{jwtrefresh.WithEvents(ev.hook)}})
		rt := e.login(t, "alice").RefreshToken
		ok, tokens, codes := race(t, e, rt)
		if ok != 1 || len(tokens) != 1 || codes["invalid_grant"] != n-1 {
			t.Fatalf("%d succeeded, errors %v; want exactly 1 and %d invalid_grant", ok, codes, n-1)
		}
		if ev.get(jwtrefresh.EventRotate) != 1 || ev.get(jwtrefresh.EventReuseDetected) != 1 {
			t.Fatalf("events %v, want 1 rotation and 1 reuse detection", ev.n)
		}
	})
}
