package middleware

import (
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

// eventLog collects events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) hook(_ context.Context, e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) last() Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.events[len(l.events)-1]
}

func TestCacheServesRepeatsWithoutVerifying(t *testing.T) {
	set := must(keys.NewSet(edKey))
	var verifications atomic.Int64
	var sessionChecks atomic.Int64
	var log eventLog
	m := newMW(t, set, nil,
		withParseCounter(&verifications),
		WithEvents(log.hook),
		WithSessionCheck(func(context.Context, *Claims) error { sessionChecks.Add(1); return nil }, 0))
	tok := sign(edKey, claimsAt())
	for i := range 5 {
		if w := serve(m.Handler(okHandler), bearer(tok)); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
		if got := log.last(); got.Claims == nil || got.Err != nil || got.Cached != (i > 0) {
			t.Fatalf("request %d: event %+v", i, got)
		}
	}
	if v, s := verifications.Load(), sessionChecks.Load(); v != 1 || s != 5 {
		t.Fatalf("%d verifications, %d session checks; want 1 and 5", v, s)
	}
	if st := m.cacheStats(); st.Entries != 1 || st.Bytes != entrySize(tok) {
		t.Fatalf("stats %+v", st)
	}
}

func TestCacheOff(t *testing.T) {
	set := must(keys.NewSet(edKey))
	tok := sign(edKey, claimsAt())
	var n atomic.Int64
	m := newMW(t, set, nil, WithCache(0, 0), withParseCounter(&n))
	for range 3 {
		if w := serve(m.Handler(okHandler), bearer(tok)); w.Code != 200 {
			t.Fatal(w.Code)
		}
	}
	if n.Load() != 3 || m.cacheStats() != (cacheStats{}) {
		t.Fatalf("%d verifications, stats %+v; want 3 and none", n.Load(), m.cacheStats())
	}
}

// TestCacheChecksTimePerRequest: a cached token still expires at its exp,
// is refused before its nbf (a clock stepped back), and is then dropped.
func TestCacheChecksTimePerRequest(t *testing.T) {
	clock := newClock()
	set := must(keys.NewSet(edKey))
	m := newMW(t, set, clock, WithLeeway(2*time.Second, 2*time.Second))
	c := claimsAt()
	c.NotBefore = jwt.NewNumericDate(t0.Add(-time.Minute))
	c.IssuedAt = c.NotBefore
	tok := sign(edKey, c)
	steps := []struct {
		at     time.Time
		status int
	}{
		{t0, 200},
		{t0.Add(-2 * time.Minute), 401},              // before nbf - leeway: not valid yet
		{t0.Add(-time.Minute - time.Second), 200},    // within leeway of nbf
		{t0.Add(5*time.Minute + time.Second), 200},   // past exp, within leeway
		{t0.Add(5*time.Minute + 2*time.Second), 401}, // expired
		{t0, 200}, // verified afresh
	}
	for i, s := range steps {
		clock.Set(s.at)
		w := serve(m.Handler(okHandler), bearer(tok))
		if w.Code != s.status {
			t.Fatalf("step %d: status %d, want %d", i, w.Code, s.status)
		}
		if i == 4 {
			if w.Header().Get("WWW-Authenticate") != `Bearer realm="api", error="invalid_token", error_description="the access token expired"` {
				t.Fatalf("expired challenge %q", w.Header().Get("WWW-Authenticate"))
			}
			if st := m.cacheStats(); st.Entries != 0 {
				t.Fatalf("expired entry kept: %+v", st)
			}
		}
	}
}

// TestCacheDropsOnKeyRotation: retiring a key must refuse its tokens at
// once, even those cached a moment before.
func TestCacheDropsOnKeyRotation(t *testing.T) {
	set := must(keys.NewSet(edKey, hsKey))
	m := newMW(t, set, nil)
	tok := sign(hsKey, claimsAt())
	if w := serve(m.Handler(okHandler), bearer(tok)); w.Code != 200 {
		t.Fatal(w.Code)
	}
	if m.cacheStats().Entries != 1 {
		t.Fatal("not cached")
	}
	if err := set.Replace(edKey); err != nil {
		t.Fatal(err)
	}
	if w := serve(m.Handler(okHandler), bearer(tok)); w.Code != 401 {
		t.Fatalf("token of a retired key accepted from the cache: %d", w.Code)
	}
	if st := m.cacheStats(); st.Entries != 0 {
		t.Fatalf("stats after rotation %+v", st)
	}
	// A still-trusted key's token is verified again and cached again.
	tok2 := sign(edKey, claimsAt())
	for range 2 {
		if w := serve(m.Handler(okHandler), bearer(tok2)); w.Code != 200 {
			t.Fatal(w.Code)
		}
	}
	if m.cacheStats().Entries != 1 {
		t.Fatal("not cached after rotation")
	}
}

