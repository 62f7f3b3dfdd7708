package jwtrefresh_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
)

func TestNewServiceRefusesBadConfig(t *testing.T) {
	be := newEnv(t, envConfig{}) // for a working store
	store := be.store
	set := hsKeys(t)
	secrets := newSecrets(t)
	pub, _ := must(keys.NewEdDSA("ed", ed25519.NewKeyFromSeed(make([]byte, 32)))).Public()
	for _, tc := range []struct {
		name    string
		store   session.Store
		secrets *session.Secrets
		set     *keys.Set
		issuer  string
		opts    []jwtrefresh.Option
	}{
		{"NilStore", nil, secrets, set, testIssuer, nil},
		{"TypedNilStore", (*countingStore)(nil), secrets, set, testIssuer, nil},
		{"NilOption", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithRetryAfter(time.Second), nil}},
		{"NilSecrets", store, nil, set, testIssuer, nil},
		{"ZeroSecrets", store, new(session.Secrets), set, testIssuer, nil},
		{"NilKeys", store, secrets, nil, testIssuer, nil},
		{"EmptyKeys", store, secrets, new(keys.Set), testIssuer, nil},
		{"PublicKeyOnly", store, secrets, must(keys.NewSet(pub)), testIssuer, nil},
		{"EmptyIssuer", store, secrets, set, "", nil},
		{"NoAudience", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithAudience()}},
		{"EmptyAudience", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithAudience("api", "")}},
		{"TTLZero", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithAccessTokenTTL(0)}},
		{"TTLFraction", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithAccessTokenTTL(1500 * time.Millisecond)}},
		{"NegativeSkew", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithClockSkew(-time.Second)}},
		{"NilLoader", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithClaimsLoader(nil)}},
		{"RetryAfterZero", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithRetryAfter(0)}},
		{"TinyBody", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithMaxBodySize(100)}},
		{"CacheSizeZero", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithSessionCache(time.Second, 0)}},
		{"CacheNegativeTTL", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithSessionCache(-time.Second, 10)}},
		{"NilClock", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithClock(nil)}},
		{"NilLogger", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithLogger(nil)}},
		{"NilEvents", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithEvents(nil)}},
		{"CookieNoPath", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithRefreshCookie(jwtrefresh.RefreshCookie{
			AllowedOrigins: []string{"https://app.example"}})}},
		{"CookieRelativePath", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithRefreshCookie(jwtrefresh.RefreshCookie{
			Path: "auth", AllowedOrigins: []string{"https://app.example"}})}},
		{"CookieBadName", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithRefreshCookie(jwtrefresh.RefreshCookie{
			Name: "a b", Path: "/auth", AllowedOrigins: []string{"https://app.example"}})}},
		{"CookieNoOrigins", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithRefreshCookie(jwtrefresh.RefreshCookie{
			Path: "/auth"})}},
		{"CookieOriginWithPath", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithRefreshCookie(jwtrefresh.RefreshCookie{
			Path: "/auth", AllowedOrigins: []string{"https://app.example/app"}})}},
		{"CookieOriginScheme", store, secrets, set, testIssuer, []jwtrefresh.Option{jwtrefresh.WithRefreshCookie(jwtrefresh.RefreshCookie{
			Path: "/auth", AllowedOrigins: []string{"ftp://app.example"}})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := jwtrefresh.NewService(tc.store, tc.secrets, tc.set, tc.issuer, tc.opts...)
			if !errors.Is(err, jwtrefresh.ErrInvalidConfig) || svc != nil {
				t.Fatalf("NewService: (%v, %v), want ErrInvalidConfig", svc, err)
			}
		})
	}
}

// signingKeys returns one key set per algorithm.
func signingKeys(t testing.TB) map[string]*keys.Set {
	t.Helper()
	rsaKey := must(rsa.GenerateKey(randReader{}, 2048))
	return map[string]*keys.Set{
		keys.HS256: must(keys.NewSet(must(keys.NewHS256("hs", randomBytes(32))))),
		keys.EdDSA: must(keys.NewSet(must(keys.NewEdDSA("ed", ed25519.NewKeyFromSeed(randomBytes(32)))))),
		keys.ES256: must(keys.NewSet(must(keys.NewES256("es", must(ecdsa.GenerateKey(elliptic.P256(), randReader{})))))),
		keys.RS256: must(keys.NewSet(must(keys.NewRS256("rs", rsaKey)))),
	}
}

