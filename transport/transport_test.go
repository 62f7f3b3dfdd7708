package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hookCounts counts hook calls.
type hookCounts struct {
	unauthorized, refreshed, adopted, resumed, retried, stale, loginRequired, saveFailed atomic.Int64
	refreshedCh                                                                          chan RefreshInfo
}

func (c *hookCounts) hooks() Hooks {
	return Hooks{
		Unauthorized: func(*http.Request) { c.unauthorized.Add(1) },
		Refreshed: func(info RefreshInfo) {
			c.refreshed.Add(1)
			if info.Adopted {
				c.adopted.Add(1)
			}
			if info.Resumed {
				c.resumed.Add(1)
			}
			if c.refreshedCh != nil {
				c.refreshedCh <- info
			}
		},
		Retried: func(info RetryInfo) {
			c.retried.Add(1)
			if info.Stale {
				c.stale.Add(1)
			}
		},
		LoginRequired: func(error) { c.loginRequired.Add(1) },
		SaveFailed:    func(error) { c.saveFailed.Add(1) },
	}
}

type fixture struct {
	t      *testing.T
	srv    *authServer
	clock  *testClock
	store  Store
	tr     *Transport
	client *http.Client
	counts *hookCounts
	first  *Token // the login's tokens
}

// newFixture starts a server, logs in, and builds a Transport on a
// MemoryStore (unless store is set) with fast retries and the test clock.
func newFixture(t *testing.T, configure func(*authServer), store Store, opts ...Option) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newTestClock(), counts: &hookCounts{}}
	f.srv = newAuthServer(t, f.clock.Now)
	if configure != nil {
		configure(f.srv)
	}
	f.first = f.srv.login()
	if store == nil {
		store = NewMemoryStore(f.first)
	} else if err := store.Save(context.Background(), f.first); err != nil {
		t.Fatal(err)
	}
	f.store = store
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(base.CloseIdleConnections)
	opts = append([]Option{
		WithBase(base),
		WithClock(f.clock.Now),
		WithRefreshRetries(4, time.Millisecond, 4*time.Millisecond),
		WithHooks(f.counts.hooks()),
	}, opts...)
	tr, err := New(f.srv.tokenURL(), store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.tr = tr
	f.client = &http.Client{Transport: tr}
	return f
}

// do sends a request and returns its status and body.
func (f *fixture) do(req *http.Request) (int, string, error) {
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (f *fixture) get(path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.do(req)
}

func (f *fixture) mustGet(path string, wantStatus int) string {
	f.t.Helper()
	status, body, err := f.get(path)
	if err != nil || status != wantStatus {
		f.t.Fatalf("GET %s = %d %q, %v; want %d", path, status, body, err, wantStatus)
	}
	return body
}

func (f *fixture) stored() *Token {
	f.t.Helper()
	tok, err := f.store.Load(context.Background())
	if err != nil {
		f.t.Fatalf("store: %v", err)
	}
	return tok
}

func wantStats(t *testing.T, got, want serverStats) {
	t.Helper()
	if got != want {
		t.Errorf("server saw %+v\nwant          %+v", got, want)
	}
}

// expire makes the login's access token expired at the server. With opaque
// tokens the client cannot know, so it learns it from a 401.
func (f *fixture) expire() { f.srv.expireAccess() }

// plainStore is a Store without a Locker: only the Transport's own
// single-flight keeps its requests from redeeming the token twice.
type plainStore struct{ m MemoryStore }

func (s *plainStore) Load(ctx context.Context) (*Token, error)   { return s.m.Load(ctx) }
func (s *plainStore) Save(ctx context.Context, tok *Token) error { return s.m.Save(ctx, tok) }
func (s *plainStore) Clear(ctx context.Context) error            { return s.m.Clear(ctx) }

func TestConcurrent401sShareOneRefresh(t *testing.T) {
	t.Run("locking store", func(t *testing.T) { testConcurrent401s(t, &MemoryStore{}) })
	t.Run("plain store", func(t *testing.T) { testConcurrent401s(t, &plainStore{}) })
}

func testConcurrent401s(t *testing.T, store Store) {
	const n = 500
	var gate sync.WaitGroup
	gate.Add(n)
	f := newFixture(t, func(s *authServer) {
		s.opaque = true
		// Hold the refresh until every request has had its 401: all of
		// them must be waiting for this one refresh.
		s.resource = func(w http.ResponseWriter, r *http.Request) {}
		s.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool {
			waitTimeout(t, &gate)
			return false
		}
	}, store)
	var once sync.Map
	f.srv.resource = func(w http.ResponseWriter, r *http.Request) {
		// Count each request's first (401) visit.
		if id := r.Header.Get("X-Req"); id != "" {
			if _, seen := once.LoadOrStore(id, true); !seen {
				defer gate.Done()
			}
		}
	}
	f.expire()

	var wg sync.WaitGroup
	var ok atomic.Int64
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/me", nil)
			req.Header.Set("X-Req", string(rune('A'+i%26))+strings.Repeat("x", i/26))
			status, body, err := f.do(req)
			if err != nil || status != 200 || body != "ok" {
				errs <- errors.New("request failed: " + body)
				return
			}
			ok.Add(1)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ok.Load() != n {
		t.Fatalf("%d of %d requests succeeded", ok.Load(), n)
	}
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: n})
	if got := f.counts.refreshed.Load(); got != 1 {
		t.Errorf("Refreshed hook called %d times, want 1", got)
	}
	if got, got2 := f.counts.unauthorized.Load(), f.counts.retried.Load(); got != n || got2 != n {
		t.Errorf("Unauthorized hook %d, Retried hook %d; want %d each", got, got2, n)
	}
	if got, want := f.stored().RefreshToken, f.srv.currentRefreshToken(f.first.RefreshToken); got != want {
		t.Errorf("store holds %q, want the rotated %q", got, want)
	}
}

