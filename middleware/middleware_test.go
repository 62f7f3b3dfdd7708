package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

// TestResponses drives every outcome through the middleware and checks the
// status, the exact WWW-Authenticate and Retry-After values, and the body.
func TestResponses(t *testing.T) {
	set := must(keys.NewSet(edKey, hsKey))
	good := sign(edKey, claimsAt())
	expiredClaims := claimsAt()
	expiredClaims.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Second))
	expired := sign(edKey, expiredClaims)
	revoked := func(context.Context, *Claims) error { return fmt.Errorf("sid gone: %w", ErrSessionRevoked) }
	down := func(context.Context, *Claims) error { return errors.New("redis: connection refused") }

	const (
		realm        = `Bearer realm="api"`
		invalidToken = `Bearer realm="api", error="invalid_token", error_description=`
		invalidReq   = `Bearer realm="api", error="invalid_request", error_description=`
	)
	tests := []struct {
		name       string
		opts       []Option
		optional   bool     // Optional instead of Handler
		scope      []string // wrap with RequireScope
		req        []func(*http.Request)
		status     int
		challenge  string
		retryAfter string
		body       string
	}{
		{name: "valid", req: a(bearer(good)), status: 200, body: "hello alice"},
		{name: "lower-case bearer", req: a(header("bearer " + good)), status: 200, body: "hello alice"},
		{name: "upper-case BEARER, extra spaces", req: a(header("BEARER   " + good + " ")), status: 200, body: "hello alice"},
		{name: "missing", status: 401, challenge: realm,
			body: body("unauthorized", "an access token is required")},
		{name: "Basic scheme is no token", req: a(header("Basic YWxpY2U6cHc=")), status: 401, challenge: realm,
			body: body("unauthorized", "an access token is required")},
		{name: "empty header is no token", req: a(header("")), status: 401, challenge: realm,
			body: body("unauthorized", "an access token is required")},
		{name: "query string is never read", req: a(func(r *http.Request) { r.URL.RawQuery = "access_token=" + good }),
			status: 401, challenge: realm, body: body("unauthorized", "an access token is required")},
		{name: "expired", req: a(bearer(expired)), status: 401,
			challenge: invalidToken + `"the access token expired"`,
			body:      body("invalid_token", "the access token expired")},
		{name: "bad signature", req: a(bearer(good[:len(good)-4] + "AAAA")), status: 401,
			challenge: invalidToken + `"the access token is invalid"`,
			body:      body("invalid_token", "the access token is invalid")},
		{name: "malformed", req: a(bearer("not-a-jwt")), status: 401,
			challenge: invalidToken + `"the access token is malformed"`,
			body:      body("invalid_token", "the access token is malformed")},
		{name: "too large", req: a(bearer(strings.Repeat("a", maxTokenLength+1))), status: 401,
			challenge: invalidToken + `"the access token is too large"`,
			body:      body("invalid_token", "the access token is too large")},
		{name: "two Authorization headers", req: a(header("Bearer "+good), addHeader("Bearer "+good)), status: 400,
			challenge: invalidReq + `"more than one Authorization header"`,
			body:      body("invalid_request", "more than one Authorization header")},
		{name: "Bearer without token", req: a(header("Bearer")), status: 400,
			challenge: invalidReq + `"the Bearer scheme has no token"`,
			body:      body("invalid_request", "the Bearer scheme has no token")},
		{name: "Bearer and spaces", req: a(header("Bearer    ")), status: 400,
			challenge: invalidReq + `"the Bearer scheme has no token"`,
			body:      body("invalid_request", "the Bearer scheme has no token")},
		{name: "two tokens in one header", req: a(header("Bearer " + good + ", Bearer " + good)), status: 400,
			challenge: invalidReq + `"the Authorization header is malformed"`,
			body:      body("invalid_request", "the Authorization header is malformed")},
		{name: "cookie not read unless configured", req: a(cookie("at", good)), status: 401, challenge: realm,
			body: body("unauthorized", "an access token is required")},
		{name: "cookie", opts: a(WithCookie("at")), req: a(cookie("at", good)), status: 200, body: "hello alice"},
		{name: "empty cookie is no token", opts: a(WithCookie("at")), req: a(cookie("at", "")), status: 401, challenge: realm,
			body: body("unauthorized", "an access token is required")},
		{name: "header and cookie", opts: a(WithCookie("at")), req: a(bearer(good), cookie("at", good)), status: 400,
			challenge: invalidReq + `"an access token in both the Authorization header and a cookie"`,
			body:      body("invalid_request", "an access token in both the Authorization header and a cookie")},
		{name: "repeated cookie", opts: a(WithCookie("at")), req: a(cookie("at", good), cookie("at", good)), status: 400,
			challenge: invalidReq + `"the access token cookie is malformed or repeated"`,
			body:      body("invalid_request", "the access token cookie is malformed or repeated")},
		{name: "cookie with bad characters", opts: a(WithCookie("at")), req: a(func(r *http.Request) { r.Header.Set("Cookie", "at=a,b") }),
			status: 400, challenge: invalidReq + `"the access token cookie is malformed or repeated"`,
			body: body("invalid_request", "the access token cookie is malformed or repeated")},
		{name: "optional, no token", optional: true, status: 200, body: "anonymous"},
		{name: "optional, valid token", optional: true, req: a(bearer(good)), status: 200, body: "hello alice"},
		{name: "optional, expired token still refused", optional: true, req: a(bearer(expired)), status: 401,
			challenge: invalidToken + `"the access token expired"`,
			body:      body("invalid_token", "the access token expired")},
		{name: "optional, malformed request still refused", optional: true, req: a(header("Bearer")), status: 400,
			challenge: invalidReq + `"the Bearer scheme has no token"`,
			body:      body("invalid_request", "the Bearer scheme has no token")},
		{name: "session revoked", opts: a(WithSessionCheck(revoked, 0)), req: a(bearer(good)), status: 401,
			challenge: invalidToken + `"the session of the access token has ended"`,
			body:      body("invalid_token", "the session of the access token has ended")},
		{name: "session check down", opts: a(WithSessionCheck(down, 3*time.Second)), req: a(bearer(good)), status: 503,
			retryAfter: "3", body: body("temporarily_unavailable", "the session could not be checked; retry later")},
		{name: "session check ok", opts: a(WithSessionCheck(func(context.Context, *Claims) error { return nil }, 0)),
			req: a(bearer(good)), status: 200, body: "hello alice"},
		{name: "scope granted", scope: a("read"), req: a(bearer(good)), status: 200, body: "hello alice"},
		{name: "scope missing", scope: a("read", "admin"), req: a(bearer(good)), status: 403,
			challenge: `Bearer realm="api", error="insufficient_scope", error_description="the access token lacks a required scope", scope="read admin"`,
			body:      body("insufficient_scope", "the access token lacks a required scope")},
		{name: "scope on an anonymous request", optional: true, scope: a("read"), status: 401, challenge: realm,
			body: body("unauthorized", "an access token is required")},
		{name: "realm escaped", opts: a(WithRealm(`my "api" \ v2`)), status: 401, challenge: `Bearer realm="my \"api\" \\ v2"`,
			body: body("unauthorized", "an access token is required")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMW(t, set, nil, tt.opts...)
			var h http.Handler = okHandler
			if tt.scope != nil {
				h = m.RequireScope(tt.scope...)(h)
			}
			wrap := m.Handler
			if tt.optional {
				wrap = m.Optional
			}
			w := serve(wrap(h), tt.req...)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Values("WWW-Authenticate"); tt.challenge == "" && len(got) != 0 ||
				tt.challenge != "" && (len(got) != 1 || got[0] != tt.challenge) {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if got := w.Body.String(); got != tt.body {
				t.Errorf("body %s, want %s", got, tt.body)
			}
			if tt.status != 200 && w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", w.Header().Get("Content-Type"))
			}
		})
	}
}

func a[T any](v ...T) []T { return v }

func header(v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", v) }
}

func addHeader(v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Add("Authorization", v) }
}

func cookie(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: name, Value: value}) }
}
