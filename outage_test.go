package jwtrefresh_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
)

// retryBudget bounds how long a client in these tests keeps retrying a
// request answered 503, as a real client does. The go-redis pool keeps
// failing fast for up to a second after Redis comes back (it probes the
// server once a second after repeated dial errors), longer on a loaded
// machine.
const retryBudget = 30 * time.Second

// wantUnavailable fails unless r is the store-outage answer: 503
// temporarily_unavailable with Retry-After, never invalid_grant or 401.
func wantUnavailable(t *testing.T, r reply, retryAfter string) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != retryAfter {
		t.Fatalf("status %d, Retry-After %q, body %s; want 503 with Retry-After: %s", r.status, r.header.Get("Retry-After"), r.body, retryAfter)
	}
	if !strings.Contains(r.body, `"error":"temporarily_unavailable"`) {
		t.Fatalf("body %s", r.body)
	}
}

// untilAvailable sends the same request (send builds it afresh: same token,
// same Idempotency-Key) until it is answered with something other than
// 503, waiting Retry-After seconds between attempts, and returns that
// answer. Every 503 must be the documented one; running out of the budget
// fails the test.
func untilAvailable(t *testing.T, what string, send func() reply) reply {
	t.Helper()
	deadline := time.Now().Add(retryBudget)
	for attempt := 1; ; attempt++ {
		r := send()
		if r.status != http.StatusServiceUnavailable {
			return r
		}
		wantUnavailable(t, r, r.header.Get("Retry-After"))
		wait, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || wait < 1 {
			t.Fatalf("%s: Retry-After %q", what, r.header.Get("Retry-After"))
		}
		if time.Now().Add(time.Duration(wait) * time.Second).After(deadline) {
			t.Fatalf("%s: still 503 after %d attempts: %s", what, attempt, r.body)
		}
		time.Sleep(time.Duration(wait) * time.Second) // what Retry-After asks; not waiting for an expiry
	}
}

// TestStoreOutage stops a private redis-server: every endpoint that needs
// the store answers 503 with Retry-After, never invalid_grant and never
// 401; the session check answers from what it knows (or 503 when it fails
// closed); and once Redis is back the client's retry with the same
// idempotency key succeeds.
func TestStoreOutage(t *testing.T) {
	srv := redistest.StartServer(t)
	be := &redistest.Backend{Name: "private", Client: srv.Client(t), Addr: srv.Addr}
	e := newEnv(t, envConfig{backend: be})
	closedCfg := e.cfg
	closedCfg.svcOpts = append(closedCfg.svcOpts, jwtrefresh.WithMaxStale(0))
	closed := newEnv(t, closedCfg) // fails closed
	tj := e.login(t, "alice")
	for _, inst := range []*env{e, closed} {
		if r := inst.me(t, tj.AccessToken); r.status != 200 {
			t.Fatal(r.status)
		}
	}

	srv.Stop()
	e.clock.Add(jwtrefresh.DefaultSessionCacheTTL) // the session check must ask the store
	const key = "outage-retry-0123456789abcdef"
	refresh := func() reply { return e.refresh(t, tj.RefreshToken, "Idempotency-Key", key) }
	bearer := []string{"Authorization", "Bearer " + tj.AccessToken}
	for name, send := range map[string]func() reply{
		"Refresh": refresh,
		"RefreshJSON": func() reply {
			return do(t, e.request(t, http.MethodPost, "/auth/refresh", "application/json", `{"refresh_token":"`+tj.RefreshToken+`"}`))
		},
		"RevokeRefreshToken": func() reply {
			return do(t, e.request(t, http.MethodPost, "/auth/revoke", formType, form("token", tj.RefreshToken)))
		},
		"RevokeAccessToken": func() reply {
			return do(t, e.request(t, http.MethodPost, "/auth/revoke", formType, form("token", tj.AccessToken)))
		},
		"Login":               func() reply { return do(t, e.request(t, http.MethodPost, "/login", formType, form("user", "bob"))) },
		"ProtectedFailClosed": func() reply { return closed.me(t, tj.AccessToken) },
		"LogoutAll":           func() reply { return do(t, e.request(t, http.MethodPost, "/auth/logout-all", "", "", bearer...)) },
		"Sessions":            func() reply { return do(t, e.request(t, http.MethodGet, "/auth/sessions", "", "", bearer...)) },
	} {
		t.Run(name, func(t *testing.T) {
			r := send()
			wantUnavailable(t, r, "1")
			if name != "ProtectedFailClosed" { // the application's own route sets its own caching
				wantNoStore(t, r)
			}
		})
	}
	// The session check fails open by default: a session it knows active
	// stays accepted.
	if r := e.me(t, tj.AccessToken); r.status != 200 {
		t.Fatalf("protected request of a known session: %d %s, want 200", r.status, r.body)
	}

	srv.Start()
	// The refresh may have been answered 503 after the store ran it (not
	// here: Redis was down), and the pool may still fail fast for a while:
	// the client retries the same refresh with the same key until it is
	// answered, as transport does.
	r := untilAvailable(t, "refresh once Redis is back", refresh)
	if r.status != 200 {
		t.Fatalf("refresh once Redis is back: %d %s", r.status, r.body)
	}
	next := r.token(t)
	if r := untilAvailable(t, "protected request", func() reply { return e.me(t, next.AccessToken) }); r.status != 200 {
		t.Fatalf("protected request once Redis is back: %d %s", r.status, r.body)
	}
	// The same key again is a replay of that rotation, not a reuse.
	if again := refresh(); again.status != 200 || again.token(t).RefreshToken != next.RefreshToken {
		t.Fatalf("replay with the same key: %d %s", again.status, again.body)
	}
	if r := e.refresh(t, next.RefreshToken); r.status != 200 {
		t.Fatalf("the new refresh token: %d %s", r.status, r.body)
	}
}

// TestStoreHangs pauses Redis (connections open, nothing answered): the
// refresh endpoint answers 503 once the store's timeout passes instead of
// hanging, and the client's retry with the same key succeeds after Redis
// resumes, whether or not the paused script ran.
func TestStoreHangs(t *testing.T) {
	srv := redistest.StartServer(t)
	be := &redistest.Backend{Name: "private", Client: srv.Client(t), Addr: srv.Addr}
	e := newEnv(t, envConfig{backend: be})
	tj := e.login(t, "alice")
	const key = "hangs-retry-0123456789abcdef"
	refresh := func() reply { return e.refresh(t, tj.RefreshToken, "Idempotency-Key", key) }

	srv.Pause()
	defer srv.Resume()
	// No bound on how long the 503 takes is asserted; a hang would show
	// as the test binary's timeout.
	wantUnavailable(t, refresh(), "1")
	srv.Resume()

	r := untilAvailable(t, "refresh after resuming", refresh)
	if r.status != 200 {
		t.Fatalf("after resuming: %d %s", r.status, r.body)
	}
	next := r.token(t)
	if again := refresh(); again.status != 200 || again.token(t).RefreshToken != next.RefreshToken {
		t.Fatalf("replay with the same key: %d %s", again.status, again.body)
	}
	if r := e.refresh(t, next.RefreshToken); r.status != 200 {
		t.Fatalf("the new refresh token: %d %s", r.status, r.body)
	}
}