// waitTimeout waits for wg, failing the test instead of hanging it.
func waitTimeout(t testing.TB, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Error("timed out waiting for the gate")
	}
}

func TestProactiveRefresh(t *testing.T) {
	for _, tc := range []struct {
		name          string
		ttl           time.Duration
		omitExpiresIn bool // lifetime from the JWT's exp and iat
		before, after time.Duration
	}{
		// 5 min tokens: the 30 s skew applies.
		{name: "expires_in", ttl: 5 * time.Minute, before: 4*time.Minute + 29*time.Second, after: 4*time.Minute + 31*time.Second},
		{name: "jwt exp", ttl: 5 * time.Minute, omitExpiresIn: true, before: 4*time.Minute + 29*time.Second, after: 4*time.Minute + 31*time.Second},
		// 2 s tokens: the skew is capped at a quarter of the lifetime.
		{name: "short-lived", ttl: 2 * time.Second, before: 1400 * time.Millisecond, after: 1600 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(s *authServer) { s.ttl, s.omitExpiresIn = tc.ttl, tc.omitExpiresIn }, nil)
			f.clock.Advance(tc.before)
			f.mustGet("/api/me", 200)
			if got := f.srv.Stats().RefreshRequests; got != 0 {
				t.Fatalf("refreshed %d times before the skew", got)
			}
			f.clock.Advance(tc.after - tc.before)
			var wg sync.WaitGroup
			for range 50 {
				wg.Add(1)
				go func() { defer wg.Done(); f.mustGet("/api/me", 200) }()
			}
			wg.Wait()
			wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1})
			if f.counts.unauthorized.Load() != 0 || f.counts.retried.Load() != 0 {
				t.Errorf("proactive refresh still saw 401s")
			}
		})
	}
}

func TestStale401RetriesWithoutRefresh(t *testing.T) {
	f := newFixture(t, func(s *authServer) { s.opaque = true }, nil)
	arrived, release := make(chan struct{}), make(chan struct{})
	f.srv.resource = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/slow" && r.Header.Get("Authorization") == "Bearer "+f.first.AccessToken {
			close(arrived)
			<-release
		}
	}
	slow := make(chan string)
	go func() {
		status, body, err := f.get("/api/slow")
		if err != nil || status != 200 {
			t.Errorf("slow request: %d %q %v", status, body, err)
		}
		slow <- body
	}()
	<-arrived
	// While the slow request is held with the old token, it expires and
	// another request refreshes.
	f.expire()
	f.mustGet("/api/me", 200)
	close(release)
	if body := <-slow; body != "ok" {
		t.Fatalf("slow request got %q", body)
	}
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 2})
	if f.counts.stale.Load() != 1 || f.counts.retried.Load() != 2 {
		t.Errorf("retried %d (stale %d), want 2 (stale 1)", f.counts.retried.Load(), f.counts.stale.Load())
	}
}