// TestCacheSurvivesJWKSPoll: a resource server that polls its issuer's
// JWKS and installs the keys each time keeps its cache while the keys stay
// the same, and drops it when they change.
func TestCacheSurvivesJWKSPoll(t *testing.T) {
	es := esKey()
	issuer := must(keys.NewSet(edKey, es))
	poll := func(rs *keys.Set) {
		t.Helper()
		if err := rs.Replace(must(keys.ParseJWKS(must(issuer.JWKS())))...); err != nil {
			t.Fatal(err)
		}
	}
	rs := must(keys.NewSet(must(keys.ParseJWKS(must(issuer.JWKS())))...))
	var log eventLog
	m := newMW(t, rs, nil, WithEvents(log.hook))
	tok := sign(edKey, claimsAt())
	request := func(wantCached bool) {
		t.Helper()
		if w := serve(m.Handler(okHandler), bearer(tok)); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		if got := log.last(); got.Cached != wantCached {
			t.Fatalf("cached %v, want %v", got.Cached, wantCached)
		}
	}
	request(false)
	for range 3 {
		poll(rs)
		request(true)
	}
	if st := m.cacheStats(); st.Entries != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The issuer rotates (the old key still verifies): the next poll
	// changes the keys, and the token is verified afresh.
	if err := issuer.Replace(es, edKey); err != nil {
		t.Fatal(err)
	}
	poll(rs)
	request(false)
	request(true)
}

func TestCacheNeverHoldsInvalidTokens(t *testing.T) {
	set := must(keys.NewSet(edKey))
	m := newMW(t, set, nil, WithIssuer("https://issuer.example"))
	bad := []*Claims{claimsAt(), claimsAt(), claimsAt(), claimsAt()}
	bad[0].ExpiresAt = jwt.NewNumericDate(t0)
	bad[1].NotBefore = jwt.NewNumericDate(t0.Add(time.Hour))
	bad[2].Issuer = "x"
	bad[3].ExpiresAt = nil
	toks := []string{sign(edKey, claimsAt()) + "x", "a.b.c"}
	for _, c := range bad {
		toks = append(toks, sign(edKey, c))
	}
	for _, tok := range toks {
		for range 2 {
			if w := serve(m.Handler(okHandler), bearer(tok)); w.Code != 401 {
				t.Fatalf("status %d", w.Code)
			}
		}
	}
	if st := m.cacheStats(); st != (cacheStats{}) {
		t.Fatalf("invalid tokens cached: %+v", st)
	}
}

// TestCacheFloodStaysBounded floods the cache with distinct valid tokens
// from several goroutines and checks both bounds after every request and
// the exact final population.
func TestCacheFloodStaysBounded(t *testing.T) {
	set := must(keys.NewSet(hsKey))
	mint := func(i int) string {
		c := claimsAt()
		c.ID = fmt.Sprintf("jti-%06d", i) // same length for every token
		return sign(hsKey, c)
	}
	const maxEntries, workers, perWorker = 64, 4, 500
	maxBytes := 40 * entrySize(mint(0)) // the byte bound bites first
	m := newMW(t, set, nil, WithCache(maxEntries, maxBytes))
	h := m.Handler(okHandler)
	var wg sync.WaitGroup
	var violations, refused atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				if rec := serve(h, bearer(mint(w*perWorker+i))); rec.Code != 200 {
					refused.Add(1)
				}
				if st := m.cacheStats(); st.Entries > maxEntries || st.Bytes > maxBytes {
					violations.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if refused.Load() != 0 || violations.Load() != 0 {
		t.Fatalf("%d refused, %d bound violations", refused.Load(), violations.Load())
	}
	if st := m.cacheStats(); st.Entries != 40 || st.Bytes != 40*entrySize(mint(0)) {
		t.Fatalf("final stats %+v, want 40 entries", st)
	}

	// The entry bound bites when it is the smaller one.
	m2 := newMW(t, set, nil, WithCache(16, 1<<20))
	for i := range 200 {
		serve(m2.Handler(okHandler), bearer(mint(i)))
	}
	if st := m2.cacheStats(); st.Entries != 16 {
		t.Fatalf("entry bound: %+v", st)
	}
	// The most recent tokens are the ones kept (first in, first out).
	var n atomic.Int64
	m3 := newMW(t, set, nil, WithCache(16, 1<<20), withParseCounter(&n))
	for i := range 32 {
		serve(m3.Handler(okHandler), bearer(mint(i)))
	}
	serve(m3.Handler(okHandler), bearer(mint(31)))
	serve(m3.Handler(okHandler), bearer(mint(0)))
	if n.Load() != 33 {
		t.Fatalf("%d verifications, want 33 (newest hit, oldest evicted)", n.Load())
	}
}

// TestClaimsAreCopies: handlers scribbling on their claims, concurrently,
// never change what other requests of the same cached token see. Run with
// -race.
func TestClaimsAreCopies(t *testing.T) {
	set := must(keys.NewSet(edKey))
	m := newMW(t, set, nil)
	tok := sign(edKey, claimsAt())
	var bad atomic.Int64
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r.Context())
		if c.Subject != "alice" || c.SessionID != "sid-1" || !c.ExpiresAt.Equal(t0.Add(5*time.Minute)) ||
			len(c.Scope) != 2 || c.Scope[1] != "write" || len(c.Audience) != 1 || c.Audience[0] != "api" {
			bad.Add(1)
		}
		c.Subject = "mallory"
		c.SessionID = "other"
		c.ExpiresAt.Time = time.Time{}
		c.IssuedAt.Time = time.Time{}
		c.Scope = append(c.Scope, "admin")
		c.Audience = append(c.Audience, "evil")
	}))
	var wg sync.WaitGroup
	const workers, each = 8, 200
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				serve(h, bearer(tok))
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d requests saw another request's changes", bad.Load(), workers*each)
	}
}

