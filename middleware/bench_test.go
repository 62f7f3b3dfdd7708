package middleware

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

// The floor: the hand-rolled middleware a careful developer writes in 35
// lines with golang-jwt — strings.CutPrefix, one shared parser, a fixed key,
// context.WithValue. Every ratio in the README is measured against it, in
// the same run.

type floorClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid,omitempty"`
	Scope     string `json:"scope,omitempty"`
}

type floorKey struct{}

func floorMiddleware(key any, alg string, now func() time.Time) func(http.Handler) http.Handler {
	p := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(now))
	kf := func(*jwt.Token) (any, error) { return key, nil }
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			var c floorClaims
			if _, err := p.ParseWithClaims(tok, &c, kf); err != nil {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), floorKey{}, &c)))
		})
	}
}

// passthrough is the harness alone: the same requests, writer and handler
// with no verification, so its cost can be subtracted.
func passthrough(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), floorKey{}, r)))
	})
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

var benchSink int

// touch is the protected handler: it reads the claims like a real one.
var touch = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.Context().Value(ctxKey{}) != nil || r.Context().Value(floorKey{}) != nil {
		benchSink++
	}
})

type benchAlg struct {
	name     string
	signer   *keys.Key
	verifier *keys.Key // what a resource server holds
	raw      any       // the floor's key
}

func benchAlgs() []benchAlg {
	es, rs := esKey(), rsKey()
	esPub, _ := es.Public()
	rsPub, _ := rs.Public()
	edPub, _ := edKey.Public()
	return []benchAlg{
		{"HS256", hsKey, hsKey, hsSecret},
		{"EdDSA", edKey, edPub, edPriv.Public()},
		{"ES256", es, esPub, &ecPriv().PublicKey},
		{"RS256", rs, rsPub, &rsaPriv().PublicKey},
	}
}

// First sight cycles through benchPool distinct tokens while the cache
// holds benchCache: every request misses and inserts (and evicts), the
// worst case of the cache.
const benchPool, benchCache = 2048, 512

var pools sync.Map // alg+kind -> []*http.Request

func requestPool(b *testing.B, alg benchAlg, expired bool, n int) []*http.Request {
	key := fmt.Sprint(alg.name, expired, n)
	if p, ok := pools.Load(key); ok {
		return p.([]*http.Request)
	}
	reqs := make([]*http.Request, n)
	for i := range reqs {
		c := claimsAt()
		c.ID = fmt.Sprintf("jti-%08d", i)
		if expired {
			c.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Second))
		}
		r, _ := http.NewRequest(http.MethodGet, "/api/me", nil)
		r.Header.Set("Authorization", "Bearer "+sign(alg.signer, c))
		reqs[i] = r
	}
	pools.Store(key, reqs)
	return reqs
}

func run(b *testing.B, h http.Handler, reqs []*http.Request, want int) {
	w := &discardWriter{h: make(http.Header)}
	// One check outside the timed loop that the path is the intended one.
	w.code = 200
	h.ServeHTTP(w, reqs[0])
	if w.code != want {
		b.Fatalf("status %d, want %d", w.code, want)
	}
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, reqs[i])
		i++
		if i == len(reqs) {
			i = 0
		}
	}
}

// BenchmarkMiddleware compares this middleware with the floor, the bare
// harness and (on the cached path) a bare golang-jwt parse. Compare
// implementations with
//
//	go test -run='^$' -bench=Middleware -benchmem -count=10 ./middleware > bench.txt
//	benchstat -col /impl bench.txt
func BenchmarkMiddleware(b *testing.B) {
	fixed := func() time.Time { return t0 }
	for _, alg := range benchAlgs() {
		set := must(keys.NewSet(alg.verifier))
		paths := []struct {
			name    string
			n       int
			expired bool
			want    int
			opts    []Option
		}{
			// first and expired side by side: the machine is shared and
			// its load drifts, so paths compared with each other run
			// close together in time.
			{"first", benchPool, false, 200, a(WithCache(benchCache, DefaultCacheBytes))},
			{"expired", benchPool, true, 401, nil},
			{"cached", 1, false, 200, nil},
		}
		for _, p := range paths {
			reqs := requestPool(b, alg, p.expired, p.n)
			ours := must(New(set, append(p.opts, WithClock(fixed))...))
			impls := []struct {
				name string
				h    http.Handler
				want int
			}{
				{"harness", passthrough(touch), 200},
				{"floor", floorMiddleware(alg.raw, alg.name, fixed)(touch), p.want},
				{"jwtrefresh", ours.Handler(touch), p.want},
			}
			if p.name == "cached" {
				// The bare golang-jwt parse of the same token, with no HTTP
				// around it: the cached path is measured against it.
				impls = append(impls, struct {
					name string
					h    http.Handler
					want int
				}{"bareparse", bareParse(alg, reqs[0]), 200})
			}
			for _, impl := range impls {
				b.Run(fmt.Sprintf("alg=%s/path=%s/impl=%s", alg.name, p.name, impl.name), func(b *testing.B) {
					run(b, impl.h, reqs, impl.want)
				})
			}
		}
	}
}

// bareParse is golang-jwt's ParseWithClaims of r's token alone, wrapped as
// a handler only so that it runs in the same harness loop.
func bareParse(alg benchAlg, r *http.Request) http.Handler {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	p := jwt.NewParser(jwt.WithValidMethods([]string{alg.name}), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return t0 }))
	kf := func(*jwt.Token) (any, error) { return alg.raw, nil }
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var c floorClaims
		if _, err := p.ParseWithClaims(tok, &c, kf); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
}

// BenchmarkHostile measures the refusal of oversized tokens (the shape of
// CVE-2025-30204: a header full of dots), which never reach a parser.
func BenchmarkHostile(b *testing.B) {
	fixed := func() time.Time { return t0 }
	ours := must(New(must(keys.NewSet(hsKey)), WithClock(fixed)))
	for _, tc := range []struct{ name, tok string }{
		{"dots100k", strings.Repeat(".", 100000)},
		{"1MiB", strings.Repeat("A", 1<<20)},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+tc.tok)
		for _, impl := range []struct {
			name string
			h    http.Handler
		}{
			{"floor", floorMiddleware(hsSecret, "HS256", fixed)(touch)},
			{"jwtrefresh", ours.Handler(touch)},
		} {
			b.Run("token="+tc.name+"/impl="+impl.name, func(b *testing.B) {
				run(b, impl.h, []*http.Request{r}, http.StatusUnauthorized)
			})
		}
	}
}