func TestLoopGuard(t *testing.T) {
	f := newFixture(t, nil, nil)
	var hits atomic.Int64
	f.srv.resource = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/always401" {
			hits.Add(1)
		}
	}
	status, body, err := f.get("/api/always401")
	if err != nil || status != http.StatusUnauthorized {
		t.Fatalf("got %d %q %v, want the second 401", status, body, err)
	}
	if !strings.Contains(body, "invalid_token") {
		t.Errorf("401 body not passed through: %q", body)
	}
	if hits.Load() != 2 {
		t.Errorf("resource hit %d times, want 2 (one retry)", hits.Load())
	}
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 2})
}

func TestCallersGiveUpRefreshCompletes(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	f := newFixture(t, func(s *authServer) {
		s.opaque = true
		s.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool {
			close(arrived)
			<-release
			return false
		}
	}, nil)
	f.counts.refreshedCh = make(chan RefreshInfo, 1)
	f.expire()
	ctx, cancel := context.WithCancel(context.Background())
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/api/me", nil)
			if _, _, err := f.do(req); !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want context.Canceled", err)
			}
		}()
	}
	<-arrived
	cancel()
	wg.Wait()
	close(release)
	select {
	case <-f.counts.refreshedCh:
	case <-time.After(30 * time.Second):
		t.Fatal("the refresh did not complete after its callers left")
	}
	if got, want := f.stored().RefreshToken, f.srv.currentRefreshToken(f.first.RefreshToken); got != want {
		t.Errorf("store holds %q, want the rotated %q", got, want)
	}
	f.mustGet("/api/me", 200)
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: f.srv.Stats().Unauthorized})
}

func TestBodyReplay(t *testing.T) {
	f := newFixture(t, func(s *authServer) { s.opaque = true }, nil)
	f.expire()
	payload := strings.Repeat("payload-", 1000)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/api/echo", strings.NewReader(payload))
	status, body, err := f.do(req)
	if err != nil || status != 200 || body != "echo "+payload {
		t.Fatalf("got %d %.40q %v", status, body, err)
	}
	// The 401 answer came before the body was read; the retry carried it.
	bodies := f.srv.Bodies()
	if len(bodies) != 1 || bodies[0] != payload {
		t.Fatalf("server read %d bodies, want the payload once after the retry", len(bodies))
	}
	// Now a 401 after the body was read: the server sees it twice.
	f.expire()
	f.srv.resource = func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		f.srv.mu.Lock()
		f.srv.bodies = append(f.srv.bodies, "seen:"+string(b))
		f.srv.mu.Unlock()
	}
	req, _ = http.NewRequest(http.MethodPost, f.srv.URL+"/api/echo", strings.NewReader(payload))
	if status, body, err := f.do(req); err != nil || status != 200 || body != "echo "+payload {
		t.Fatalf("got %d %.40q %v", status, body, err)
	}
	bodies = f.srv.Bodies()[1:]
	if len(bodies) != 3 || bodies[0] != "seen:"+payload || bodies[1] != "seen:"+payload || bodies[2] != payload {
		t.Errorf("server saw %d bodies; want the same bytes on both sends", len(bodies))
	}
}

func TestNonReplayableBody(t *testing.T) {
	f := newFixture(t, func(s *authServer) { s.opaque = true }, nil)
	f.expire()
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("streamed"))
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/api/echo", pr)
	if req.GetBody != nil {
		t.Fatal("a pipe should not be replayable")
	}
	status, _, err := f.do(req)
	if err != nil || status != http.StatusUnauthorized {
		t.Fatalf("got %d %v, want the 401", status, err)
	}
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 1})
	// The next request has the new token and goes through first time.
	f.mustGet("/api/me", 200)
	if f.srv.Stats().Unauthorized != 1 || f.counts.retried.Load() != 0 {
		t.Errorf("the refreshed token was not used for the next request")
	}
}

