package jwtrefresh_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// TestMiddlewareOptionsRefused: options under which the session endpoints
// could not work are refused by NewService with ErrInvalidConfig, instead
// of endpoints that refuse every token of the service.
func TestMiddlewareOptionsRefused(t *testing.T) {
	store := newEnv(t, envConfig{}).store
	set := hsKeys(t)
	for _, tc := range []struct {
		name     string
		audience []string
		opt      middleware.Option
	}{
		{"OtherIssuer", nil, middleware.WithIssuer("https://other.example.test")},
		{"AudienceTheTokensLack", nil, middleware.WithAudience("api")},
		{"OtherAudience", []string{"auth"}, middleware.WithAudience("api")},
		{"OtherTokenType", nil, middleware.WithTokenType("JWT")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var events atomic.Int64
			opts := []jwtrefresh.Option{jwtrefresh.WithMiddlewareOptions(
				middleware.WithEvents(func(context.Context, middleware.Event) { events.Add(1) }), tc.opt)}
			if tc.audience != nil {
				opts = append(opts, jwtrefresh.WithAudience(tc.audience...))
			}
			svc, err := jwtrefresh.NewService(store, newSecrets(t), set, testIssuer, opts...)
			if !errors.Is(err, jwtrefresh.ErrInvalidConfig) || svc != nil {
				t.Fatalf("NewService: (%v, %v), want ErrInvalidConfig", svc, err)
			}
			if !strings.Contains(err.Error(), "WithMiddlewareOptions") && !strings.Contains(err.Error(), "middleware") {
				t.Fatalf("the error does not say which option: %v", err)
			}
			if n := events.Load(); n != 0 {
				t.Fatalf("checking the options reported %d middleware events", n)
			}
		})
	}
}

// TestMiddlewareOptionsAccepted: options that leave the endpoints usable
// are taken, and the service's own settings win over options that set
// them too: a wider audience does not widen what the endpoints accept, and
// another session check does not replace the service's.
func TestMiddlewareOptionsAccepted(t *testing.T) {
	var events, otherChecks atomic.Int64
	e := newEnv(t, envConfig{svcOpts: []jwtrefresh.Option{
		jwtrefresh.WithAudience("auth"),
		jwtrefresh.WithMiddlewareOptions(
			middleware.WithRealm("accounts"),
			middleware.WithEvents(func(context.Context, middleware.Event) { events.Add(1) }),
			middleware.WithIssuer(testIssuer),
			middleware.WithAudience("auth", "billing"),
			middleware.WithSessionCheck(func(context.Context, *middleware.Claims) error { otherChecks.Add(1); return nil }, 0),
		),
	}})
	if n := events.Load(); n != 0 {
		t.Fatalf("NewService reported %d middleware events", n)
	}
	sessions := func(at string) reply {
		return do(t, e.request(t, http.MethodGet, "/auth/sessions", "", "", "Authorization", "Bearer "+at))
	}

	tj := e.login(t, "alice")
	if r := sessions(tj.AccessToken); r.status != 200 {
		t.Fatalf("sessions: %d %s", r.status, r.body)
	}
	if n := events.Load(); n != 1 {
		t.Fatalf("%d middleware events for one request, want 1", n)
	}
	if r := do(t, e.request(t, http.MethodGet, "/auth/sessions", "", "")); r.status != 401 ||
		r.header.Get("WWW-Authenticate") != `Bearer realm="accounts"` {
		t.Fatalf("without a token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}

	t.Run("AudienceNotWidened", func(t *testing.T) {
		// Same issuer and keys, audience "billing" only.
		other := must(jwtrefresh.NewService(e.store, e.secrets, e.keys, testIssuer, jwtrefresh.WithAudience("billing")))
		billing := must(other.Login(t.Context(), session.NewSession{Subject: "alice"}))
		if r := sessions(billing.AccessToken); r.status != 401 {
			t.Fatalf("a token for another audience: %d %s", r.status, r.body)
		}
	})
	t.Run("SessionCheckKept", func(t *testing.T) {
		if r := do(t, e.request(t, http.MethodPost, "/auth/logout-all", "", "", "Authorization", "Bearer "+tj.AccessToken)); r.status != 200 {
			t.Fatalf("logout-all: %d %s", r.status, r.body)
		}
		r := sessions(tj.AccessToken)
		if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("an ended session's token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
		if n := otherChecks.Load(); n != 0 {
			t.Fatalf("the option's session check ran %d times; the service's must be the one", n)
		}
	})
}