type randReader struct{}

func (randReader) Read(p []byte) (int, error) { copy(p, randomBytes(len(p))); return len(p), nil }

// appClaims is what an application reads from its tokens.
type appClaims struct {
	middleware.Claims
	Role string `json:"role"`
}

// TestAccessTokenEndToEnd: the middleware accepts exactly what the service
// issues, for every algorithm, with every claim DESIGN.md lists; a resource
// server elsewhere verifies with the public keys from the JWKS endpoint.
func TestAccessTokenEndToEnd(t *testing.T) {
	for alg, set := range signingKeys(t) {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, envConfig{keys: set, svcOpts: []jwtrefresh.Option{jwtrefresh.WithAudience("api", "admin")}})
			now := e.clock.Now()
			tr, err := e.svc.Login(t.Context(), session.NewSession{Subject: "alice", Claims: json.RawMessage(`{"role":"admin","scope":"read write"}`)})
			if err != nil {
				t.Fatal(err)
			}

			// A resource server in another process: public keys only.
			verifyKeys := set
			if alg != keys.HS256 {
				r := do(t, e.request(t, http.MethodGet, "/auth/jwks.json", "", ""))
				if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/jwk-set+json" {
					t.Fatalf("JWKS: %d %s", r.status, r.header)
				}
				pub := must(keys.ParseJWKS([]byte(r.body)))
				verifyKeys = must(keys.NewSet(pub...))
			}
			rs := must(middleware.New(verifyKeys, mwClock(e.clock.Now),
				middleware.WithIssuer(testIssuer), middleware.WithAudience("api"),
				middleware.WithTokenType(jwtrefresh.AccessTokenType)))
			own := must(e.svc.Middleware(mwClock(e.clock.Now)))
			for name, m := range map[string]*middleware.Middleware{"resource server": rs, "svc.Middleware": own} {
				c, err := m.Verify(t.Context(), tr.AccessToken)
				if err != nil {
					t.Fatalf("%s refuses the access token: %v", name, err)
				}
				if c.Subject != "alice" || c.SessionID != tr.SessionID || c.Issuer != testIssuer ||
					strings.Join(c.Audience, ",") != "api,admin" || !c.HasScope("write") || len(c.ID) < 16 {
					t.Fatalf("%s: claims %+v", name, c)
				}
				wantFrom := now.Add(-jwtrefresh.DefaultClockSkew).Unix()
				if c.IssuedAt.Unix() != wantFrom || c.NotBefore.Unix() != wantFrom {
					t.Fatalf("iat %v nbf %v, want %d", c.IssuedAt, c.NotBefore, wantFrom)
				}
				if exp := c.ExpiresAt.Time; exp.Before(now.Add(5*time.Minute)) || exp.After(now.Add(5*time.Minute+time.Second)) {
					t.Fatalf("exp %v, want now+5m rounded up", exp)
				}
				if !tr.Expiry.Equal(c.ExpiresAt.Time) || tr.ExpiresIn != 300 {
					t.Fatalf("response expiry %v / %d vs exp %v", tr.Expiry, tr.ExpiresIn, c.ExpiresAt)
				}
			}

			// The header: alg from the key, its kid, typ at+jwt.
			hb, _ := base64.RawURLEncoding.DecodeString(strings.Split(tr.AccessToken, ".")[0])
			var h map[string]string
			_ = json.Unmarshal(hb, &h)
			if h["alg"] != alg || h["kid"] != set.Current().KID() || h["typ"] != "at+jwt" || len(h) != 3 {
				t.Fatalf("header %v", h)
			}

			// The application's claims, through ClaimsAs on a real request.
			var got appClaims
			handler := own.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, err = middleware.ClaimsAs[appClaims](r.Context())
			}))
			req := e.request(t, http.MethodGet, "/", "", "", "Authorization", "Bearer "+tr.AccessToken)
			handler.ServeHTTP(nopWriter{}, req)
			if err != nil || got.Role != "admin" || got.Subject != "alice" {
				t.Fatalf("ClaimsAs: %+v, %v", got, err)
			}

			// A refresh issues another token with a new jti, same claims.
			tr2, err := e.svc.Refresh(t.Context(), tr.RefreshToken, "", "")
			if err != nil {
				t.Fatal(err)
			}
			c1, _ := rs.Verify(t.Context(), tr.AccessToken)
			c2, err := rs.Verify(t.Context(), tr2.AccessToken)
			if err != nil || c2.ID == c1.ID || c2.SessionID != c1.SessionID || !c2.HasScope("read") {
				t.Fatalf("refreshed token: %+v, %v", c2, err)
			}
		})
	}
}