func TestRedirects(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer other.Close()
	f := newFixture(t, nil, nil)

	t.Run("to another host", func(t *testing.T) {
		status, _, err := f.get("/api/redirect?to=" + other.URL + "/x")
		if err != nil || status != http.StatusUnauthorized {
			t.Fatalf("got %d %v; want the other host's 401 untouched", status, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 1 || seen[0] != "" {
			t.Errorf("other host saw Authorization %q", seen)
		}
	})
	t.Run("same origin", func(t *testing.T) {
		f.mustGet("/api/redirect?to=/api/me", 200)
	})
	t.Run("401 from another origin", func(t *testing.T) {
		resp, err := f.client.Get(other.URL + "/y")
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("got %v %v", resp, err)
		}
		resp.Body.Close()
	})
	wantStats(t, f.srv.Stats(), serverStats{})
	if f.counts.unauthorized.Load() != 0 {
		t.Errorf("a 401 from another origin reached the refresh logic")
	}
}

func TestNoRefreshFor403And503(t *testing.T) {
	f := newFixture(t, nil, nil)
	for path, want := range map[string]int{"/api/forbidden": 403, "/api/busy": 503} {
		resp, err := f.client.Get(f.srv.URL + path)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("%s: %v %v", path, resp, err)
		}
		if path == "/api/busy" && resp.Header.Get("Retry-After") != "1" {
			t.Errorf("Retry-After lost")
		}
		resp.Body.Close()
	}
	wantStats(t, f.srv.Stats(), serverStats{})
}

func TestInvalidGrant(t *testing.T) {
	f := newFixture(t, func(s *authServer) { s.opaque = true }, nil)
	f.srv.revokeAll()
	f.expire()
	_, _, err := f.get("/api/me")
	if !errors.Is(err, ErrLoginRequired) {
		t.Fatalf("got %v, want ErrLoginRequired", err)
	}
	var re *ResponseError
	if !errors.As(err, &re) || re.Code != "invalid_grant" || re.StatusCode != 400 {
		t.Errorf("want the invalid_grant *ResponseError, got %#v", re)
	}
	if _, err := f.store.Load(context.Background()); !errors.Is(err, ErrNoToken) {
		t.Errorf("store not cleared: %v", err)
	}
	// No session: the next request fails without reaching the server.
	if _, _, err := f.get("/api/me"); !errors.Is(err, ErrLoginRequired) || !errors.Is(err, ErrNoToken) {
		t.Errorf("second request: %v", err)
	}
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rejected: 1, Unauthorized: 1})
	if f.counts.loginRequired.Load() != 2 {
		t.Errorf("LoginRequired hook called %d times, want 2", f.counts.loginRequired.Load())
	}
	// A new login saved by the application is picked up.
	if err := f.store.Save(context.Background(), f.srv.login()); err != nil {
		t.Fatal(err)
	}
	f.mustGet("/api/me", 200)
}