// TestCacheConfirmsWholeToken: an entry found under a token's hash is only
// used if the whole token matches, so a hash collision is a miss.
func TestCacheConfirmsWholeToken(t *testing.T) {
	c := newCache(4, 1<<20)
	e := &entry{token: "tok-a", hash: 7, gen: 1, dropAt: t0.Add(time.Minute), size: entrySize("tok-a")}
	c.put(e)
	if c.get(7, "tok-a", 1, t0) != e {
		t.Fatal("exact token missed")
	}
	if c.get(7, "tok-b", 1, t0) != nil {
		t.Fatal("colliding token served another token's claims")
	}
	if c.get(7, "tok-a", 2, t0) != nil || c.stats().Entries != 0 {
		t.Fatal("entry of an old key-set generation served or kept")
	}
}

// TestCacheUnderRotation serves a cached token from many goroutines while
// the key set rotates underneath (its key stays in every snapshot): every
// request must succeed, and a retired key's token must fail afterwards.
func TestCacheUnderRotation(t *testing.T) {
	set := must(keys.NewSet(hsKey))
	m := newMW(t, set, nil)
	h := m.Handler(okHandler)
	tok := sign(hsKey, claimsAt())
	edTok := sign(edKey, claimsAt())
	const workers, each, rotations = 4, 300, 200
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if serve(h, bearer(tok)).Code == 200 {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	for i := range rotations {
		var err error
		if i%2 == 0 {
			err = set.Replace(edKey, hsKey)
		} else {
			err = set.Replace(hsKey)
		}
		if err != nil {
			t.Error(err)
		}
		serve(h, bearer(edTok)) // caches while ed is trusted, refused while not
	}
	wg.Wait()
	if ok.Load() != workers*each || bad.Load() != 0 {
		t.Fatalf("%d ok, %d refused; want %d and 0", ok.Load(), bad.Load(), workers*each)
	}
	// The last rotation (i = 199) left only hsKey: ed's cached verdict is gone.
	if code := serve(h, bearer(edTok)).Code; code != 401 {
		t.Fatalf("token of a retired key: %d", code)
	}
}

// TestIndexAgainstMap drives the cache's index through random insertions
// and removals whose hashes crowd a few home slots (long probe sequences,
// wrapping around the end), and checks every lookup against a map.
func TestIndexAgainstMap(t *testing.T) {
	rnd := rand.New(rand.NewSource(3))
	ix := newIndex(64)
	model := map[string]*entry{}
	var live []*entry
	for step := range 20000 {
		if len(live) < 30 && (len(live) == 0 || rnd.Intn(2) == 0) {
			tok := fmt.Sprintf("tok-%d", step)
			// Home slots 60 to 63 and 0 to 3: the sequences wrap.
			e := &entry{token: tok, hash: tokenHash(uint64(60+rnd.Intn(8))%64 | uint64(rnd.Intn(1<<20))<<6 | 1)}
			ix.insert(e)
			model[tok] = e
			live = append(live, e)
		} else {
			k := rnd.Intn(len(live))
			e := live[k]
			ix.remove(e.hash, e)
			delete(model, e.token)
			live = append(live[:k], live[k+1:]...)
		}
		if ix.n != len(model) {
			t.Fatalf("step %d: index holds %d, want %d", step, ix.n, len(model))
		}
		for _, e := range live {
			if got := ix.find(e.hash, e.token); got != e {
				t.Fatalf("step %d: find(%s) = %v", step, e.token, got)
			}
		}
		if got := ix.find(tokenHash(61), "absent"); got != nil {
			t.Fatalf("step %d: found an absent token", step)
		}
	}
	grown := ix.grown()
	for _, e := range live {
		if grown.find(e.hash, e.token) != e {
			t.Fatalf("grown index lost %s", e.token)
		}
	}
}