type nopWriter struct{}

func (nopWriter) Header() http.Header         { return http.Header{} }
func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriter) WriteHeader(int)             {}

// TestClockSkew: a resource server whose clock lags the issuer's accepts a
// fresh token thanks to the backdated nbf/iat, and refuses it without. The
// middleware's own tolerance (the future leeway of middleware.WithLeeway) is turned off so
// that only the backdating is measured.
func TestClockSkew(t *testing.T) {
	for _, tc := range []struct {
		name   string
		skew   time.Duration
		behind time.Duration
		ok     bool
	}{
		{"DefaultSkew5sBehind", jwtrefresh.DefaultClockSkew, 5 * time.Second, true},
		{"DefaultSkew9sBehind", jwtrefresh.DefaultClockSkew, 9 * time.Second, true},
		{"DefaultSkew12sBehind", jwtrefresh.DefaultClockSkew, 12 * time.Second, false},
		{"NoSkew2sBehind", 0, 2 * time.Second, false},
		{"NoSkewSameClock", 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{svcOpts: []jwtrefresh.Option{jwtrefresh.WithClockSkew(tc.skew)}})
			tr := must(e.svc.Login(t.Context(), session.NewSession{Subject: "alice"}))
			lagging := func() time.Time { return e.clock.Now().Add(-tc.behind) }
			rs := must(e.svc.Middleware(mwClock(lagging), middleware.WithLeeway(0, 0)))
			_, err := rs.Verify(t.Context(), tr.AccessToken)
			if tc.ok != (err == nil) {
				t.Fatalf("Verify on a clock %v behind: %v, want ok=%v", tc.behind, err, tc.ok)
			}
		})
	}
}

func TestLoginRefusesClaims(t *testing.T) {
	e := newEnv(t, envConfig{})
	for _, claims := range []string{
		`{"sub":"mallory"}`, `{"role":"x","sid":"x"}`, `{"exp":1}`, `{"iss":"x"}`, `{"aud":"x"}`,
		`{"nbf":1}`, `{"iat":1}`, `{"jti":"x"}`, `{"role":"a","role":"b"}`, `[]`, `"x"`, `{"a":`,
	} {
		t.Run(claims, func(t *testing.T) {
			_, err := e.svc.Login(t.Context(), session.NewSession{Subject: "alice", Claims: json.RawMessage(claims)})
			if !errors.Is(err, session.ErrInvalidInput) {
				t.Fatalf("Login: %v, want ErrInvalidInput", err)
			}
		})
	}
	if sessions := must(e.svc.Sessions(t.Context(), "alice")); len(sessions) != 0 {
		t.Fatalf("refused logins left %d sessions", len(sessions))
	}
	// Empty and whitespace-only objects are fine.
	for _, claims := range []string{``, `{}`, ` { } `, `{"nested":{"sub":"x"}}`} {
		if _, err := e.svc.Login(t.Context(), session.NewSession{Subject: "alice", Claims: json.RawMessage(claims)}); err != nil {
			t.Fatalf("claims %q: %v", claims, err)
		}
	}
}

// loader is a ClaimsLoader whose answer a test sets.
type loader struct {
	claims   json.RawMessage
	err      error
	snapshot json.RawMessage // what the last call got
	calls    int
}

func (l *loader) load(_ context.Context, subject, sessionID string, snapshot json.RawMessage) (json.RawMessage, error) {
	l.calls++
	l.snapshot = snapshot
	return l.claims, l.err
}