func TestRefreshUnavailable(t *testing.T) {
	t.Run("5xx retried with the same key", func(t *testing.T) {
		var failures atomic.Int64
		f := newFixture(t, func(s *authServer) {
			s.opaque = true
			s.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool {
				if failures.Add(1) <= 2 {
					oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "")
					return true
				}
				return false
			}
		}, nil)
		f.expire()
		f.mustGet("/api/me", 200)
		wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 3, Rotations: 1, Unauthorized: 1})
		keys := f.srv.Keys()
		if len(keys) != 3 || keys[0] == "" || keys[0] != keys[1] || keys[1] != keys[2] {
			t.Errorf("attempts carried keys %q; want one non-empty key", keys)
		}
	})
	t.Run("503 with a long Retry-After", func(t *testing.T) {
		down := atomic.Bool{}
		down.Store(true)
		f := newFixture(t, func(s *authServer) {
			s.opaque = true
			s.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool {
				if down.Load() {
					w.Header().Set("Retry-After", "120")
					oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "store down")
					return true
				}
				return false
			}
		}, nil)
		f.expire()
		_, _, err := f.get("/api/me")
		var re *ResponseError
		if !errors.Is(err, ErrRefreshUnavailable) || errors.Is(err, ErrLoginRequired) ||
			!errors.As(err, &re) || re.RetryAfter != 120*time.Second {
			t.Fatalf("got %v, want ErrRefreshUnavailable with Retry-After 120s", err)
		}
		if got := f.stored(); got.RefreshToken != f.first.RefreshToken || got.IdempotencyKey == "" {
			t.Errorf("tokens not kept, or key not saved: %v", got)
		}
		// Within Retry-After nothing is sent.
		if _, _, err := f.get("/api/me"); !errors.Is(err, ErrRefreshUnavailable) {
			t.Fatalf("got %v", err)
		}
		if got := f.srv.Stats().RefreshRequests; got != 1 {
			t.Errorf("%d refresh requests within Retry-After, want 1", got)
		}
		down.Store(false)
		f.clock.Advance(121 * time.Second)
		f.mustGet("/api/me", 200)
		keys := f.srv.Keys()
		if len(keys) != 2 || keys[0] != keys[1] {
			t.Errorf("keys %q; the later refresh must resume with the saved key", keys)
		}
		if f.counts.resumed.Load() != 1 {
			t.Errorf("refresh not reported as resumed")
		}
	})
	t.Run("5xx saying invalid_grant", func(t *testing.T) {
		f := newFixture(t, func(s *authServer) {
			s.opaque = true
			s.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool {
				oauthError(w, http.StatusInternalServerError, "invalid_grant", "confused proxy")
				return true
			}
		}, nil)
		f.expire()
		if _, _, err := f.get("/api/me"); !errors.Is(err, ErrRefreshUnavailable) || errors.Is(err, ErrLoginRequired) {
			t.Fatalf("got %v, want ErrRefreshUnavailable only", err)
		}
		if f.stored().RefreshToken != f.first.RefreshToken {
			t.Error("an outage cleared the session")
		}
		if got := f.srv.Stats().RefreshRequests; got != 4 {
			t.Errorf("%d attempts, want 4", got)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		f := newFixture(t, func(s *authServer) { s.opaque = true }, nil)
		f.expire()
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + lis.Addr().String() + "/auth/token"
		lis.Close()
		tr, err := New(dead, f.store, WithOrigins(f.srv.URL), WithClock(f.clock.Now),
			WithRefreshRetries(2, time.Millisecond, time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		_, err = (&http.Client{Transport: tr}).Get(f.srv.URL + "/api/me")
		if !errors.Is(err, ErrRefreshUnavailable) {
			t.Fatalf("got %v", err)
		}
		if f.stored().RefreshToken != f.first.RefreshToken {
			t.Error("tokens not kept")
		}
	})
}

func TestLostRefreshResponse(t *testing.T) {
	var dropped atomic.Bool
	f := newFixture(t, func(s *authServer) {
		s.opaque = true
		s.afterRotate = func(w http.ResponseWriter, r *http.Request) bool {
			if dropped.Swap(true) {
				return false
			}
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return false
			}
			conn.Close() // the rotation happened; its answer is lost
			return true
		}
	}, nil)
	f.expire()
	f.mustGet("/api/me", 200)
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 2, Rotations: 1, Replays: 1, Unauthorized: 1})
	keys := f.srv.Keys()
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("keys %q; want the same key twice", keys)
	}
	// The byte-identical child is current and stored: the session lives on.
	if got, want := f.stored().RefreshToken, f.srv.currentRefreshToken(f.first.RefreshToken); got != want {
		t.Errorf("stored %q, want %q", got, want)
	}
	f.expire()
	f.mustGet("/api/me", 200)
	if got := f.srv.Stats(); got.Reuses != 0 || got.Rotations != 2 {
		t.Errorf("after the lost response: %+v", got)
	}
}

func TestRefreshRequestBypassesTransport(t *testing.T) {
	f := newFixture(t, func(s *authServer) { s.opaque = true }, nil)
	f.expire()
	f.mustGet("/api/me", 200)
	if got := f.srv.Stats().AuthOnRefresh; got != 0 {
		t.Errorf("%d refresh requests carried an access token", got)
	}
}

// failingStore fails Save after the first `ok` calls.
type failingStore struct {
	*MemoryStore
	ok    atomic.Int64
	saves atomic.Int64
}

func (s *failingStore) Save(ctx context.Context, tok *Token) error {
	if s.saves.Add(1) > s.ok.Load() {
		return errors.New("disk full")
	}
	return s.MemoryStore.Save(ctx, tok)
}

