package jwtrefresh_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// TestSessionCheckCache: the session check reads the store once per TTL
// and session, sees revocations through its own service at once and
// revocations elsewhere as soon as the store pushes them.
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

	// Revoked through another instance: refused here once the push
	// arrives, without a store read.
	sid := sessionID(t, e, tj.AccessToken)
	n := reads()
	if err := other.svc.RevokeSession(t.Context(), "alice", sid); err != nil {
		t.Fatal(err)
	}
	untilRefused(t, e, tj.AccessToken)
	if reads() != n {
		t.Fatalf("%d store reads: the push should have decided", reads()-n)
	}
	// An ended session stays ended without asking the store again.
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

// TestSessionCheckEndsAtOnce: every way this Service ends a session makes
// its session check refuse the session's unexpired access tokens at once,
// with no clock moved and no store read (the cached "active" answer is
// overturned), over real HTTP on real Redis. Another instance that cached
// "active" refuses them as soon as the store's push reaches it, also
// without a store read.
func TestSessionCheckEndsAtOnce(t *testing.T) {
	revoke := func(t *testing.T, e *env, token string) {
		t.Helper()
		r := do(t, e.request(t, http.MethodPost, "/auth/revoke", formType, form("token", token)))
		if r.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
	}
	// reuse refreshes rt, then presents it again: reuse detection.
	reuse := func(t *testing.T, e *env, rt string) tokenJSON {
		t.Helper()
		next := e.refresh(t, rt)
		if next.status != http.StatusOK {
			t.Fatalf("refresh: %d %s", next.status, next.body)
		}
		wantError(t, e.refresh(t, rt), http.StatusBadRequest, "invalid_grant")
		return next.token(t)
	}
	for _, tc := range []struct {
		name      string
		storeOpts []redisstore.Option
		// end ends victim's session (alice's first) through e, and returns
		// access tokens that must now be refused, besides victim's.
		end func(t *testing.T, e, other *env, victim tokenJSON, sid string) []string
		// Whether alice's second session ends too.
		subjectEnds bool
		// Whether the other instance ended the session (and so knows).
		otherKnows bool
	}{
		{name: "RevokeRefreshToken", end: func(t *testing.T, e, _ *env, victim tokenJSON, _ string) []string {
			revoke(t, e, victim.RefreshToken)
			return nil
		}},
		{name: "RevokeOlderRefreshToken", end: func(t *testing.T, e, _ *env, victim tokenJSON, _ string) []string {
			next := e.refresh(t, victim.RefreshToken).token(t)
			revoke(t, e, victim.RefreshToken) // generation 1 names the session too
			return []string{next.AccessToken}
		}},
		{name: "RevokeRefreshTokenOfEndedSession", otherKnows: true, end: func(t *testing.T, e, other *env, victim tokenJSON, sid string) []string {
			// Ended through the other instance, then revoked here: the
			// store no longer knows the subject, the token names the session.
			if err := other.svc.RevokeSession(t.Context(), "alice", sid); err != nil {
				t.Fatal(err)
			}
			revoke(t, e, victim.RefreshToken)
			return nil
		}},
		{name: "ReuseRevokesSubject", subjectEnds: true, end: func(t *testing.T, e, _ *env, victim tokenJSON, _ string) []string {
			return []string{reuse(t, e, victim.RefreshToken).AccessToken}
		}},
		{name: "ReuseRevokesFamily", storeOpts: []redisstore.Option{redisstore.WithReusePolicy(session.RevokeFamily)},
			end: func(t *testing.T, e, _ *env, victim tokenJSON, _ string) []string {
				return []string{reuse(t, e, victim.RefreshToken).AccessToken}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{storeOpts: append(strict, tc.storeOpts...)}) // reuse right after a refresh
			other := e.twin(t)
			victim, second, bob := e.login(t, "alice"), e.login(t, "alice"), e.login(t, "bob")
			all := []tokenJSON{victim, second, bob}
			for _, inst := range []*env{e, other} { // both caches hold "active"
				for _, tj := range all {
					if r := inst.me(t, tj.AccessToken); r.status != http.StatusOK {
						t.Fatalf("before: %d %s", r.status, r.body)
					}
				}
			}
			refused := append(tc.end(t, e, other, victim, sessionID(t, e, victim.AccessToken)), victim.AccessToken)
			reads := e.store.active.Load()
			for _, at := range refused {
				if r := e.me(t, at); r.status != http.StatusUnauthorized {
					t.Fatalf("an access token of the ended session: %d, want 401 at once", r.status)
				}
			}
			if n := e.store.active.Load() - reads; n != 0 {
				t.Fatalf("%d store reads: the cached answer was not overturned", n)
			}
			wantStatus := func(who string, tj tokenJSON, ends bool) {
				t.Helper()
				want := http.StatusOK
				if ends {
					want = http.StatusUnauthorized
				}
				if r := e.me(t, tj.AccessToken); r.status != want {
					t.Fatalf("%s: %d, want %d", who, r.status, want)
				}
			}
			wantStatus("alice's other session", second, tc.subjectEnds)
			wantStatus("bob's session", bob, false)
			if tc.otherKnows {
				return
			}
			// The other instance had cached "active": the store's push
			// overturns it, with no store read and no clock moved.
			otherReads := other.store.active.Load()
			untilRefused(t, other, victim.AccessToken)
			if n := other.store.active.Load() - otherReads; n != 0 {
				t.Fatalf("the other instance read the store %d times: the push should have decided", n)
			}
		})
	}
}

