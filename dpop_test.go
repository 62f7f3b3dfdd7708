package jwtrefresh_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/dpop"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// dpopEnv is a token service with DPoP on real Redis behind a real HTTP
// server: the endpoints under /auth/, a /login that binds to the proof's
// key, and /api/me behind a DPoP-allowing middleware.
type dpopEnv struct {
	svc    *jwtrefresh.Service
	store  session.Store
	srv    *httptest.Server
	clock  *clock
	mu     sync.Mutex
	events []jwtrefresh.EventKind
}

func newDPoPEnv(t *testing.T, nonceKey []byte) *dpopEnv {
	t.Helper()
	be := redistest.NewStandalone(t)
	e := &dpopEnv{clock: newClock(), srv: httptest.NewUnstartedServer(nil)}
	base := "http://" + e.srv.Listener.Addr().String()
	e.store = must(redisstore.New(be.Client, redisstore.WithKeyPrefix(be.Prefix(t))))
	e.svc = must(jwtrefresh.NewService(e.store, newSecrets(t), hsKeys(t), testIssuer,
		jwtrefresh.WithClock(e.clock.Now), jwtrefresh.WithDPoP(base, nonceKey),
		jwtrefresh.WithEvents(func(_ context.Context, ev jwtrefresh.Event) {
			e.mu.Lock()
			e.events = append(e.events, ev.Kind)
			e.mu.Unlock()
		})))
	t.Cleanup(func() { e.svc.Close() })
	api := must(e.svc.Middleware(mwClock(e.clock.Now), middleware.WithSessionCheck(e.svc.SessionCheck(), 0),
		middleware.WithDPoP(middleware.DPoP{BaseURL: base, NonceKey: nonceKey})))
	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", e.svc.Handler()))
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		jkt, err := e.svc.DPoPThumbprint(r)
		if err == nil {
			var tr *jwtrefresh.TokenResponse
			if tr, err = e.svc.Login(r.Context(), session.NewSession{Subject: "alice", KeyThumbprint: jkt}); err == nil {
				e.svc.WriteTokenResponse(w, r, tr)
				return
			}
		}
		e.svc.WriteError(w, r, err)
	})
	mux.Handle("GET /api/me", api.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFrom(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]any{"sub": c.Subject, "bound": c.KeyThumbprint != ""})
	})))
	e.srv.Config.Handler = mux
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

func (e *dpopEnv) kinds() []jwtrefresh.EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]jwtrefresh.EventKind(nil), e.events...)
}

func dpopKey(t testing.TB) crypto.Signer {
	return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
}

// post sends a form to path with the DPoP headers proofs.
func (e *dpopEnv) post(t *testing.T, path string, form url.Values, proofs ...string) reply {
	t.Helper()
	req := must(http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode())))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return do(t, req)
}

// proof signs a proof by key for method and path of the server.
func (e *dpopEnv) proof(t testing.TB, key crypto.Signer, method, path, accessToken, nonce string) string {
	t.Helper()
	return must(dpop.NewProof(key, dpop.Claims{Method: method, URL: e.srv.URL + path, AccessToken: accessToken,
		IssuedAt: e.clock.Now(), Nonce: nonce}))
}

func (e *dpopEnv) loginBound(t *testing.T, key crypto.Signer) tokenJSON {
	t.Helper()
	r := e.post(t, "/login", nil, e.proof(t, key, "POST", "/login", "", ""))
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	return r.token(t)
}

