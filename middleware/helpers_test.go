package middleware

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

// t0 is the fixed "now" of the tests; tokens are minted around it.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testClock is a settable clock for withClock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *testClock { return &testClock{now: t0} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// must is for test setup that cannot fail unless the test itself is wrong.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Deterministic keys so tests and benchmarks need no entropy; RSA is
// generated once from a seeded source.
var (
	hsSecret = []byte("test-secret-test-secret-test-sec")
	hsKey    = must(keys.NewHS256("hs", hsSecret))
	edPriv   = ed25519.NewKeyFromSeed(make([]byte, 32))
	edKey    = must(keys.NewEdDSA("ed", edPriv))
	ecPriv   = sync.OnceValue(func() *ecdsa.PrivateKey {
		return must(ecdsa.GenerateKey(elliptic.P256(), rand.New(rand.NewSource(1))))
	})
	esKey = sync.OnceValue(func() *keys.Key {
		return must(keys.NewES256("es", ecPriv()))
	})
	rsKey = sync.OnceValue(func() *keys.Key {
		return must(keys.NewRS256("rs", rsaPriv()))
	})
	rsaPriv = sync.OnceValue(func() *rsa.PrivateKey {
		return must(rsa.GenerateKey(rand.New(rand.NewSource(2)), 2048))
	})
)

// claimsAt returns valid claims issued at t0 with a five-minute life.
func claimsAt() *Claims {
	return &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "https://issuer.example",
			Subject:   "alice",
			Audience:  jwt.ClaimStrings{"api"},
			ExpiresAt: jwt.NewNumericDate(t0.Add(5 * time.Minute)),
			NotBefore: jwt.NewNumericDate(t0),
			IssuedAt:  jwt.NewNumericDate(t0),
			ID:        "jti-1",
		},
		SessionID: "sid-1",
		Scope:     Scopes{"read", "write"},
	}
}

// sign mints a token with k, through a set of that one key.
func sign(k *keys.Key, c jwt.Claims) string { return must(must(keys.NewSet(k)).Sign(c)) }

// okHandler answers 200 with the subject it saw.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := ClaimsFrom(r.Context())
	if !ok {
		fmt.Fprint(w, "anonymous")
		return
	}
	fmt.Fprintf(w, "hello %s", c.Subject)
})

func newMW(t testing.TB, set *keys.Set, clock *testClock, opts ...Option) *Middleware {
	t.Helper()
	if clock == nil {
		clock = newClock()
	}
	m, err := New(set, append([]Option{withClock(clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func serve(h http.Handler, edit ...func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, e := range edit {
		e(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func body(code, desc string) string {
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	return string(b)
}