// TestSessionCheckEviction: a login at the per-subject cap evicts the
// session closest to expiry, and this instance refuses its access token at
// once.
func TestSessionCheckEviction(t *testing.T) {
	e := newEnv(t, envConfig{storeOpts: []redisstore.Option{redisstore.WithMaxSessions(2)}})
	a, b := e.login(t, "alice"), e.login(t, "alice")
	sids := map[string]tokenJSON{}
	for _, tj := range []tokenJSON{a, b} {
		sids[sessionID(t, e, tj.AccessToken)] = tj // and caches "active"
	}
	e.login(t, "alice")
	var evicted, kept []tokenJSON
	for sid, tj := range sids {
		if e.storeActive(t, "alice", sid) {
			kept = append(kept, tj)
		} else {
			evicted = append(evicted, tj)
		}
	}
	if len(evicted) != 1 || len(kept) != 1 {
		t.Fatalf("%d sessions evicted, %d kept; want 1 and 1", len(evicted), len(kept))
	}
	reads := e.store.active.Load()
	if r := e.me(t, evicted[0].AccessToken); r.status != http.StatusUnauthorized {
		t.Fatalf("evicted session: %d, want 401 at once", r.status)
	}
	if r := e.me(t, kept[0].AccessToken); r.status != http.StatusOK {
		t.Fatalf("kept session: %d, want 200", r.status)
	}
	if n := e.store.active.Load() - reads; n != 0 {
		t.Fatalf("%d store reads: the cached answers should decide", n)
	}
}

// TestSessionCheckReuseRace: 32 clients present one refresh token at once
// over HTTP, without an Idempotency-Key, on a strict store (no grace
// window). Exactly one gets a new pair, the others invalid_grant, with one
// reuse alarm; then every access token of the subject, old and new, is
// refused at once on this instance.
func TestSessionCheckReuseRace(t *testing.T) {
	var events eventCounter
	e := newEnv(t, envConfig{storeOpts: strict, svcOpts: []jwtrefresh.Option{jwtrefresh.WithEvents(events.hook)}})
	victim, second, bob := e.login(t, "alice"), e.login(t, "alice"), e.login(t, "bob")
	for _, tj := range []tokenJSON{victim, second, bob} {
		if r := e.me(t, tj.AccessToken); r.status != http.StatusOK {
			t.Fatal(r.status)
		}
	}
	const clients = 32
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ok      []tokenJSON
		refused int
		start   = make(chan struct{})
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := e.refresh(t, victim.RefreshToken)
			var tj tokenJSON
			err := json.Unmarshal([]byte(r.body), &tj)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && r.status == http.StatusOK:
				ok = append(ok, tj)
			case err == nil && r.status == http.StatusBadRequest && tj.Error == "invalid_grant":
				refused++
			default:
				t.Errorf("refresh: %d %s", r.status, r.body)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(ok) != 1 || refused != clients-1 {
		t.Fatalf("%d refreshed, %d refused; want 1 and %d", len(ok), refused, clients-1)
	}
	if r, u := events.get(jwtrefresh.EventRotate), events.get(jwtrefresh.EventReuseDetected); r != 1 || u != 1 {
		t.Fatalf("%d rotations, %d reuse alarms; want 1 and 1", r, u)
	}
	reads := e.store.active.Load()
	for name, at := range map[string]string{
		"the presented token's access token": victim.AccessToken,
		"the new access token":               ok[0].AccessToken,
		"alice's other session":              second.AccessToken,
	} {
		if r := e.me(t, at); r.status != http.StatusUnauthorized {
			t.Fatalf("%s: %d, want 401 at once", name, r.status)
		}
	}
	if r := e.me(t, bob.AccessToken); r.status != http.StatusOK {
		t.Fatalf("bob: %d, want 200", r.status)
	}
	if n := e.store.active.Load() - reads; n != 0 {
		t.Fatalf("%d store reads: the cached answers should decide", n)
	}
}

// untilRefused requests /api/me with at until e answers 401, as a client
// would keep using a token; any answer but 200 and 401 fails the test, and
// so does a 200 after 10 s (a push that never arrives).
func untilRefused(t *testing.T, e *env, at string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		switch r := e.me(t, at); {
		case r.status == http.StatusUnauthorized:
			return
		case r.status != http.StatusOK:
			t.Fatalf("%d %s, want 200 until refused", r.status, r.body)
		case time.Now().After(deadline):
			t.Fatal("still accepted 10s after the session ended elsewhere: no push")
		}
		time.Sleep(time.Millisecond)
	}
}