func TestClaimsLoader(t *testing.T) {
	l := new(loader)
	e := newEnv(t, envConfig{svcOpts: []jwtrefresh.Option{jwtrefresh.WithClaimsLoader(l.load)}})
	rs := must(e.svc.Middleware(mwClock(e.clock.Now)))
	role := func(at string) string {
		t.Helper()
		var c appClaims
		h := rs.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c = must(middleware.ClaimsAs[appClaims](r.Context()))
		}))
		h.ServeHTTP(nopWriter{}, e.request(t, http.MethodGet, "/", "", "", "Authorization", "Bearer "+at))
		return c.Role
	}
	login := func() *jwtrefresh.TokenResponse {
		return must(e.svc.Login(t.Context(), session.NewSession{Subject: "alice", Claims: json.RawMessage(`{"role":"user"}`)}))
	}

	t.Run("Reload", func(t *testing.T) {
		tr := login()
		if role(tr.AccessToken) != "user" || l.calls != 0 {
			t.Fatalf("login: role %q, loader called %d times", role(tr.AccessToken), l.calls)
		}
		l.claims, l.err = json.RawMessage(`{"role":"admin"}`), nil
		r := e.refresh(t, tr.RefreshToken)
		if r.status != 200 || role(r.token(t).AccessToken) != "admin" || string(l.snapshot) != `{"role":"user"}` {
			t.Fatalf("refresh: %d, role %q, snapshot %s", r.status, role(r.token(t).AccessToken), l.snapshot)
		}
		l.claims = nil // none at all is fine too
		if r := e.refresh(t, r.token(t).RefreshToken); r.status != 200 || role(r.token(t).AccessToken) != "" {
			t.Fatalf("refresh without claims: %d %s", r.status, r.body)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		tr := login()
		if r := e.me(t, tr.AccessToken); r.status != 200 {
			t.Fatalf("/api/me before: %d", r.status)
		}
		l.claims, l.err = nil, fmt.Errorf("user disabled: %w", jwtrefresh.ErrSubjectRefused)
		wantError(t, e.refresh(t, tr.RefreshToken), 400, "invalid_grant")
		if ok := e.storeActive(t, "alice", tr.SessionID); ok {
			t.Fatal("the refused session is still active")
		}
		// The access token of the revoked session stops working at once.
		if r := e.me(t, tr.AccessToken); r.status != 401 {
			t.Fatalf("/api/me after: %d %s", r.status, r.body)
		}
	})
	t.Run("Unavailable", func(t *testing.T) {
		tr := login()
		l.claims, l.err = nil, errors.New("user database down")
		// Over HTTP, without an Idempotency-Key (as golang.org/x/oauth2
		// refreshes): 503, and the token is not used up.
		r := e.refresh(t, tr.RefreshToken)
		wantError(t, r, 503, "temporarily_unavailable")
		if r.header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		if d := r.token(t).Description; !strings.Contains(d, "claims") || strings.Contains(d, "database") {
			t.Fatalf("description %q: want it to name the claims, not the loader's error", d)
		}
		// Through the Go API: the loader's failure, not the store's.
		_, err := e.svc.Refresh(t.Context(), tr.RefreshToken, "", "")
		if !errors.Is(err, jwtrefresh.ErrClaimsUnavailable) || errors.Is(err, session.ErrUnavailable) ||
			strings.Contains(err.Error(), "store") {
			t.Fatalf("error %q: want ErrClaimsUnavailable, not ErrUnavailable", err)
		}
		if ss := must(e.svc.Sessions(t.Context(), "alice")); generation(ss, tr.SessionID) != 1 {
			t.Fatalf("generation %d after failed loads, want 1: nothing used up", generation(ss, tr.SessionID))
		}
		// The retry, still without a key, refreshes normally.
		l.claims, l.err = json.RawMessage(`{"role":"admin"}`), nil
		r = e.refresh(t, tr.RefreshToken)
		if r.status != 200 || role(r.token(t).AccessToken) != "admin" {
			t.Fatalf("retry: %d %s", r.status, r.body)
		}
		if r := e.refresh(t, r.token(t).RefreshToken); r.status != 200 {
			t.Fatalf("next refresh: %d %s", r.status, r.body)
		}
		if r := e.me(t, tr.AccessToken); r.status != 200 {
			t.Fatalf("the session after a loader outage: %d", r.status)
		}
	})
	t.Run("NotCalledForInvalidTokens", func(t *testing.T) {
		tr, revoked := login(), login()
		if err := e.svc.Revoke(t.Context(), revoked.RefreshToken); err != nil {
			t.Fatal(err)
		}
		l.claims, l.err, l.calls = nil, nil, 0
		for _, rt := range []string{"garbage", tr.RefreshToken[:len(tr.RefreshToken)-2] + "AA", revoked.RefreshToken} {
			wantError(t, e.refresh(t, rt), 400, "invalid_grant")
		}
		if l.calls != 0 {
			t.Fatalf("loader called %d times for forged or revoked tokens", l.calls)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := e.svc.Refresh(ctx, tr.RefreshToken, "", ""); !errors.Is(err, session.ErrUnavailable) || l.calls != 0 {
			t.Fatalf("store unreachable: %v, loader called %d times", err, l.calls)
		}
	})
	t.Run("ReservedClaims", func(t *testing.T) {
		tr := login()
		for _, bad := range []string{`{"sub":"mallory"}`, `[1]`, `{"a":1,"a":2}`, "{\"name\":\"Zo\xe9\"}"} {
			l.claims, l.err = json.RawMessage(bad), nil
			wantError(t, e.refresh(t, tr.RefreshToken), 500, "server_error")
		}
		// Nothing was used up by the refusals.
		l.claims = nil
		if r := e.refresh(t, tr.RefreshToken); r.status != 200 {
			t.Fatalf("refresh after the loader's bad claims: %d %s", r.status, r.body)
		}
	})
}

// generation returns the generation of session sid in ss (0 if absent).
func generation(ss []session.Info, sid string) uint64 {
	for _, s := range ss {
		if s.ID == sid {
			return s.Generation
		}
	}
	return 0
}

// TestServiceErrors: the Go API reports the store's sentinels.
func TestServiceErrors(t *testing.T) {
	e := newEnv(t, envConfig{storeOpts: []redisstore.Option{redisstore.WithReusePolicy(session.RevokeFamily)}})
	tr := must(e.svc.Login(t.Context(), session.NewSession{Subject: "alice"}))
	if _, err := e.svc.Refresh(t.Context(), "garbage", "", ""); !errors.Is(err, session.ErrInvalidToken) {
		t.Fatalf("garbage: %v", err)
	}
	tr2 := must(e.svc.Refresh(t.Context(), tr.RefreshToken, "idempotency-key-k", ""))
	again := must(e.svc.Refresh(t.Context(), tr.RefreshToken, "idempotency-key-k", ""))
	if !again.Replayed || again.RefreshToken != tr2.RefreshToken || again.AccessToken == tr2.AccessToken {
		t.Fatalf("idempotent retry: replayed %v, same RT %v, same AT %v", again.Replayed,
			again.RefreshToken == tr2.RefreshToken, again.AccessToken == tr2.AccessToken)
	}
	must(e.svc.Refresh(t.Context(), tr2.RefreshToken, "", ""))
	_, err := e.svc.Refresh(t.Context(), tr.RefreshToken, "", "")
	var re *jwtrefresh.ReuseError
	if !errors.Is(err, jwtrefresh.ErrReuseDetected) || !errors.As(err, &re) ||
		*re != (jwtrefresh.ReuseError{Subject: "alice", SessionID: tr.SessionID, Policy: session.RevokeFamily, Revoked: 1}) {
		t.Fatalf("reuse: %v", err)
	}
	if err := e.svc.RevokeSession(t.Context(), "alice", tr.SessionID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("revoking a revoked session: %v", err)
	}
	if _, err := e.svc.Login(t.Context(), session.NewSession{}); !errors.Is(err, session.ErrInvalidInput) {
		t.Fatalf("empty subject: %v", err)
	}
	// Invalid UTF-8 at login, over HTTP: 400 invalid_request, no session.
	for _, tc := range []struct{ subject, body string }{
		{"zo\xeb", "user=zo%EB"},
		{"zoe", "user=zoe&claims=" + url.QueryEscape("{\"name\":\"Zo\xeb\"}")},
	} {
		wantError(t, do(t, e.request(t, http.MethodPost, "/login", formType, tc.body)), 400, "invalid_request")
		if n := len(must(e.svc.Sessions(t.Context(), tc.subject))); n != 0 {
			t.Fatalf("%q: %d sessions after a refused login", tc.body, n)
		}
	}
	if _, err := e.svc.RevokeAll(t.Context(), ""); !errors.Is(err, session.ErrInvalidInput) {
		t.Fatalf("RevokeAll(\"\"): %v", err)
	}
}