func TestSaveFailureNeverResendsOldRefreshToken(t *testing.T) {
	store := &failingStore{MemoryStore: &MemoryStore{}}
	store.ok.Store(1) // the login's save
	f := newFixture(t, func(s *authServer) { s.opaque = true }, store)
	for round := 1; round <= 3; round++ {
		f.expire()
		f.mustGet("/api/me", 200)
		if got := f.srv.Stats(); got.Rotations != round || got.Reuses != 0 {
			t.Fatalf("round %d: %+v", round, got)
		}
	}
	// The store never took a save, so it still holds the first, long spent
	// refresh token; the Transport went on from memory.
	if f.stored().RefreshToken != f.first.RefreshToken {
		t.Error("store changed although every save failed")
	}
	if f.counts.saveFailed.Load() != 6 { // key and result, three rounds
		t.Errorf("SaveFailed hook called %d times, want 6", f.counts.saveFailed.Load())
	}
	// Once saving works again, the store catches up.
	store.ok.Store(1 << 30)
	f.expire()
	f.mustGet("/api/me", 200)
	if got, want := f.stored().RefreshToken, f.srv.currentRefreshToken(f.first.RefreshToken); got != want {
		t.Errorf("stored %q, want %q", got, want)
	}
}

func TestTransportsSharingAStoreAdopt(t *testing.T) {
	f := newFixture(t, func(s *authServer) { s.opaque = true }, nil)
	second, err := New(f.srv.tokenURL(), f.store, WithClock(f.clock.Now), WithHooks(f.counts.hooks()))
	if err != nil {
		t.Fatal(err)
	}
	c2 := &http.Client{Transport: second}
	if resp, err := c2.Get(f.srv.URL + "/api/me"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	f.expire()
	f.mustGet("/api/me", 200) // the first Transport refreshes
	resp, err := c2.Get(f.srv.URL + "/api/me")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 2})
	if f.counts.adopted.Load() != 1 {
		t.Errorf("adopted %d times, want 1", f.counts.adopted.Load())
	}
}

func TestInvalidGrantKeepsTokensAPeerSaved(t *testing.T) {
	var f *fixture
	var peer *Token
	f = newFixture(t, func(s *authServer) {
		s.opaque = true
		s.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool {
			// Meanwhile the user logged in again elsewhere; this session
			// was revoked.
			peer = f.srv.login()
			f.store.Save(context.Background(), peer)
			f.srv.mu.Lock()
			f.srv.families[f.first.RefreshToken].revoked = true
			f.srv.mu.Unlock()
			return false
		}
	}, nil)
	f.expire()
	f.mustGet("/api/me", 200)
	if got := f.stored(); got.RefreshToken != peer.RefreshToken {
		t.Errorf("the peer's tokens were not kept")
	}
	if f.counts.loginRequired.Load() != 0 {
		t.Error("login required reported although a peer's session exists")
	}
}

func TestRefreshTokenOnly(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.store.Save(context.Background(), &Token{RefreshToken: f.first.RefreshToken})
	f.mustGet("/api/me", 200)
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1})
}

// closeTracker records whether a request body was closed.
type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error { c.closed.Store(true); return nil }

type errRoundTripper struct{}

func (errRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, errors.New("network down")
}

func TestRequestUnmodifiedAndBodyClosed(t *testing.T) {
	srv := newAuthServer(t, time.Now)
	tok := srv.login()
	cases := []struct {
		name    string
		store   Store
		base    http.RoundTripper
		url     string
		wantErr error
	}{
		{name: "success", store: NewMemoryStore(tok), url: srv.URL + "/api/echo"},
		{name: "no session", store: &MemoryStore{}, url: srv.URL + "/api/echo", wantErr: ErrLoginRequired},
		{name: "base fails", store: NewMemoryStore(tok), base: errRoundTripper{}, url: srv.URL + "/api/echo"},
		{name: "other origin", store: NewMemoryStore(tok), url: "http://127.0.0.1:1/x"},
		{name: "401 not replayable", store: NewMemoryStore(tok), url: srv.URL + "/api/always401"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(srv.tokenURL(), tc.store, WithBase(tc.base))
			if err != nil {
				t.Fatal(err)
			}
			body := &closeTracker{Reader: strings.NewReader("data")}
			req, _ := http.NewRequest(http.MethodPost, tc.url, body)
			req.Header.Set("X-Keep", "1")
			resp, err := tr.RoundTrip(req)
			if resp != nil {
				resp.Body.Close()
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("got %v, want %v", err, tc.wantErr)
			}
			if !body.closed.Load() {
				t.Error("request body not closed")
			}
			if len(req.Header) != 1 || req.Header.Get("X-Keep") != "1" {
				t.Errorf("caller's header modified: %v", req.Header)
			}
		})
	}
}

