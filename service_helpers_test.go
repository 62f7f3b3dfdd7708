package jwtrefresh_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/mwclock"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
)

const testIssuer = "https://auth.example.test"

// mwClock makes a middleware read the time from now (the tests' clock).
func mwClock(now func() time.Time) middleware.Option {
	return mwclock.Option(now).(middleware.Option)
}

// must is for test setup that cannot fail unless the test itself is wrong.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func newSecrets(t testing.TB) *session.Secrets {
	t.Helper()
	return must(session.NewSecrets(session.Secret{Version: 1, Value: randomBytes(32)}))
}

func hsKeys(t testing.TB) *keys.Set {
	t.Helper()
	return must(keys.NewSet(must(keys.NewHS256("hs-1", randomBytes(32)))))
}

// clock is a settable time source, shared by a service and the middleware
// of a test resource server; or the real time, moving by itself.
type clock struct {
	mu   sync.Mutex
	now  time.Time
	real bool
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	if c.real {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// strict is the store option of tests about reuse detection right after
// a refresh: no reuse grace window (the default lets the parent replay for
// a few seconds).
var strict = []redisstore.Option{redisstore.WithReuseGrace(0)}

// countingStore counts the calls of the session check's store read.
type countingStore struct {
	session.Store
	active atomic.Int64
}

func (s *countingStore) Active(ctx context.Context, sessionID, subject string) (time.Time, error) {
	s.active.Add(1)
	return s.Store.Active(ctx, sessionID, subject)
}

// Watch keeps the push of the wrapped store (a wrapper that does not
// implement session.Watcher hides it).
func (s *countingStore) Watch(ended func([]string), live func(bool)) func() {
	return s.Store.(session.Watcher).Watch(ended, live)
}

// env is one token service on real Redis behind a real HTTP server:
// the endpoints under /auth/, a login handler at /login and a protected
// /api/me that runs the session check.
type env struct {
	cfg     envConfig
	be      *redistest.Backend
	secrets *session.Secrets
	store   *countingStore
	keys    *keys.Set
	clock   *clock
	svc     *jwtrefresh.Service
	srv     *httptest.Server
}

type envConfig struct {
	backend    *redistest.Backend
	secrets    *session.Secrets
	prefix     string
	keys       *keys.Set
	storeOpts  []redisstore.Option
	svcOpts    []jwtrefresh.Option
	apiMWOpts  []middleware.Option
	wrapServer func(http.Handler) http.Handler
	// realClock runs the service and the middleware on the real time (for
	// outages: probes and staleness follow it).
	realClock bool
	// wrapStore wraps the store, e.g. to hold its reads.
	wrapStore func(session.Store) session.Store
}

func newEnv(t testing.TB, c envConfig) *env {
	t.Helper()
	if c.backend == nil {
		c.backend = redistest.NewStandalone(t)
	}
	if c.secrets == nil {
		c.secrets = newSecrets(t)
	}
	if c.prefix == "" {
		c.prefix = c.backend.Prefix(t)
	}
	if c.keys == nil {
		c.keys = hsKeys(t)
	}
	rs, err := redisstore.New(c.backend.Client, append([]redisstore.Option{redisstore.WithKeyPrefix(c.prefix)}, c.storeOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	var st session.Store = rs
	if c.wrapStore != nil {
		st = c.wrapStore(rs)
	}
	e := &env{cfg: c, be: c.backend, secrets: c.secrets, store: &countingStore{Store: st}, keys: c.keys, clock: newClock()}
	e.clock.real = c.realClock
	e.svc, err = jwtrefresh.NewService(e.store, c.secrets, c.keys, testIssuer,
		append([]jwtrefresh.Option{jwtrefresh.WithClock(e.clock.Now)}, c.svcOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.svc.Close() })
	jwtrefresh.WaitPushLive(t, e.svc)
	api, err := e.svc.Middleware(append([]middleware.Option{
		mwClock(e.clock.Now),
		middleware.WithSessionCheck(e.svc.SessionCheck(), 0),
	}, c.apiMWOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", e.svc.Handler()))
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		tr, err := e.svc.Login(r.Context(), session.NewSession{
			Subject: r.FormValue("user"),
			Claims:  json.RawMessage(r.FormValue("claims")),
			Client:  jwtrefresh.ClientInfoFrom(r),
		})
		if err != nil {
			e.svc.WriteError(w, r, err)
			return
		}
		e.svc.WriteTokenResponse(w, r, tr)
	})
	mux.Handle("GET /api/me", api.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFrom(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": c.Subject, "sid": c.SessionID})
	})))
	var h http.Handler = mux
	if c.wrapServer != nil {
		h = c.wrapServer(h)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// twin returns another instance of the same deployment: its own service,
// store client and HTTP server on the same Redis keys, refresh keys and
// signing keys.
func (e *env) twin(t testing.TB) *env {
	t.Helper()
	c := e.cfg
	c.wrapServer = nil
	return newEnv(t, c)
}

// tokenJSON is the token response as a client decodes it.
type tokenJSON struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// reply is a response read in full.
type reply struct {
	status int
	header http.Header
	body   string
}

func (r reply) token(t testing.TB) tokenJSON {
	t.Helper()
	var tj tokenJSON
	if err := json.Unmarshal([]byte(r.body), &tj); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
	return tj
}

func do(t testing.TB, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// request builds a request to the env's server; header is pairs of name
// and value.
func (e *env) request(t testing.TB, method, path, contentType, body string, header ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return req
}

func (e *env) login(t testing.TB, user string) tokenJSON {
	t.Helper()
	r := do(t, e.request(t, http.MethodPost, "/login", "application/x-www-form-urlencoded", url.Values{"user": {user}}.Encode()))
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	return r.token(t)
}

func (e *env) refresh(t testing.TB, rt string, header ...string) reply {
	t.Helper()
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
	return do(t, e.request(t, http.MethodPost, "/auth/refresh", "application/x-www-form-urlencoded", body, header...))
}

func (e *env) me(t testing.TB, at string) reply {
	t.Helper()
	return do(t, e.request(t, http.MethodGet, "/api/me", "", "", "Authorization", "Bearer "+at))
}

// errorBody is the RFC 6749 §5.2 body with the given code.
func wantError(t testing.TB, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	var b struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(r.body), &b); err != nil || b.Error != code || b.Description == "" {
		t.Fatalf("body %q, want error %q with a description", r.body, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	wantNoStore(t, r)
}

func wantNoStore(t testing.TB, r reply) {
	t.Helper()
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Fatalf("Cache-Control %q, Pragma %q", r.header.Get("Cache-Control"), r.header.Get("Pragma"))
	}
}

// storeActive asks the store, past the service and its cache, whether
// subject's session sid is active.
func (e *env) storeActive(t testing.TB, subject, sid string) bool {
	t.Helper()
	return !must(e.store.Store.Active(context.Background(), sid, subject)).IsZero()
}
