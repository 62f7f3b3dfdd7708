package jwtrefresh_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
)

// TestSessionCheckCache: the session check reads the store once per TTL
// and session, sees revocations through its own service at once and
// revocations elsewhere within the TTL.
func TestSessionCheckCache(t *testing.T) {
	e := newEnv(t, envConfig{})
	other := e.twin(t)
	tj := e.login(t, "alice")
	reads := func() int64 { return e.store.active.Load() }

	// 50 concurrent requests after one warm-up: no store read.
	if r := e.me(t, tj.AccessToken); r.status != 200 || reads() != 1 {
		t.Fatalf("first request: %d, %d reads", r.status, reads())
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := e.me(t, tj.AccessToken); r.status != 200 {
				t.Errorf("cached request: %d", r.status)
			}
		}()
	}
	wg.Wait()
	if reads() != 1 {
		t.Fatalf("%d store reads for 51 requests within the TTL, want 1", reads())
	}
	e.clock.Add(jwtrefresh.DefaultSessionCacheTTL)
	if r := e.me(t, tj.AccessToken); r.status != 200 || reads() != 2 {
		t.Fatalf("after the TTL: %d, %d reads", r.status, reads())
	}

	// Revoked through another instance: stale for at most the TTL.
	sid := sessionID(t, e, tj.AccessToken)
	if err := other.svc.RevokeSession(t.Context(), "alice", sid); err != nil {
		t.Fatal(err)
	}
	if r := e.me(t, tj.AccessToken); r.status != 200 {
		t.Fatalf("within the TTL the cached answer stands: %d", r.status)
	}
	e.clock.Add(jwtrefresh.DefaultSessionCacheTTL)
	if r := e.me(t, tj.AccessToken); r.status != 401 {
		t.Fatalf("after the TTL: %d, want 401", r.status)
	}
	// An ended session stays ended without asking the store again.
	n := reads()
	e.clock.Add(time.Minute)
	if r := e.me(t, tj.AccessToken); r.status != 401 || reads() != n {
		t.Fatalf("ended session: %d, %d new reads", r.status, reads()-n)
	}

	// Revoked through this instance: at once.
	tj = e.login(t, "alice")
	if r := e.me(t, tj.AccessToken); r.status != 200 {
		t.Fatal(r.status)
	}
	if err := e.svc.RevokeSession(t.Context(), "alice", sessionID(t, e, tj.AccessToken)); err != nil {
		t.Fatal(err)
	}
	if r := e.me(t, tj.AccessToken); r.status != 401 {
		t.Fatalf("revoked here: %d, want 401 at once", r.status)
	}
	// Logout everywhere through this instance: at once too.
	a, b := e.login(t, "bob"), e.login(t, "bob")
	for _, tj := range []tokenJSON{a, b} {
		if r := e.me(t, tj.AccessToken); r.status != 200 {
			t.Fatal(r.status)
		}
	}
	if _, err := e.svc.RevokeAll(t.Context(), "bob"); err != nil {
		t.Fatal(err)
	}
	for _, tj := range []tokenJSON{a, b} {
		if r := e.me(t, tj.AccessToken); r.status != 401 {
			t.Fatalf("after RevokeAll: %d", r.status)
		}
	}
}

func TestSessionCheckWithoutCache(t *testing.T) {
	e := newEnv(t, envConfig{svcOpts: []jwtrefresh.Option{jwtrefresh.WithSessionCache(0, 1)}})
	tj := e.login(t, "alice")
	for i := 1; i <= 3; i++ {
		if r := e.me(t, tj.AccessToken); r.status != http.StatusOK || e.store.active.Load() != int64(i) {
			t.Fatalf("request %d: %d, %d reads", i, r.status, e.store.active.Load())
		}
	}
	other := e.twin(t)
	if _, err := other.svc.RevokeAll(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	if r := e.me(t, tj.AccessToken); r.status != 401 {
		t.Fatalf("without a cache a revocation elsewhere shows at once: %d", r.status)
	}
}
