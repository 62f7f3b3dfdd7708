package transport

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testClock is a clock that tests move instead of sleeping.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// family is one login's chain of refresh tokens.
type family struct {
	jkt       string // the thumbprint of the DPoP key it is bound to; "" unbound
	current   string // the refresh token that rotates
	parent    string // the one it replaced
	parentKey string // the Idempotency-Key of that rotation
	revoked   bool
}

// serverStats counts what reached the test server.
type serverStats struct {
	RefreshRequests int // POSTs to the token endpoint
	Rotations       int // current token presented: rotated
	Replays         int // same parent, same key: the same child again
	Reuses          int // a used token without its key: family revoked
	Rejected        int // unknown or revoked token
	Unauthorized    int // 401s from the resource server
	AuthOnRefresh   int // refresh requests that carried an Authorization header
}

// authServer is an RFC 6749 token endpoint with rotation semantics like
// jwtrefresh's (one-time use, idempotent replay of the byte-identical child
// under the same Idempotency-Key, reuse detection) and an RFC 6750 resource
// server, sharing one test clock.
type authServer struct {
	*httptest.Server
	t   testing.TB
	now func() time.Time
	ttl time.Duration
	// opaque issues access tokens that are not JWTs and omits expires_in,
	// so a client cannot know when they expire and learns it from a 401.
	opaque bool
	// omitExpiresIn leaves expires_in out of responses; JWTs still carry
	// exp and iat.
	omitExpiresIn bool
	// shape, when set, may change each token response before it is sent.
	shape func(resp map[string]any)

	// Test hooks, set before requests start. beforeRefresh runs before a
	// refresh is processed and may answer it itself (returning true);
	// afterRotate runs after a rotation has been committed and may drop the
	// response (returning true); resource runs before a resource request is
	// authorized.
	beforeRefresh func(w http.ResponseWriter, r *http.Request) bool
	afterRotate   func(w http.ResponseWriter, r *http.Request) bool
	resource      func(w http.ResponseWriter, r *http.Request)

	dpopServer // DPoP: binding, proofs, nonces (see dpopserver_test.go)

	mu       sync.Mutex
	seq      int
	access   map[string]time.Time // guarded by mu: access token → expiry
	families map[string]*family   // guarded by mu: any refresh token ever issued → family
	stats    serverStats          // guarded by mu
	keys     []string             // guarded by mu: Idempotency-Key of each refresh request
	bodies   []string             // guarded by mu: bodies seen by /api/echo
}

func newAuthServer(t testing.TB, now func() time.Time) *authServer {
	s := &authServer{
		t: t, now: now, ttl: 5 * time.Minute,
		access:   map[string]time.Time{},
		families: map[string]*family{},
	}
	s.boundTo = map[string]string{}
	s.jtis = map[string]bool{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/token", s.handleRefresh)
	mux.HandleFunc("POST /login", s.handleLogin)
	mux.HandleFunc("/api/", s.handleResource)
	s.Server = httptest.NewServer(s.withNonce(mux))
	t.Cleanup(s.Close)
	return s
}

func (s *authServer) tokenURL() string { return s.URL + "/auth/token" }

func (s *authServer) Stats() serverStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *authServer) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

func (s *authServer) Bodies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// login starts a new family and returns its first token response as a Token.
func (s *authServer) login() *Token { return s.loginBound("") }

// loginBound starts a new family bound to the DPoP key of thumbprint jkt
// ("" for none) and returns its first token response as a Token.
func (s *authServer) loginBound(jkt string) *Token {
	body := s.loginBody(jkt)
	var tok Token
	if err := tok.decode(body, s.now(), false); err != nil {
		s.t.Fatal(err)
	}
	return &tok
}

// loginBody starts a new family bound to jkt and returns its first token
// response.
func (s *authServer) loginBody(jkt string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := s.newRefreshToken()
	s.families[rt] = &family{current: rt, jkt: jkt}
	return s.tokenResponse(rt, jkt)
}

// currentRefreshToken returns the current refresh token of rt's family.
func (s *authServer) currentRefreshToken(rt string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.families[rt].current
}

// expireAccess makes every access token issued so far expired.
func (s *authServer) expireAccess() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for at := range s.access {
		s.access[at] = s.now().Add(-time.Second)
	}
}

// revokeAll revokes every family, as a logout-everywhere would.
func (s *authServer) revokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.families {
		f.revoked = true
	}
}

