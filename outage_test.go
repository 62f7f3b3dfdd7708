package jwtrefresh_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
)

// TestStoreOutage stops a private redis-server: every endpoint answers 503
// with Retry-After, never invalid_grant and never 401, and once Redis is
// back the client's retry with the same idempotency key succeeds.
func TestStoreOutage(t *testing.T) {
	srv := redistest.StartServer(t)
	be := &redistest.Backend{Name: "private", Client: srv.Client(t), Addr: srv.Addr}
	e := newEnv(t, envConfig{backend: be, storeOpts: []redisstore.Option{redisstore.WithTimeout(500 * time.Millisecond)}})
	tj := e.login(t, "alice")
	if r := e.me(t, tj.AccessToken); r.status != 200 {
		t.Fatal(r.status)
	}

	srv.Stop()
	e.clock.Add(jwtrefresh.DefaultSessionCacheTTL) // the session check must ask the store
	unavailable := func(t *testing.T, r reply) {
		t.Helper()
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" {
			t.Fatalf("status %d, Retry-After %q, body %s; want 503 with Retry-After: 1", r.status, r.header.Get("Retry-After"), r.body)
		}
		if !strings.Contains(r.body, `"error":"temporarily_unavailable"`) {
			t.Fatalf("body %s", r.body)
		}
	}
	bearer := []string{"Authorization", "Bearer " + tj.AccessToken}
	for name, send := range map[string]func() reply{
		"Refresh": func() reply { return e.refresh(t, tj.RefreshToken, "Idempotency-Key", "k1") },
		"RefreshJSON": func() reply {
			return do(t, e.request(t, http.MethodPost, "/auth/refresh", "application/json", `{"refresh_token":"`+tj.RefreshToken+`"}`))
		},
		"RevokeRefreshToken": func() reply {
			return do(t, e.request(t, http.MethodPost, "/auth/revoke", formType, form("token", tj.RefreshToken)))
		},
		"RevokeAccessToken": func() reply {
			return do(t, e.request(t, http.MethodPost, "/auth/revoke", formType, form("token", tj.AccessToken)))
		},
		"Login":     func() reply { return do(t, e.request(t, http.MethodPost, "/login", formType, form("user", "bob"))) },
		"Protected": func() reply { return e.me(t, tj.AccessToken) },
		"LogoutAll": func() reply { return do(t, e.request(t, http.MethodPost, "/auth/logout-all", "", "", bearer...)) },
		"Sessions":  func() reply { return do(t, e.request(t, http.MethodGet, "/auth/sessions", "", "", bearer...)) },
	} {
		t.Run(name, func(t *testing.T) {
			r := send()
			unavailable(t, r)
			if name != "Protected" { // the application's own route sets its own caching
				wantNoStore(t, r)
			}
		})
	}

	srv.Start()
	r := e.refresh(t, tj.RefreshToken, "Idempotency-Key", "k1")
	if r.status != 200 {
		t.Fatalf("refresh once Redis is back: %d %s", r.status, r.body)
	}
	if r := e.me(t, r.token(t).AccessToken); r.status != 200 {
		t.Fatalf("protected request once Redis is back: %d", r.status)
	}
}

// TestStoreHangs pauses Redis (connections open, nothing answered): the
// refresh endpoint answers 503 by the store's timeout instead of hanging.
func TestStoreHangs(t *testing.T) {
	srv := redistest.StartServer(t)
	be := &redistest.Backend{Name: "private", Client: srv.Client(t), Addr: srv.Addr}
	e := newEnv(t, envConfig{backend: be, storeOpts: []redisstore.Option{redisstore.WithTimeout(300 * time.Millisecond)}})
	tj := e.login(t, "alice")
	srv.Pause()
	defer srv.Resume()
	r := e.refresh(t, tj.RefreshToken, "Idempotency-Key", "k1")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "temporarily_unavailable") {
		t.Fatalf("paused Redis: %d %s", r.status, r.body)
	}
	srv.Resume()
	// The paused script may or may not have run: the same key settles it.
	if r := e.refresh(t, tj.RefreshToken, "Idempotency-Key", "k1"); r.status != 200 {
		t.Fatalf("after resuming: %d %s", r.status, r.body)
	}
}
