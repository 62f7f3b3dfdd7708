package middleware

import (
	"context"
	"fmt"
	"net/http"
	"slices"
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
	if r.Context().Value(ctxClaims{}) != nil || r.Context().Value(floorKey{}) != nil {
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

// benchPath is one way through the middleware.
type benchPath struct {
	name    string
	n       int  // distinct tokens, used in turn
	expired bool // tokens expired at t0
	want    int  // the status of the floor and of this middleware
	opts    []Option
}

// benchPaths puts first and expired side by side: the machine is shared and
// its load drifts, so paths compared with each other run close together in
// time.
var benchPaths = []benchPath{
	{"first", benchPool, false, 200, a(WithCache(benchCache, defaultCacheBytes))},
	{"expired", benchPool, true, 401, nil},
	{"cached", 1, false, 200, nil},
}

// impl is one implementation under test and the status it must answer.
type impl struct {
	name string
	h    http.Handler
	want int
}

// forEachPath calls f for every algorithm and path with the request pool
// and the implementations compared on it: the harness, the floor, this
// middleware and, on the cached path, a bare golang-jwt parse of the same
// token, which the cached path is measured against.
func forEachPath(b *testing.B, f func(name string, reqs []*http.Request, impls []impl)) {
	fixed := func() time.Time { return t0 }
	for _, alg := range benchAlgs() {
		set := must(keys.NewSet(alg.verifier))
		for _, p := range benchPaths {
			reqs := requestPool(b, alg, p.expired, p.n)
			ours := must(New(set, append(p.opts, withClock(fixed))...))
			impls := []impl{
				{"harness", passthrough(touch), 200},
				{"floor", floorMiddleware(alg.raw, alg.name, fixed)(touch), p.want},
				{"jwtrefresh", ours.Handler(touch), p.want},
			}
			if p.name == "cached" {
				impls = append(impls, impl{"bareparse", bareParse(alg, reqs[0]), 200})
			}
			f(fmt.Sprintf("alg=%s/path=%s", alg.name, p.name), reqs, impls)
		}
	}
}

// BenchmarkMiddleware compares this middleware with the floor, the bare
// harness and (on the cached path) a bare golang-jwt parse. Compare
// implementations with
//
//	go test -run='^$' -bench='Middleware$' -benchmem -count=10 ./middleware > bench.txt
//	benchstat -col /impl bench.txt
func BenchmarkMiddleware(b *testing.B) {
	forEachPath(b, func(name string, reqs []*http.Request, impls []impl) {
		for _, im := range impls {
			b.Run(name+"/impl="+im.name, func(b *testing.B) {
				run(b, im.h, reqs, im.want)
			})
		}
	})
}

// BenchmarkMiddlewareInterleaved runs the same paths as BenchmarkMiddleware
// with every implementation taking turns of a few requests inside one loop,
// so all of them see the same machine load. On a shared machine the halves
// of BenchmarkMiddleware run seconds apart and drift; the ratios here do
// not. It reports each implementation's time per request (ns/op is one
// round of turns and means little), the time ratio to the floor (vs-floor;
// net-vs-floor subtracts the harness from both sides) and, on the cached
// path, the speed-up over a bare golang-jwt parse.
//
//	go test -run='^$' -bench=MiddlewareInterleaved -count=10 ./middleware > inter.txt
//	benchstat inter.txt
func BenchmarkMiddlewareInterleaved(b *testing.B) {
	forEachPath(b, func(name string, reqs []*http.Request, impls []impl) {
		b.Run(name, func(b *testing.B) {
			turns := make([]*turn, len(impls))
			for i, im := range impls {
				turns[i] = &turn{impl: im}
				turns[i].start(b, reqs)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, t := range turns {
					t.take(reqs)
				}
			}
			per := make(map[string]float64, len(turns))
			for _, t := range turns {
				per[t.name] = float64(t.spent) / float64(b.N*turnLen)
				b.ReportMetric(per[t.name], t.name+"-ns/req")
			}
			b.ReportMetric(per["jwtrefresh"]/per["floor"], "vs-floor")
			b.ReportMetric((per["jwtrefresh"]-per["harness"])/(per["floor"]-per["harness"]), "net-vs-floor")
			if bare, ok := per["bareparse"]; ok {
				b.ReportMetric(bare/per["jwtrefresh"], "speedup-vs-bareparse")
			}
		})
	})
}

// turnLen is how many requests one implementation serves in a row: enough
// that reading the clock costs little, few enough that load changes
// between turns are rare.
const turnLen = 8

// turn is one implementation in BenchmarkMiddlewareInterleaved, with its
// own writer, position in the request pool and time spent.
type turn struct {
	impl
	w     discardWriter
	next  int
	spent time.Duration
	turns int
	last  [4096]time.Duration // the durations of the last turns, for medianTurn
}

// medianTurn is the median duration of the last turns: unlike their sum,
// it is not moved by the few turns another process interrupted.
func (t *turn) medianTurn() time.Duration {
	d := slices.Clone(t.last[:min(t.turns, len(t.last))])
	slices.Sort(d)
	return d[len(d)/2]
}

// start checks, outside the timed loop, that the path is the intended one.
func (t *turn) start(b *testing.B, reqs []*http.Request) {
	t.w = discardWriter{h: make(http.Header), code: 200}
	t.h.ServeHTTP(&t.w, reqs[0])
	if t.w.code != t.want {
		b.Fatalf("%s: status %d, want %d", t.name, t.w.code, t.want)
	}
}

func (t *turn) take(reqs []*http.Request) {
	begin := time.Now()
	for range turnLen {
		clear(t.w.h)
		t.h.ServeHTTP(&t.w, reqs[t.next])
		if t.next++; t.next == len(reqs) {
			t.next = 0
		}
	}
	d := time.Since(begin)
	t.spent += d
	t.last[t.turns%len(t.last)] = d
	t.turns++
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
	ours := must(New(must(keys.NewSet(hsKey)), withClock(fixed)))
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

// firstSight returns HS256 (the cheapest verification, which shows the
// cache's cost most), its pool of benchPool distinct tokens, and the
// middleware with the verified-token cache on (benchCache entries, so
// every request misses, inserts its token and evicts an old one) and off.
func firstSight(b *testing.B) (benchAlg, []*http.Request, []impl) {
	fixed := func() time.Time { return t0 }
	alg := benchAlg{"HS256", hsKey, hsKey, hsSecret}
	set := must(keys.NewSet(alg.verifier))
	on := must(New(set, WithCache(benchCache, defaultCacheBytes), withClock(fixed)))
	off := must(New(set, WithCache(0, 0), withClock(fixed)))
	return alg, requestPool(b, alg, false, benchPool), []impl{{"on", on.Handler(touch), 200}, {"off", off.Handler(touch), 200}}
}

// BenchmarkFirstSight measures what the verified-token cache costs a
// token's first sight, with the cache on and off in turn. Besides the
// time, it reports the CPU time the process used per request (cpu-ns/op,
// garbage collection included), which the load of a shared machine
// disturbs less. Compare with
//
//	benchstat -col /cache first.txt
func BenchmarkFirstSight(b *testing.B) {
	alg, reqs, impls := firstSight(b)
	for _, im := range impls {
		b.Run("alg="+alg.name+"/cache="+im.name, func(b *testing.B) {
			cpu := processCPU()
			run(b, im.h, reqs, im.want)
			if cpu >= 0 {
				b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

// BenchmarkFirstSightInterleaved is BenchmarkFirstSight with the cache on
// and off taking turns of a few requests inside one loop, in alternating
// order, so both see the same machine load. on-vs-off is the ratio of
// their times per request; on-vs-off-median the ratio of their median
// turns, which the load of a shared machine moves less.
func BenchmarkFirstSightInterleaved(b *testing.B) {
	alg, reqs, impls := firstSight(b)
	b.Run("alg="+alg.name, func(b *testing.B) {
		on, off := &turn{impl: impls[0]}, &turn{impl: impls[1]}
		on.start(b, reqs)
		off.start(b, reqs)
		b.ReportAllocs()
		b.ResetTimer()
		flip := false
		for b.Loop() {
			if flip = !flip; flip {
				on.take(reqs)
				off.take(reqs)
			} else {
				off.take(reqs)
				on.take(reqs)
			}
		}
		perOn := float64(on.spent) / float64(b.N*turnLen)
		perOff := float64(off.spent) / float64(b.N*turnLen)
		b.ReportMetric(perOn, "on-ns/req")
		b.ReportMetric(perOff, "off-ns/req")
		b.ReportMetric(perOn/perOff, "on-vs-off")
		b.ReportMetric(float64(on.medianTurn())/float64(off.medianTurn()), "on-vs-off-median")
	})
}

// BenchmarkCacheInsert is the verified-token cache's own work on a first
// sight, without verification around it: hashing the token, the miss, the
// insertion and the eviction of the oldest entry.
func BenchmarkCacheInsert(b *testing.B) {
	c := newCache(benchCache, defaultCacheBytes)
	toks := make([]string, benchPool)
	for i := range toks {
		c := claimsAt()
		c.ID = fmt.Sprintf("jti-%08d", i)
		toks[i] = sign(hsKey, c)
	}
	ents := make([]entry, len(toks))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tok := toks[i]
		h := hashToken(c.seed, tok)
		if c.get(h, tok, 1, t0) != nil {
			b.Fatal("hit")
		}
		e := &ents[i]
		e.token, e.hash, e.gen, e.size, e.dropAt = tok, h, 1, entrySize(tok), t0.Add(time.Hour)
		c.put(e)
		if i++; i == len(toks) {
			i = 0
		}
	}
}
