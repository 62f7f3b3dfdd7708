package jwtrefresh_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

// BenchmarkRefresh measures one refresh at several depths, against real
// Redis, in the same run (compare with benchstat -col /impl over
// -count=10):
//
//   - impl=store: the refresh token's part: parsing and authenticating it,
//     preparing the rotation, session.Store.Rotate, encoding the child;
//   - impl=service: Service.Refresh, that plus minting the access token
//     (HS256);
//   - impl=handler: the refresh endpoint's ServeHTTP on a form request,
//     with httptest.NewRecorder: parsing, rotation, minting, the JSON answer;
//   - impl=harness: building that request and recorder around a handler
//     that does nothing, to subtract from impl=handler;
//   - impl=http: a real HTTP client posting to the endpoint on a loopback
//     httptest.Server (keep-alive), as a client sees it;
//   - impl=floor: the same client against a minimal hand-rolled endpoint
//     (see floorEndpoint) on the same Redis: the cost of the protocol's
//     bare bones, which impl=http is measured against.
//
// Sequentially, and with 50 goroutines each rotating its own session.
func BenchmarkRefresh(b *testing.B) {
	be := redistest.NewStandalone(b)
	e := newEnv(b, envConfig{backend: be})
	floor := newFloorEndpoint(b, be.Client, be.Prefix(b))
	var users atomic.Int64
	newChain := func(b *testing.B) string {
		tr, err := e.svc.Login(context.Background(), session.NewSession{Subject: fmt.Sprint("bench-", users.Add(1))})
		if err != nil {
			b.Fatal(err)
		}
		return tr.RefreshToken
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	impls := refreshImpls(e, floor, client)
	for _, mode := range []string{"seq", "par"} {
		b.Run("mode="+mode, func(b *testing.B) {
			for _, impl := range impls {
				start := newChain
				if impl.name == "floor" {
					start = floor.login
				}
				b.Run("impl="+impl.name, func(b *testing.B) { runChains(b, be, mode == "par", start, impl.step) })
			}
		})
	}
}

// runChains rotates a chain of refresh tokens with step, sequentially or
// with 50 goroutines (parallelism 25 × 2 cores), each with its own chain,
// and reports the CPU time per refresh beside the wall-clock time.
func runChains(b *testing.B, be *redistest.Backend, par bool, start func(*testing.B) string, step func(*testing.B, string) string) {
	b.ReportAllocs()
	if !par {
		rt := start(b)
		defer be.StartCPU(b).Stop()
		for b.Loop() {
			rt = step(b, rt)
		}
		return
	}
	defer be.StartCPU(b).Stop() // with the 50 chains' logins: a few against thousands of refreshes
	b.SetParallelism(25)
	b.RunParallel(func(pb *testing.PB) {
		rt := start(b)
		for pb.Next() {
			rt = step(b, rt)
		}
	})
}

type refreshImpl struct {
	name string
	step func(b *testing.B, rt string) string // rotates rt, returns its successor
}

func refreshImpls(e *env, floor *floorEndpoint, client *http.Client) []refreshImpl {
	ctx := context.Background()
	// A new key for each refresh, as clients send (a repeated one is
	// refused); unique rather than random, to keep the client's cost low.
	var keys atomic.Int64
	newKey := func() string { return "bench-idempotency-" + strconv.FormatInt(keys.Add(1), 10) }
	handler := e.svc.Handler()
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	newRequest := func(rt string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/refresh",
			strings.NewReader("grant_type=refresh_token&refresh_token="+rt))
		r.Header.Set("Content-Type", formType)
		r.Header.Set("Idempotency-Key", newKey())
		return r
	}
	return []refreshImpl{
		{"store", func(b *testing.B, rt string) string {
			tok, err := e.secrets.Parse(rt)
			if err != nil {
				b.Fatal(err)
			}
			rot, err := e.secrets.Rotation(tok, newKey())
			if err != nil {
				b.Fatal(err)
			}
			if r, err := e.store.Rotate(ctx, rot); err != nil || r.Outcome != session.Rotated {
				b.Fatal(r.Outcome, err)
			}
			next, err := e.secrets.Encode(rot.Child)
			if err != nil {
				b.Fatal(err)
			}
			return next
		}},
		{"service", func(b *testing.B, rt string) string {
			tr, err := e.svc.Refresh(ctx, rt, newKey(), "")
			if err != nil {
				b.Fatal(err)
			}
			return tr.RefreshToken
		}},
		{"harness", func(b *testing.B, rt string) string {
			w := httptest.NewRecorder()
			nop.ServeHTTP(w, newRequest(rt))
			return rt
		}},
		{"handler", func(b *testing.B, rt string) string {
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, newRequest(rt))
			if w.Code != http.StatusOK {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
			return nextToken(b, w.Body.Bytes())
		}},
		{"http", func(b *testing.B, rt string) string {
			return postRefresh(b, client, e.srv.URL+"/auth/refresh", rt, newKey())
		}},
		{"floor", func(b *testing.B, rt string) string { return postRefresh(b, client, floor.srv.URL, rt, newKey()) }},
	}
}

func postRefresh(b *testing.B, client *http.Client, url, rt, key string) string {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("grant_type=refresh_token&refresh_token="+rt))
	req.Header.Set("Content-Type", formType)
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%d %s", resp.StatusCode, body)
	}
	return nextToken(b, body)
}