func TestOwnAuthorizationPassesThrough(t *testing.T) {
	f := newFixture(t, nil, nil)
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer someone-elses")
	status, _, err := f.do(req)
	if err != nil || status != http.StatusUnauthorized {
		t.Fatalf("got %d %v; the caller's own credentials must be sent as is", status, err)
	}
	wantStats(t, f.srv.Stats(), serverStats{Unauthorized: 1})
}

func TestAnyUnauthorized(t *testing.T) {
	for _, any := range []bool{false, true} {
		f := newFixture(t, func(s *authServer) { s.opaque = true }, nil, func(t *Transport) {
			if any {
				WithAnyUnauthorized()(t)
			}
		})
		f.srv.resource = func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/bare" && r.Header.Get("Authorization") == "Bearer "+f.first.AccessToken {
				w.WriteHeader(http.StatusUnauthorized) // no challenge at all
			}
		}
		status, _, err := f.get("/api/bare")
		want := map[bool]int{false: 401, true: 200}[any]
		if err != nil || status != want {
			t.Errorf("any=%v: got %d %v, want %d", any, status, err, want)
		}
	}
}

func TestNew(t *testing.T) {
	store := &MemoryStore{}
	for _, tc := range []struct {
		name string
		url  string
		opts []Option
		ok   bool
	}{
		{"https", "https://auth.example.com/token", nil, true},
		{"loopback http", "http://127.0.0.1:8080/token", nil, true},
		{"localhost http", "http://localhost/token", nil, true},
		{"remote http", "http://auth.example.com/token", nil, false},
		{"remote http allowed", "http://auth.example.com/token", []Option{WithInsecureHTTP()}, true},
		{"relative", "/token", nil, false},
		{"ftp", "ftp://example.com/token", nil, false},
		{"userinfo", "https://u:p@example.com/token", nil, false},
		{"fragment", "https://example.com/token#x", nil, false},
		{"garbage", "https://[::1", nil, false},
		{"bad origin", "https://example.com/token", []Option{WithOrigins("http://api.example.com")}, false},
		{"origins", "https://example.com/token", []Option{WithOrigins("https://api.example.com", "https://b.example.com:8443")}, true},
		{"negative skew", "https://example.com/token", []Option{WithExpirySkew(-1)}, false},
		{"zero timeout", "https://example.com/token", []Option{WithRefreshTimeout(0)}, false},
		{"zero attempts", "https://example.com/token", []Option{WithRefreshRetries(0, 0, 0)}, false},
		{"backoff range", "https://example.com/token", []Option{WithRefreshRetries(2, time.Second, time.Millisecond)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.url, store, tc.opts...)
			if (err == nil) != tc.ok {
				t.Errorf("New(%q) error %v, want ok=%v", tc.url, err, tc.ok)
			}
		})
	}
	if _, err := New("https://example.com/token", nil); err == nil {
		t.Error("nil store accepted")
	}
	var zero Transport
	if _, err := zero.RoundTrip(httptest.NewRequest("GET", "https://example.com/", nil)); err == nil {
		t.Error("zero Transport sent a request")
	}
}

func TestOrigins(t *testing.T) {
	tr, err := New("https://auth.example.com/token", &MemoryStore{},
		WithOrigins("https://API.example.com", "https://b.example.com:8443", "http://[::1]:9000"))
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]bool{
		"https://api.example.com/x":      true,
		"https://api.example.com:443/x":  true,
		"HTTPS://Api.Example.com/x":      true,
		"http://api.example.com/x":       false,
		"https://api.example.com:8443/x": false,
		"https://auth.example.com/token": false, // replaced by WithOrigins
		"https://b.example.com:8443/":    true,
		"https://b.example.com/":         false,
		"https://api.example.com.evil/":  false,
		"http://[::1]:9000/":             true,
		"http://[::1]/":                  false,
	} {
		req := httptest.NewRequest("GET", raw, nil)
		req.Header = http.Header{}
		if got := tr.authorizes(req); got != want {
			t.Errorf("%s: authorizes = %v, want %v", raw, got, want)
		}
	}
}

