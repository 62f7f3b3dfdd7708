package jwtrefresh_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// presentations counts, per refresh token, the requests that carried it to
// the refresh endpoint.
type presentations struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *presentations) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth/refresh" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if q, err := url.ParseQuery(string(body)); err == nil {
				p.mu.Lock()
				p.n[q.Get("refresh_token")]++
				p.mu.Unlock()
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (p *presentations) of(rt string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[rt]
}

// TestOAuth2Interop: golang.org/x/oauth2 refreshes against the endpoint,
// with the auth style in parameters and with its default auto-detection.
// Each refresh presents the refresh token exactly once; a second
// TokenSource holding a used refresh token is refused with invalid_grant.
func TestOAuth2Interop(t *testing.T) {
	for name, style := range map[string]oauth2.AuthStyle{
		"InParams":   oauth2.AuthStyleInParams,
		"AutoDetect": oauth2.AuthStyleAutoDetect,
	} {
		t.Run(name, func(t *testing.T) {
			p := &presentations{n: map[string]int{}}
			e := newEnv(t, envConfig{wrapServer: p.wrap})
			cfg := &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: e.srv.URL + "/auth/refresh", AuthStyle: style}}
			ctx := context.Background()
			login := e.login(t, "alice")
			expired := func(rt string) *oauth2.Token {
				return &oauth2.Token{AccessToken: "expired", TokenType: "Bearer", RefreshToken: rt, Expiry: time.Now().Add(-time.Minute)}
			}

			tok, err := cfg.TokenSource(ctx, expired(login.RefreshToken)).Token()
			if err != nil {
				t.Fatal(err)
			}
			if tok.RefreshToken == login.RefreshToken || tok.TokenType != "Bearer" || tok.ExpiresIn != 300 ||
				time.Until(tok.Expiry) < 4*time.Minute || p.of(login.RefreshToken) != 1 {
				t.Fatalf("refreshed token %+v; the old refresh token was presented %d times, want 1", tok, p.of(login.RefreshToken))
			}
			// The new access token works on a protected route, through
			// x/oauth2's own client.
			resp, err := oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)).Get(e.srv.URL + "/api/me")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("/api/me with the x/oauth2 token: %d", resp.StatusCode)
			}

			// A second refresh (the auto-detected style is cached by now).
			tok2, err := cfg.TokenSource(ctx, expired(tok.RefreshToken)).Token()
			if err != nil || p.of(tok.RefreshToken) != 1 {
				t.Fatalf("second refresh: %v; presented %d times", err, p.of(tok.RefreshToken))
			}

			// Another TokenSource still holding the first, used refresh token.
			_, err = cfg.TokenSource(ctx, expired(login.RefreshToken)).Token()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
				t.Fatalf("stale refresh token: %v, want invalid_grant", err)
			}
			if p.of(login.RefreshToken) != 2 {
				t.Fatalf("the stale refresh token was presented %d more times, want 1", p.of(login.RefreshToken)-1)
			}
			// Reuse revoked the session: the newest token is refused too.
			_, err = cfg.TokenSource(ctx, expired(tok2.RefreshToken)).Token()
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("after reuse detection: %v, want invalid_grant", err)
			}
		})
	}
}

// TestOAuth2AutoDetectProbe documents a trait of x/oauth2 that users of
// auto-detection should know: on a Config that has not refreshed yet, a
// refused refresh is sent twice (header style, then parameters), so a
// refused token is presented twice. Setting AuthStyleInParams avoids it.
func TestOAuth2AutoDetectProbe(t *testing.T) {
	p := &presentations{n: map[string]int{}}
	e := newEnv(t, envConfig{wrapServer: p.wrap})
	cfg := &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: e.srv.URL + "/auth/refresh"}}
	_, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: "unknown", Expiry: time.Now().Add(-time.Minute)}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || p.of("unknown") != 2 {
		t.Fatalf("%v; presented %d times", err, p.of("unknown"))
	}
}