func (s *authServer) newRefreshToken() string {
	s.seq++
	return fmt.Sprintf("rt_%d_%s", s.seq, strings.Repeat("r", 20))
}

// tokenResponse issues a fresh access token with rt, bound to the key of
// thumbprint jkt unless it is ""; s.mu is held.
func (s *authServer) tokenResponse(rt, jkt string) []byte {
	s.seq++
	now := s.now()
	exp := now.Add(s.ttl)
	var at string
	if s.opaque {
		at = fmt.Sprintf("at_%d", s.seq)
	} else {
		enc := base64.RawURLEncoding
		payload, _ := json.Marshal(map[string]any{"sub": "alice", "jti": s.seq, "iat": now.Unix(), "exp": exp.Unix()})
		at = enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString(payload) + ".sig"
	}
	s.access[at] = exp
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "refresh_token": rt}
	if jkt != "" && !s.bearerOnly {
		s.boundTo[at] = jkt
		resp["token_type"] = "DPoP"
	}
	if !s.opaque && !s.omitExpiresIn {
		resp["expires_in"] = int64(s.ttl / time.Second)
	}
	if s.shape != nil {
		s.shape(resp)
	}
	body, _ := json.Marshal(resp)
	return body
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (s *authServer) handleRefresh(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	s.mu.Lock()
	s.stats.RefreshRequests++
	if r.Header.Get("Authorization") != "" {
		s.stats.AuthOnRefresh++
	}
	s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
	s.mu.Unlock()
	if s.beforeRefresh != nil && s.beforeRefresh(w, r) {
		return
	}
	if !s.refreshProof(w, r) {
		return
	}
	if r.PostForm.Get("grant_type") != "refresh_token" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	body, rotated := s.rotate(r.PostForm.Get("refresh_token"), r.Header.Get("Idempotency-Key"))
	if body == nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is invalid")
		return
	}
	if rotated && s.afterRotate != nil && s.afterRotate(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

// rotate redeems rt presented with key: the token response, and whether rt
// rotated; no response for invalid_grant.
func (s *authServer) rotate(rt, key string) (body []byte, rotated bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.families[rt]
	switch {
	case f == nil || f.revoked:
		s.stats.Rejected++
	case rt == f.current:
		s.stats.Rotations++
		child := s.newRefreshToken()
		s.families[child] = f
		f.parent, f.parentKey, f.current = rt, key, child
		return s.tokenResponse(child, f.jkt), true
	case rt == f.parent && key != "" && key == f.parentKey:
		s.stats.Replays++
		return s.tokenResponse(f.current, f.jkt), false
	default:
		s.stats.Reuses++
		f.revoked = true
	}
	return nil, false
}

func (s *authServer) unauthorized(w http.ResponseWriter, challenge string) {
	s.mu.Lock()
	s.stats.Unauthorized++
	s.mu.Unlock()
	w.Header().Set("WWW-Authenticate", challenge)
	oauthError(w, http.StatusUnauthorized, "invalid_token", "")
}

func (s *authServer) handleResource(w http.ResponseWriter, r *http.Request) {
	if s.resource != nil {
		s.resource(w, r)
	}
	if r.URL.Path == "/api/redirect" {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		return
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		s.unauthorized(w, `Bearer realm="api"`)
		return
	}
	at, ok := strings.CutPrefix(auth, "Bearer ")
	challenge := "Bearer"
	if scheme, dat, _ := strings.Cut(auth, " "); scheme == "DPoP" || s.isBound(dat) {
		if at, ok = dat, s.resourceProof(w, r, scheme, dat); !ok {
			return
		}
		challenge = "DPoP"
	}
	s.mu.Lock()
	exp, known := s.access[at]
	s.mu.Unlock()
	switch {
	case !ok || !known:
		s.unauthorized(w, challenge+` realm="api", error="invalid_token", error_description="the access token is invalid"`)
		return
	case !s.now().Before(exp):
		s.unauthorized(w, challenge+` realm="api", error="invalid_token", error_description="the access token expired"`)
		return
	}
	switch r.URL.Path {
	case "/api/always401":
		s.unauthorized(w, challenge+` realm="api", error="invalid_token"`)
	case "/api/forbidden":
		w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="insufficient_scope", scope="admin"`)
		oauthError(w, http.StatusForbidden, "insufficient_scope", "")
	case "/api/busy":
		w.Header().Set("Retry-After", "1")
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "session store down")
	case "/api/echo":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		fmt.Fprintf(w, "echo %s", b)
	default:
		fmt.Fprint(w, "ok")
	}
}