func TestLogsNeverContainSecrets(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var calls atomic.Int64
	f := newFixture(t, func(s *authServer) {
		s.opaque = true
		s.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool {
			if calls.Add(1) == 1 {
				oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "")
				return true
			}
			return false
		}
	}, nil, WithLogger(logger))
	f.expire()
	f.mustGet("/api/me", 200) // a failed attempt, a retry, a refresh
	f.srv.revokeAll()
	f.expire()
	if _, _, err := f.get("/api/me"); !errors.Is(err, ErrLoginRequired) {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{"retrying", "tokens refreshed", "login required"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the log", want)
		}
	}
	secrets := f.srv.Keys()
	f.srv.mu.Lock()
	for at := range f.srv.access {
		secrets = append(secrets, at)
	}
	for rt := range f.srv.families {
		secrets = append(secrets, rt)
	}
	f.srv.mu.Unlock()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the log contains a token or key: %s", out)
		}
	}
}

func TestRefreshFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   func(w http.ResponseWriter)
		want     error
		attempts int
	}{
		{"garbage 200", func(w http.ResponseWriter) { io.WriteString(w, "<html>") }, ErrInvalidResponse, 1},
		{"200 without token", func(w http.ResponseWriter) { io.WriteString(w, `{"token_type":"Bearer"}`) }, ErrInvalidResponse, 1},
		{"oversized 200", func(w http.ResponseWriter) { w.Write(bytes.Repeat([]byte(" "), maxResponseBytes+10)) }, ErrInvalidResponse, 1},
		{"invalid_request", func(w http.ResponseWriter) { oauthError(w, 400, "invalid_request", "") }, nil, 1},
		{"redirect", func(w http.ResponseWriter) { w.Header().Set("Location", "/elsewhere"); w.WriteHeader(302) }, nil, 1},
		{"429", func(w http.ResponseWriter) { w.WriteHeader(429) }, ErrRefreshUnavailable, 4},
		{"truncated", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, `{"access_token":`)
		}, ErrRefreshUnavailable, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(s *authServer) {
				s.opaque = true
				s.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool { tc.answer(w); return true }
			}, nil)
			f.expire()
			_, _, err := f.get("/api/me")
			var re *ResponseError
			switch {
			case err == nil || errors.Is(err, ErrLoginRequired):
				t.Fatalf("got %v", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("got %v, want %v", err, tc.want)
			case tc.want == nil && !errors.As(err, &re):
				t.Errorf("got %v, want a *ResponseError", err)
			}
			if got := f.srv.Stats().RefreshRequests; got != tc.attempts {
				t.Errorf("%d attempts, want %d", got, tc.attempts)
			}
			if f.stored().RefreshToken != f.first.RefreshToken {
				t.Error("tokens not kept")
			}
		})
	}
}

func TestProactiveRefreshFailureKeepsValidToken(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	f := newFixture(t, func(s *authServer) {
		s.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool {
			if down.Load() {
				w.WriteHeader(http.StatusBadGateway)
				return true
			}
			return false
		}
	}, nil)
	f.clock.Advance(4*time.Minute + 45*time.Second) // within the skew, not expired
	f.mustGet("/api/me", 200)
	f.mustGet("/api/me", 200) // within the backoff: no new attempt
	if got := f.srv.Stats().RefreshRequests; got != 4 {
		t.Errorf("%d refresh attempts, want 4", got)
	}
	f.clock.Advance(time.Minute) // expired now
	if _, _, err := f.get("/api/me"); !errors.Is(err, ErrRefreshUnavailable) {
		t.Fatalf("got %v, want ErrRefreshUnavailable", err)
	}
	if got := f.srv.Stats(); got.RefreshRequests != 8 || got.Unauthorized != 0 {
		t.Errorf("server saw %+v; an expired token must not be sent", got)
	}
	down.Store(false)
	f.clock.Advance(time.Second)
	f.mustGet("/api/me", 200)
	if keys := f.srv.Keys(); keys[0] != keys[8] {
		t.Error("the successful refresh did not reuse the pending key")
	}
}