// nextToken picks the refresh token out of a token response without a
// JSON decoder, so the benchmark measures the server, not the client.
func nextToken(b *testing.B, body []byte) string {
	const field = `"refresh_token":"`
	s := string(body)
	i := strings.Index(s, field)
	if i < 0 {
		b.Fatalf("no refresh token in %s", body)
	}
	s = s[i+len(field):]
	return s[:strings.IndexByte(s, '"')]
}

// floorEndpoint is the floor of BenchmarkRefresh: a refresh endpoint
// written the shortest way with the usual tools, doing only what the
// protocol cannot do without. It parses the form with net/http, makes a
// new random token "family.secret", swaps the SHA-256 of the old secret
// for that of the new one with one bare EVALSHA (compare, then set: no
// idempotency, grace, reuse detection, expiry, seal or index), signs an
// access token with golang-jwt (HS256, the same claims as the service's),
// and writes the JSON answer with encoding/json.
type floorEndpoint struct {
	rdb    redis.UniversalClient
	prefix string
	key    []byte
	srv    *httptest.Server
	n      atomic.Int64
}

var floorScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'c') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[2])
return 1
`)

func newFloorEndpoint(b *testing.B, rdb redis.UniversalClient, prefix string) *floorEndpoint {
	f := &floorEndpoint{rdb: rdb, prefix: prefix, key: randomBytes(32)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	b.Cleanup(f.srv.Close)
	return f
}

func (f *floorEndpoint) login(b *testing.B) string {
	family, secret := fmt.Sprint("floor-", f.n.Add(1)), rand.Text()
	h := sha256.Sum256([]byte(secret))
	if err := f.rdb.HSet(context.Background(), f.prefix+family, "c", h[:]).Err(); err != nil {
		b.Fatal(err)
	}
	return family + "." + secret
}

func (f *floorEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.PostFormValue("grant_type") != "refresh_token" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	family, secret, _ := strings.Cut(r.PostFormValue("refresh_token"), ".")
	next := rand.Text()
	old, nh := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(next))
	ok, err := floorScript.Run(r.Context(), f.rdb, []string{f.prefix + family}, old[:], nh[:]).Int()
	if err != nil || ok != 1 {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	now := time.Now()
	at, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": testIssuer, "sub": family, "sid": family, "jti": rand.Text(),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}).SignedString(f.key)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": 300, "refresh_token": family + "." + next,
	})
}

// BenchmarkRefreshClaimsLoader measures what a claims loader costs a
// refresh: impl=service is Service.Refresh without one, impl=loader with a
// loader that returns a constant, so the difference is the session lookup
// the service makes before rotating (one more read-only EVALSHA; the
// token's MAC is still checked once) plus checking the loaded claims.
// Sequential, in the same run:
//
//	go test -run '^$' -bench RefreshClaimsLoader -benchmem -count 10 . > out.txt
//	benchstat -col /impl out.txt
func BenchmarkRefreshClaimsLoader(b *testing.B) {
	be := redistest.NewStandalone(b)
	loaded := json.RawMessage(`{"role":"user"}`)
	load := func(context.Context, string, string, json.RawMessage) (json.RawMessage, error) { return loaded, nil }
	secrets, signing, prefix := newSecrets(b), hsKeys(b), be.Prefix(b)
	for _, impl := range []struct {
		name string
		opts []jwtrefresh.Option
	}{
		{"service", nil},
		{"loader", []jwtrefresh.Option{jwtrefresh.WithClaimsLoader(load)}},
	} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			e := newEnv(b, envConfig{backend: be, secrets: secrets, keys: signing, prefix: prefix, svcOpts: impl.opts})
			ctx := context.Background()
			tr, err := e.svc.Login(ctx, session.NewSession{Subject: "bench-" + impl.name, Claims: loaded})
			if err != nil {
				b.Fatal(err)
			}
			rt := tr.RefreshToken
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n++
				tr, err := e.svc.Refresh(ctx, rt, "bench-idempotency-"+strconv.Itoa(n), "")
				if err != nil {
					b.Fatal(err)
				}
				rt = tr.RefreshToken
			}
		})
	}
}

// BenchmarkRefreshInterleaved alternates a refresh at the floor endpoint
// and one at the service's endpoint, over loopback HTTP on one client, and
// times each, so that both come from the same moments: on a shared, noisy
// machine the separate runs of BenchmarkRefresh drift apart. It reports
// floor-µs/op, http-µs/op and their quotient x-floor, the endpoint's
// sequential throughput as a fraction of the floor's. (With concurrent
// callers alternating, queueing would make both latencies alike: the
// parallel comparison is BenchmarkRefresh's.)
func BenchmarkRefreshInterleaved(b *testing.B) {
	be := redistest.NewStandalone(b)
	e := newEnv(b, envConfig{backend: be})
	floor := newFloorEndpoint(b, be.Client, be.Prefix(b))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	tr, err := e.svc.Login(context.Background(), session.NewSession{Subject: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ours, bare := tr.RefreshToken, floor.login(b)
	var floorT, oursT time.Duration
	n := 0
	for b.Loop() {
		n++
		key := "bench-idempotency-" + strconv.Itoa(n)
		t0 := time.Now()
		bare = postRefresh(b, client, floor.srv.URL, bare, key)
		t1 := time.Now()
		ours = postRefresh(b, client, e.srv.URL+"/auth/refresh", ours, key)
		oursT += time.Since(t1)
		floorT += t1.Sub(t0)
	}
	us := float64(b.N) * float64(time.Microsecond)
	b.ReportMetric(float64(floorT)/us, "floor-µs/op")
	b.ReportMetric(float64(oursT)/us, "http-µs/op")
	b.ReportMetric(float64(floorT)/float64(oursT), "x-floor")
}