func (e *dpopEnv) refresh(t *testing.T, rt string, proofs ...string) reply {
	t.Helper()
	return e.post(t, "/auth/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, proofs...)
}

func (e *dpopEnv) me(t *testing.T, scheme, at string, proofs ...string) reply {
	t.Helper()
	req := must(http.NewRequest(http.MethodGet, e.srv.URL+"/api/me", nil))
	req.Header.Set("Authorization", scheme+" "+at)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return do(t, req)
}

// jktOf returns the cnf.jkt of an access token ("" for none), unverified.
func jktOf(t testing.TB, at string) string {
	t.Helper()
	var c struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	_ = json.Unmarshal(must(base64.RawURLEncoding.DecodeString(strings.Split(at, ".")[1])), &c)
	return c.Cnf.JKT
}

// TestDPoPBoundSession: a login with a proof binds the session: its access
// tokens carry cnf.jkt and token_type DPoP, refreshes with the key's proofs
// rotate, and the API accepts the token with a proof only.
func TestDPoPBoundSession(t *testing.T) {
	e := newDPoPEnv(t, nil)
	key := dpopKey(t)
	jkt := must(dpop.Thumbprint(key.Public()))
	tj := e.loginBound(t, key)
	if tj.TokenType != "DPoP" || jktOf(t, tj.AccessToken) != jkt {
		t.Fatalf("login: token_type %q, cnf.jkt %q, want DPoP bound to %s", tj.TokenType, jktOf(t, tj.AccessToken), jkt)
	}
	if r := e.me(t, "DPoP", tj.AccessToken, e.proof(t, key, "GET", "/api/me", tj.AccessToken, "")); r.status != 200 || !strings.Contains(r.body, `"bound":true`) {
		t.Fatalf("API with a proof: %d %s", r.status, r.body)
	}
	wantError(t, jsonReply(e.me(t, "Bearer", tj.AccessToken)), 401, "invalid_token")
	r := e.refresh(t, tj.RefreshToken, e.proof(t, key, "POST", "/auth/refresh", "", ""))
	next := r.token(t)
	if r.status != 200 || next.TokenType != "DPoP" || jktOf(t, next.AccessToken) != jkt {
		t.Fatalf("refresh with the key: %d %s", r.status, r.body)
	}
	req := must(http.NewRequest(http.MethodGet, e.srv.URL+"/auth/sessions", nil))
	req.Header.Set("Authorization", "DPoP "+next.AccessToken)
	req.Header.Set("DPoP", e.proof(t, key, "GET", "/auth/sessions", next.AccessToken, ""))
	if r := do(t, req); r.status != 200 {
		t.Fatalf("the service's session list with a bound token: %d %s", r.status, r.body)
	}
}

// jsonReply is r with the Cache-Control wantError expects of the token
// endpoint, for a middleware answer.
func jsonReply(r reply) reply {
	r.header = r.header.Clone()
	r.header.Set("Cache-Control", "no-store")
	r.header.Set("Pragma", "no-cache")
	return r
}

// TestDPoPRefreshRefused: a bound session's refresh without a proof, with
// one by another key, or with a bad one is refused and spends nothing:
// also for a used token, which is then not reuse (no session revoked).
func TestDPoPRefreshRefused(t *testing.T) {
	e := newDPoPEnv(t, nil)
	key, thief := dpopKey(t), dpopKey(t)
	other := e.post(t, "/login", nil).token(t) // an unbound session of the same user
	tj := e.loginBound(t, key)
	refused := []struct {
		name   string
		proofs []string
		code   string
	}{
		{"no proof", nil, "invalid_grant"},
		{"another key", []string{e.proof(t, thief, "POST", "/auth/refresh", "", "")}, "invalid_grant"},
		{"proof for another URL", []string{e.proof(t, key, "POST", "/login", "", "")}, "invalid_dpop_proof"},
		{"two proofs", []string{e.proof(t, key, "POST", "/auth/refresh", "", ""), e.proof(t, key, "POST", "/auth/refresh", "", "")}, "invalid_dpop_proof"},
		{"oversized proof", []string{e.proof(t, key, "POST", "/auth/refresh", "", "") + strings.Repeat("A", dpop.MaxLength)}, "invalid_dpop_proof"},
	}
	for _, c := range refused {
		wantError(t, e.refresh(t, tj.RefreshToken, c.proofs...), 400, c.code)
	}
	// Nothing was spent: the token rotates with the key.
	r := e.refresh(t, tj.RefreshToken, e.proof(t, key, "POST", "/auth/refresh", "", ""))
	if r.status != 200 || r.token(t).TokenType != "DPoP" {
		t.Fatalf("after the refusals: %d %s", r.status, r.body)
	}
	cur := r.token(t)
	// The used token without the key is refused, not reuse.
	for _, c := range refused[:2] {
		wantError(t, e.refresh(t, tj.RefreshToken, c.proofs...), 400, "invalid_grant")
	}
	for _, k := range e.kinds() {
		if k == jwtrefresh.EventReuseDetected {
			t.Fatal("a used token without the key counted as reuse")
		}
	}
	if r := e.refresh(t, other.RefreshToken); r.status != 200 {
		t.Fatalf("the other session after the refusals: %d %s", r.status, r.body)
	}
	if r := e.refresh(t, cur.RefreshToken, e.proof(t, key, "POST", "/auth/refresh", "", "")); r.status != 200 {
		t.Fatalf("the current token after the refusals: %d %s", r.status, r.body)
	}
	n := 0
	for _, k := range e.kinds() {
		if k == jwtrefresh.EventDPoPRefused {
			n++
		}
	}
	if n != len(refused)+2 {
		t.Fatalf("%d dpop_refused events, want %d: %v", n, len(refused)+2, e.kinds())
	}
}

// TestDPoPUnboundIgnoresProof: a proof on an unbound session's refresh is
// ignored: the session stays unbound (Bearer), and refreshes without one.
func TestDPoPUnboundIgnoresProof(t *testing.T) {
	e := newDPoPEnv(t, nil)
	key := dpopKey(t)
	tj := e.post(t, "/login", nil).token(t)
	if tj.TokenType != "Bearer" {
		t.Fatalf("login without a proof: token_type %q", tj.TokenType)
	}
	r := e.refresh(t, tj.RefreshToken, e.proof(t, key, "POST", "/auth/refresh", "", ""))
	next := r.token(t)
	if r.status != 200 || next.TokenType != "Bearer" || jktOf(t, next.AccessToken) != "" {
		t.Fatalf("refresh with a proof: %d %s", r.status, r.body)
	}
	if r := e.refresh(t, next.RefreshToken); r.status != 200 {
		t.Fatalf("then without: %d %s", r.status, r.body)
	}
	if r := e.me(t, "Bearer", next.AccessToken); r.status != 200 || !strings.Contains(r.body, `"bound":false`) {
		t.Fatalf("API: %d %s", r.status, r.body)
	}
}

// TestDPoPLoginErrors: a login answers a bad proof as the token endpoint
// does; a binding without WithDPoP is refused.
func TestDPoPLoginErrors(t *testing.T) {
	e := newDPoPEnv(t, nil)
	key := dpopKey(t)
	wantError(t, e.post(t, "/login", nil, e.proof(t, key, "GET", "/login", "", "")), 400, "invalid_dpop_proof")
	p := e.proof(t, key, "POST", "/login", "", "")
	wantError(t, e.post(t, "/login", nil, p, p), 400, "invalid_dpop_proof")

	svc := must(jwtrefresh.NewService(e.store, newSecrets(t), hsKeys(t), testIssuer))
	t.Cleanup(func() { svc.Close() })
	_, err := svc.Login(context.Background(), session.NewSession{Subject: "alice", KeyThumbprint: must(dpop.Thumbprint(key.Public()))})
	if !errors.Is(err, session.ErrInvalidInput) {
		t.Fatalf("bound login without WithDPoP: %v", err)
	}
	for _, bad := range []string{"", "/relative", "https://auth.example.com/?q"} {
		if s, err := jwtrefresh.NewService(e.store, newSecrets(t), hsKeys(t), testIssuer, jwtrefresh.WithDPoP(bad, nil)); !errors.Is(err, jwtrefresh.ErrInvalidConfig) {
			if s != nil {
				s.Close()
			}
			t.Errorf("WithDPoP(%q): %v", bad, err)
		}
	}
}

// TestDPoPNonces: with server nonces, a proof without the current one is
// answered use_dpop_nonce with DPoP-Nonce and spends nothing; the retry
// with it rotates.
func TestDPoPNonces(t *testing.T) {
	e := newDPoPEnv(t, randomBytes(32))
	key := dpopKey(t)
	r := e.post(t, "/login", nil, e.proof(t, key, "POST", "/login", "", ""))
	wantError(t, r, 400, "use_dpop_nonce")
	nonce := r.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without DPoP-Nonce")
	}
	r = e.post(t, "/login", nil, e.proof(t, key, "POST", "/login", "", nonce))
	tj := r.token(t)
	if r.status != 200 || tj.TokenType != "DPoP" || r.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("login with the nonce: %d %s %v", r.status, r.body, r.header)
	}
	wantError(t, e.refresh(t, tj.RefreshToken, e.proof(t, key, "POST", "/auth/refresh", "", "")), 400, "use_dpop_nonce")
	r = e.refresh(t, tj.RefreshToken, e.proof(t, key, "POST", "/auth/refresh", "", nonce))
	if r.status != 200 {
		t.Fatalf("refresh with the nonce: %d %s", r.status, r.body)
	}
	at := r.token(t).AccessToken
	if r := e.me(t, "DPoP", at, e.proof(t, key, "GET", "/api/me", at, nonce)); r.status != 200 {
		t.Fatalf("API with the nonce: %d %s", r.status, r.body)
	}
}
