package jwtrefresh_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// waitFailClosed waits until the fail-closed instance has noticed the
// outage: Redis stopping is noticed asynchronously (its push connection
// breaks first), and until then the instance may trust a cached answer.
// Only 200 (the cached answer) or 503 may come meanwhile.
func waitFailClosed(t *testing.T, closed *env, accessToken string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := closed.me(t, accessToken)
		switch {
		case r.status == http.StatusServiceUnavailable:
			return
		case r.status != http.StatusOK:
			t.Fatalf("fail-closed instance during the outage: %d %s, want 200 or 503", r.status, r.body)
		case time.Now().After(deadline):
			t.Fatal("the fail-closed instance did not notice the outage in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
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
	waitFailClosed(t, closed, tj.AccessToken)
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

// outageTally counts answers by phase (0 before the outage, 1 during it,
// 2 after) and by what was asked.
type outageTally struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *outageTally) add(phase int32, what string, status int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[fmt.Sprintf("phase%d %s %d", phase, what, status)]++
}

// outageClient is one user with a session: it calls every instance
// (from a goroutine per instance, so that one slow instance does not hold
// up the others) and refreshes now and then with an Idempotency-Key, kept
// until the refresh is answered, as package transport does.
type outageClient struct {
	sub, sid string
	mu       sync.Mutex
	tj       tokenJSON // guarded by mu
	key      string    // of the pending refresh; guarded by mu
	n        int       // refreshes tried; guarded by mu
}

func (c *outageClient) tokens() tokenJSON {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tj
}

// refresh refreshes through e and returns the status.
func (c *outageClient) refresh(t *testing.T, e *env) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.key == "" {
		c.key = fmt.Sprintf("outage-%s-%08d-key", c.sub, c.n)
	}
	r := e.refresh(t, c.tj.RefreshToken, "Idempotency-Key", c.key)
	if r.status == http.StatusOK {
		c.tj, c.key = r.token(t), ""
	}
	return r.status
}

// TestOutageWithClients: three instances share a private Redis (AOF on)
// and a fourth fails closed (WithMaxStale(0)); six clients call them with
// access tokens that outlive the outage, refreshing now and then, and one
// session was revoked before. The outage is once a kill and restart, once
// a pause (SIGSTOP for 10 s, then SIGCONT). Throughout, live sessions get
// 200 from the open instances and never 401 from any (503 from the closed
// one during the outage), the revoked session gets 401 everywhere, and
// refreshes get 503, never invalid_grant, so clients keep their sessions.
// After recovery every client refreshes and every session is still there.
func TestOutageWithClients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		outage func(s *redistest.Server)
	}{
		{"KillRestart", func(s *redistest.Server) { s.Stop(); time.Sleep(3 * time.Second); s.Start() }},
		{"Pause10s", func(s *redistest.Server) { s.Pause(); time.Sleep(10 * time.Second); s.Resume() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			be := redistest.NewPrivate(t, redistest.Standalone)
			var events eventCounter
			opts := []jwtrefresh.Option{jwtrefresh.WithAccessTokenTTL(2 * time.Minute), jwtrefresh.WithEvents(events.hook)}
			first := newEnv(t, envConfig{backend: be, realClock: true, svcOpts: opts})
			open := []*env{first, first.twin(t), first.twin(t)}
			cc := first.cfg
			cc.svcOpts = append(slices.Clone(opts), jwtrefresh.WithMaxStale(0))
			closed := newEnv(t, cc)
			all := append(slices.Clone(open), closed)

			revoked := first.login(t, "mallory")
			clients := make([]*outageClient, 6)
			for i := range clients {
				tj := first.login(t, fmt.Sprintf("user-%d", i))
				clients[i] = &outageClient{sub: fmt.Sprintf("user-%d", i), tj: tj, sid: sessionID(t, first, tj.AccessToken)}
			}
			for _, e := range all { // every instance knows every session
				for _, c := range clients {
					if r := e.me(t, c.tj.AccessToken); r.status != http.StatusOK {
						t.Fatal(r.status)
					}
				}
				e.me(t, revoked.AccessToken)
			}
			if err := first.svc.RevokeSession(t.Context(), "mallory", sessionID(t, closed, revoked.AccessToken)); err != nil {
				t.Fatal(err)
			}
			for _, e := range all {
				untilRefused(t, e, revoked.AccessToken)
			}
			tally := runOutage(t, tc.outage, be.Servers[0], clients, open, closed, revoked)
			checkOutage(t, tally)
			for _, c := range clients { // none lost: each refreshes (its pending key first)
				if c.key == "" {
					c.key = "outage-" + c.sub + "-after-the-outage"
				}
				r := untilAvailable(t, "refresh after the outage", func() reply {
					return first.refresh(t, c.tj.RefreshToken, "Idempotency-Key", c.key)
				})
				if r.status != http.StatusOK || !first.storeActive(t, c.sub, c.sid) {
					t.Fatalf("%s after the outage: %d %s", c.sub, r.status, r.body)
				}
			}
			t.Logf("answers by phase: %v; events: %v", tally.n, events.n)
		})
	}
}

// runOutage runs the clients and the revoked session's requests before,
// during and after outage, and returns the answers, each counted in the
// phase in which it came.
func runOutage(t *testing.T, outage func(*redistest.Server), srv *redistest.Server, clients []*outageClient, open []*env, closed *env, revoked tokenJSON) *outageTally {
	var phase atomic.Int32
	tally := &outageTally{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	every := func(d time.Duration, fn func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(d):
				}
				fn(i)
			}
		}()
	}
	all := append(slices.Clone(open), closed)
	for _, c := range clients {
		for _, e := range all {
			what := map[bool]string{true: "closed", false: "open"}[e == closed]
			every(50*time.Millisecond, func(int) {
				status := e.me(t, c.tokens().AccessToken).status
				tally.add(phase.Load(), what, status)
			})
		}
		every(250*time.Millisecond, func(i int) {
			status := c.refresh(t, open[i%len(open)])
			tally.add(phase.Load(), "refresh", status)
		})
	}
	every(20*time.Millisecond, func(i int) { // the session revoked before the outage
		status := all[i%len(all)].me(t, revoked.AccessToken).status
		tally.add(phase.Load(), "revoked", status)
	})
	time.Sleep(time.Second)
	phase.Store(1)
	outage(srv)
	phase.Store(2)
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	return tally
}

// checkOutage asserts what the clients saw.
func checkOutage(t *testing.T, tally *outageTally) {
	t.Helper()
	tally.mu.Lock()
	defer tally.mu.Unlock()
	for key, n := range tally.n {
		var phase int32
		var what string
		var status int
		if _, err := fmt.Sscanf(key, "phase%d %s %d", &phase, &what, &status); err != nil {
			t.Fatal(err)
		}
		ok := false
		switch what {
		case "open":
			ok = status == http.StatusOK
		case "closed":
			ok = status == http.StatusOK || (phase > 0 && status == http.StatusServiceUnavailable)
		case "revoked":
			ok = status == http.StatusUnauthorized
		case "refresh":
			ok = status == http.StatusOK || (phase > 0 && status == http.StatusServiceUnavailable)
		}
		if !ok {
			t.Errorf("%d × %s (phase 0: before the outage, 1: during, 2: after)", n, key)
		}
	}
	if tally.n["phase1 open 200"] == 0 || tally.n["phase1 closed 503"] == 0 || tally.n["phase1 refresh 503"] == 0 || tally.n["phase1 revoked 401"] == 0 {
		t.Errorf("the outage was not seen: %v", tally.n)
	}
}
