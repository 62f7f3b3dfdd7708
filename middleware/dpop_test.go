package middleware

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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/internal/dpop"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

const apiBase = "https://api.example.com"

// boundClaims are claimsAt bound to the DPoP key with thumbprint jkt.
type boundClaims struct {
	Claims
	Cnf map[string]string `json:"cnf,omitempty"`
}

func boundToken(t testing.TB, jkt string) string {
	t.Helper()
	return sign(edKey, boundClaims{Claims: *claimsAt(), Cnf: map[string]string{"jkt": jkt}})
}

func newDPoPKey(t testing.TB) (crypto.Signer, string) {
	t.Helper()
	k := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	return k, must(dpop.Thumbprint(k.Public()))
}

// proofFor signs a proof for method and url, the access token tok, at t.
func proofFor(t testing.TB, key crypto.Signer, method, url, tok string, at time.Time, nonce string) string {
	t.Helper()
	return must(dpop.NewProof(key, dpop.Claims{Method: method, URL: url, AccessToken: tok, IssuedAt: at, Nonce: nonce}))
}

// dpopRequest is a GET of path with tok under scheme and the proofs.
func dpopRequest(path, scheme, tok string, proofs ...string) func(*http.Request) {
	return func(r *http.Request) {
		u := httptest.NewRequest(http.MethodGet, path, nil)
		r.URL, r.RequestURI = u.URL, u.RequestURI
		if tok != "" {
			r.Header.Set("Authorization", scheme+" "+tok)
		}
		for _, p := range proofs {
			r.Header.Add("DPoP", p)
		}
	}
}

func newDPoPMW(t testing.TB, clock *testClock, d DPoP, opts ...Option) *Middleware {
	t.Helper()
	if d.BaseURL == "" {
		d.BaseURL = apiBase
	}
	return newMW(t, must(keys.NewSet(edKey)), clock, append([]Option{WithDPoP(d)}, opts...)...)
}

func wantRefusal(t *testing.T, what string, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if w.Code != status || (code != "" && !strings.Contains(w.Body.String(), `"error":"`+code+`"`)) {
		t.Fatalf("%s: %d %s, want %d %s", what, w.Code, w.Body, status, code)
	}
}

// TestDPoPProofs: the RFC 9449 §4.3 and §7 checks of a resource request,
// each refusal on an otherwise valid request.
func TestDPoPProofs(t *testing.T) {
	key, jkt := newDPoPKey(t)
	other, _ := newDPoPKey(t)
	tok := boundToken(t, jkt)
	url := apiBase + "/r"
	valid := func() string { return proofFor(t, key, "GET", url, tok, t0, "") }
	hdr := func(h map[string]any, mod func(map[string]any)) map[string]any {
		mod(h)
		return h
	}
	cases := []struct {
		name   string
		req    func(*http.Request)
		status int
		code   string
	}{
		{"valid", dpopRequest("/r", "DPoP", tok, valid()), 200, ""},
		{"htu differing only in case, default port, query", dpopRequest("/r?x=1", "DPoP", tok,
			proofFor(t, key, "GET", "HTTPS://API.example.com:443/r?y=2", tok, t0, "")), 200, ""},
		{"scheme name in lower case", dpopRequest("/r", "dpop", tok, valid()), 200, ""},
		{"wrong htm", dpopRequest("/r", "DPoP", tok, proofFor(t, key, "POST", url, tok, t0, "")), 401, codeInvalidProof},
		{"proof for another URL", dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", apiBase+"/other", tok, t0, "")), 401, codeInvalidProof},
		{"proof for another origin", dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", "https://evil.example/r", tok, t0, "")), 401, codeInvalidProof},
		{"path case", dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", apiBase+"/R", tok, t0, "")), 401, codeInvalidProof},
		{"stale iat", dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", url, tok, t0.Add(-11*time.Second), "")), 401, codeInvalidProof},
		{"future iat", dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", url, tok, t0.Add(11*time.Second), "")), 401, codeInvalidProof},
		{"iat within the window", dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", url, tok, t0.Add(-9*time.Second), "")), 200, ""},
		{"missing ath", dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", url, "", t0, "")), 401, codeInvalidProof},
		{"ath of another token", dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", url, "another", t0, "")), 401, codeInvalidProof},
		{"another key", dpopRequest("/r", "DPoP", tok, proofFor(t, other, "GET", url, tok, t0, "")), 401, codeInvalidProof},
		{"alg none", dpopRequest("/r", "DPoP", tok, forgeProof(t, nil, hdr(proofHeader(key), func(h map[string]any) { h["alg"] = "none" }), tok)), 401, codeInvalidProof},
		{"HS256", dpopRequest("/r", "DPoP", tok, forgeProof(t, []byte("secret"), hdr(proofHeader(key), func(h map[string]any) { h["alg"] = "HS256" }), tok)), 401, codeInvalidProof},
		{"private key in jwk", dpopRequest("/r", "DPoP", tok, forgeProof(t, key, hdr(proofHeader(key), func(h map[string]any) {
			h["jwk"].(map[string]any)["d"] = base64.RawURLEncoding.EncodeToString(key.(*ecdsa.PrivateKey).D.Bytes())
		}), tok)), 401, codeInvalidProof},
		{"typ JWT", dpopRequest("/r", "DPoP", tok, forgeProof(t, key, hdr(proofHeader(key), func(h map[string]any) { h["typ"] = "JWT" }), tok)), 401, codeInvalidProof},
		{"oversized proof", dpopRequest("/r", "DPoP", tok, valid()+strings.Repeat("A", dpop.MaxLength)), 401, codeInvalidProof},
		{"no proof", dpopRequest("/r", "DPoP", tok), 401, codeInvalidProof},
		{"two DPoP headers", dpopRequest("/r", "DPoP", tok, valid(), valid()), 400, codeInvalidReq},
		{"bound token as Bearer", dpopRequest("/r", "Bearer", tok, valid()), 401, codeInvalidToken},
		{"unbound token as DPoP", dpopRequest("/r", "DPoP", sign(edKey, claimsAt()), proofFor(t, key, "GET", url, sign(edKey, claimsAt()), t0, "")), 401, codeInvalidToken},
		{"unbound token as Bearer", dpopRequest("/r", "Bearer", sign(edKey, claimsAt())), 200, ""},
		{"cnf without jkt", dpopRequest("/r", "Bearer", sign(edKey, boundClaims{Claims: *claimsAt(), Cnf: map[string]string{"x5t#S256": "x"}})), 401, codeInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newDPoPMW(t, nil, DPoP{})
			w := serve(m.Handler(okHandler), tc.req)
			wantRefusal(t, tc.name, w, tc.status, tc.code)
		})
	}
}

// proofHeader is the JOSE header of a proof by key.
func proofHeader(key crypto.Signer) map[string]any {
	p := must(dpop.NewProof(key, dpop.Claims{Method: "GET", URL: apiBase, IssuedAt: t0}))
	var h map[string]any
	_ = json.Unmarshal(must(base64.RawURLEncoding.DecodeString(strings.Split(p, ".")[0])), &h)
	return h
}

// forgeProof signs header and valid claims for GET /r with key, for
// proofs dpop.NewProof would never make; a nil key gives alg none.
func forgeProof(t testing.TB, key any, header map[string]any, tok string) string {
	t.Helper()
	claims := map[string]any{"jti": "forged", "htm": "GET", "htu": apiBase + "/r", "iat": t0.Unix(), "ath": dpop.AccessTokenHash(tok)}
	hb, cb := must(json.Marshal(header)), must(json.Marshal(claims))
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	if key == nil {
		return input + "."
	}
	alg := header["alg"].(string)
	sig := must(jwt.GetSigningMethod(alg).Sign(input, key))
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestDPoPReplay: a proof is accepted once; the verified-token cache still
// serves the token, while each request needs a proof of its own.
func TestDPoPReplay(t *testing.T) {
	key, jkt := newDPoPKey(t)
	tok := boundToken(t, jkt)
	var parsed atomic.Int64
	m := newDPoPMW(t, nil, DPoP{}, withParseCounter(&parsed))
	h := m.Handler(okHandler)
	p1 := proofFor(t, key, "GET", apiBase+"/r", tok, t0, "")
	wantRefusal(t, "first use", serve(h, dpopRequest("/r", "DPoP", tok, p1)), 200, "")
	wantRefusal(t, "replay", serve(h, dpopRequest("/r", "DPoP", tok, p1)), 401, codeInvalidProof)
	p2 := proofFor(t, key, "GET", apiBase+"/r", tok, t0, "")
	wantRefusal(t, "a new proof", serve(h, dpopRequest("/r", "DPoP", tok, p2)), 200, "")
	if n := parsed.Load(); n != 1 {
		t.Fatalf("the token was verified %d times, want 1 (cached)", n)
	}
}

// TestDPoPReplayCacheFull: a full cache refuses new proofs with 503 rather
// than forget unexpired ones, and takes them again once those expired; a
// proof refused for another reason is not recorded.
func TestDPoPReplayCacheFull(t *testing.T) {
	key, jkt := newDPoPKey(t)
	tok := boundToken(t, jkt)
	clock := newClock()
	m := newDPoPMW(t, clock, DPoP{ReplayCacheSize: 1})
	h := m.Handler(okHandler)
	bad := proofFor(t, key, "POST", apiBase+"/r", tok, t0, "")
	wantRefusal(t, "a bad proof", serve(h, dpopRequest("/r", "DPoP", tok, bad)), 401, codeInvalidProof)
	wantRefusal(t, "first", serve(h, dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", apiBase+"/r", tok, t0, ""))), 200, "")
	second := proofFor(t, key, "GET", apiBase+"/r", tok, t0, "")
	w := serve(h, dpopRequest("/r", "DPoP", tok, second))
	wantRefusal(t, "full", w, 503, codeUnavailable)
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	clock.Set(t0.Add(40 * time.Second)) // past twice the window: the first proof expired
	late := proofFor(t, key, "GET", apiBase+"/r", tok, clock.Now(), "")
	wantRefusal(t, "after expiry", serve(h, dpopRequest("/r", "DPoP", tok, late)), 200, "")
}

// sharedReplay is a ReplayCheck shared by middlewares, as Redis would be.
type sharedReplay struct {
	mu   sync.Mutex
	seen map[string]bool
	err  error
}

func (s *sharedReplay) FirstUse(_ context.Context, id string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	if ttl <= 0 || len(id) != 22 {
		return false, errors.New("bad arguments")
	}
	if s.seen[id] {
		return false, nil
	}
	s.seen[id] = true
	return true, nil
}

// TestDPoPSharedReplay: a proof used on one instance is refused on
// another; a failing shared check is 503, and the proof then stays usable.
func TestDPoPSharedReplay(t *testing.T) {
	key, jkt := newDPoPKey(t)
	tok := boundToken(t, jkt)
	shared := &sharedReplay{seen: map[string]bool{}}
	a := newDPoPMW(t, nil, DPoP{Replay: shared}).Handler(okHandler)
	b := newDPoPMW(t, nil, DPoP{Replay: shared}).Handler(okHandler)
	p := proofFor(t, key, "GET", apiBase+"/r", tok, t0, "")
	wantRefusal(t, "on a", serve(a, dpopRequest("/r", "DPoP", tok, p)), 200, "")
	wantRefusal(t, "replayed on b", serve(b, dpopRequest("/r", "DPoP", tok, p)), 401, codeInvalidProof)

	shared.err = errors.New("redis down")
	p2 := proofFor(t, key, "GET", apiBase+"/r", tok, t0, "")
	wantRefusal(t, "shared check down", serve(a, dpopRequest("/r", "DPoP", tok, p2)), 503, codeUnavailable)
	shared.err = nil
	wantRefusal(t, "the same proof once it is back", serve(a, dpopRequest("/r", "DPoP", tok, p2)), 200, "")
}

// TestDPoPNonce: with server nonces, a proof without the current one is
// 401 use_dpop_nonce with a DPoP-Nonce header; with it, accepted.
func TestDPoPNonce(t *testing.T) {
	key, jkt := newDPoPKey(t)
	tok := boundToken(t, jkt)
	h := newDPoPMW(t, nil, DPoP{NonceKey: []byte(strings.Repeat("n", 32))}).Handler(okHandler)
	w := serve(h, dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", apiBase+"/r", tok, t0, "")))
	wantRefusal(t, "no nonce", w, 401, codeUseNonce)
	nonce := w.Header().Get("DPoP-Nonce")
	if nonce == "" || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer realm=") ||
		!strings.Contains(w.Header().Get("WWW-Authenticate"), `DPoP realm="api", algs="ES256 EdDSA Ed25519 PS256 RS256", error="use_dpop_nonce"`) {
		t.Fatalf("headers %v", w.Header())
	}
	w = serve(h, dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", apiBase+"/r", tok, t0, "stale")))
	wantRefusal(t, "a wrong nonce", w, 401, codeUseNonce)
	w = serve(h, dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", apiBase+"/r", tok, t0, nonce)))
	wantRefusal(t, "with the nonce", w, 200, "")
}

// TestDPoPModes: off refuses bound tokens (their proof cannot be checked)
// and ignores the DPoP scheme; allowed takes both kinds; required refuses
// bearer tokens. Challenges name the schemes accepted.
func TestDPoPModes(t *testing.T) {
	key, jkt := newDPoPKey(t)
	tok, plain := boundToken(t, jkt), sign(edKey, claimsAt())
	set := must(keys.NewSet(edKey))
	off := newMW(t, set, nil).Handler(okHandler)
	wantRefusal(t, "off, bound as Bearer", serve(off, dpopRequest("/r", "Bearer", tok)), 401, codeInvalidToken)
	wantRefusal(t, "off, DPoP scheme", serve(off, dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", apiBase+"/r", tok, t0, ""))), 401, "")

	allowed := newDPoPMW(t, nil, DPoP{}).Handler(okHandler)
	w := serve(allowed, dpopRequest("/r", "", ""))
	if got, want := w.Header().Get("WWW-Authenticate"), `Bearer realm="api", DPoP realm="api", algs="ES256 EdDSA Ed25519 PS256 RS256"`; got != want {
		t.Fatalf("allowed, no token: challenge %q, want %q", got, want)
	}
	w = serve(allowed, dpopRequest("/r", "DPoP", tok))
	if got, want := w.Header().Get("WWW-Authenticate"), `Bearer realm="api", DPoP realm="api", algs="ES256 EdDSA Ed25519 PS256 RS256", error="invalid_dpop_proof", error_description="`+descInvalidProof+`"`; got != want {
		t.Fatalf("allowed, no proof: challenge %q, want %q", got, want)
	}

	required := newDPoPMW(t, nil, DPoP{Required: true, Algorithms: []string{"ES256"}}).Handler(okHandler)
	w = serve(required, dpopRequest("/r", "Bearer", plain))
	wantRefusal(t, "required, bearer token", w, 401, codeInvalidToken)
	if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, `DPoP realm="api", algs="ES256", error="invalid_token"`) {
		t.Fatalf("required: challenge %q", got)
	}
	wantRefusal(t, "required, bound", serve(required, dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", apiBase+"/r", tok, t0, ""))), 200, "")
}

// TestDPoPBaseURL: htu is compared with the configured base URL and the
// request's path, never with the Host header; a prefix a proxy strips is
// part of the base.
func TestDPoPBaseURL(t *testing.T) {
	key, jkt := newDPoPKey(t)
	tok := boundToken(t, jkt)
	h := newDPoPMW(t, nil, DPoP{BaseURL: apiBase + "/v1/"}).Handler(okHandler)
	wantRefusal(t, "through the proxy", serve(h, dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", apiBase+"/v1/r", tok, t0, ""))), 200, "")
	spoofed := func(r *http.Request) { r.Host = "evil.example" }
	w := serve(h, dpopRequest("/r", "DPoP", tok, proofFor(t, key, "GET", "https://evil.example/r", tok, t0, "")), spoofed)
	wantRefusal(t, "a proof for the Host header's origin", w, 401, codeInvalidProof)
}

func TestDPoPConfig(t *testing.T) {
	set := must(keys.NewSet(edKey))
	for name, d := range map[string]DPoP{
		"no base URL":      {},
		"relative base":    {BaseURL: "/api"},
		"base with query":  {BaseURL: apiBase + "?x=1"},
		"HS256":            {BaseURL: apiBase, Algorithms: []string{"HS256"}},
		"empty algorithms": {BaseURL: apiBase, Algorithms: []string{}},
		"short window":     {BaseURL: apiBase, Window: time.Millisecond},
		"negative cache":   {BaseURL: apiBase, ReplayCacheSize: -1},
		"short nonce key":  {BaseURL: apiBase, NonceKey: []byte("short")},
	} {
		if _, err := New(set, WithDPoP(d)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}
