package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// plainStore is a Store without a Locker: only the Transport's own
// single-flight keeps its requests from redeeming the token twice.
type plainStore struct{ m memoryStore }

func (s *plainStore) Load(ctx context.Context) (*Token, error)   { return s.m.Load(ctx) }
func (s *plainStore) Save(ctx context.Context, tok *Token) error { return s.m.Save(ctx, tok) }
func (s *plainStore) Clear(ctx context.Context) error            { return s.m.Clear(ctx) }

func TestConcurrent401sShareOneRefresh(t *testing.T) {
	dpopModes(t, func(t *testing.T, dpop bool) {
		t.Run("locking store", func(t *testing.T) { testConcurrent401s(t, &memoryStore{}, dpop) })
		t.Run("plain store", func(t *testing.T) { testConcurrent401s(t, &plainStore{}, dpop) })
	})
}

func testConcurrent401s(t *testing.T, store Store, dpop bool) {
	const n = 500
	var gate sync.WaitGroup
	gate.Add(n)
	f := newFixture(t, func(s *authServer) {
		s.dpop = dpop
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
	if dpop {
		// Each request's first try and its retry, and the refresh.
		wantProofs(t, f.srv, 2*n+1, 0, 0)
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
	case <-time.After(time.Minute):
		t.Fatal("the refresh did not complete after its callers left")
	}
	if got, want := f.stored().RefreshToken, f.srv.currentRefreshToken(f.first.RefreshToken); got != want {
		t.Errorf("store holds %q, want the rotated %q", got, want)
	}
	f.mustGet("/api/me", 200)
	// How many of the n callers had their 401 before they left depends on
	// scheduling; at least the one whose refresh arrived did.
	st := f.srv.Stats()
	if st.Unauthorized < 1 || st.Unauthorized > n {
		t.Errorf("server answered %d requests with 401; want 1 to %d", st.Unauthorized, n)
	}
	st.Unauthorized = 0
	wantStats(t, st, serverStats{RefreshRequests: 1, Rotations: 1})
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
		{name: "no session", store: &memoryStore{}, url: srv.URL + "/api/echo", wantErr: ErrLoginRequired},
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
			if tc.name == "success" && (err != nil || resp.StatusCode != http.StatusOK) {
				t.Fatalf("success: %v, %v", resp, err)
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
		f := newFixture(t, func(s *authServer) { s.opaque = true }, nil, func(c *config) error {
			if any {
				return WithAnyUnauthorized()(c)
			}
			return nil
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
	store := &memoryStore{}
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
		{"negative skew", "https://example.com/token", []Option{withExpirySkew(-1)}, false},
		{"zero timeout", "https://example.com/token", []Option{withRefreshTimeout(0)}, false},
		{"zero attempts", "https://example.com/token", []Option{withRefreshRetries(0, 0, 0)}, false},
		{"backoff range", "https://example.com/token", []Option{withRefreshRetries(2, time.Second, time.Millisecond)}, false},
		{"nil option", "https://example.com/token", []Option{withExpirySkew(0), nil}, false},
		{"wildcard origin", "https://example.com/token", []Option{WithOrigins("https://*.example.com")}, false},
		{"wildcard among origins", "https://example.com/token", []Option{WithOrigins("https://api.example.com", "https://*")}, false},
		{"leading-dot origin", "https://example.com/token", []Option{WithOrigins("https://.example.com")}, false},
		{"wildcard refresh URL", "https://*.example.com/token", nil, false},
		{"no origins", "https://example.com/token", []Option{WithOrigins()}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.url, store, tc.opts...)
			if (err == nil) != tc.ok {
				t.Errorf("New(%q) error %v, want ok=%v", tc.url, err, tc.ok)
			}
		})
	}
	for _, store := range []Store{nil, (*memoryStore)(nil), (*fileStore)(nil), storeFunc(nil)} {
		if _, err := New("https://example.com/token", store); err == nil {
			t.Errorf("nil store %T accepted", store)
		}
	}
	// The usual way to get one: the constructor's error ignored. The
	// constructor returns a nil Store, and the error names the likely cause.
	fileStore, _ := NewFileStore(os.Getenv("JWTREFRESH_TEST_UNSET_VARIABLE"))
	if _, err := New("https://example.com/token", fileStore); err == nil || !strings.Contains(err.Error(), "constructor") {
		t.Errorf("New with the nil Store of a failed NewFileStore: %v; want an error naming the constructor", err)
	}
	var zero Transport
	if _, err := zero.RoundTrip(httptest.NewRequest("GET", "https://example.com/", nil)); err == nil {
		t.Error("zero Transport sent a request")
	}
}

func TestOrigins(t *testing.T) {
	tr, err := New("https://auth.example.com/token", &memoryStore{},
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

// TestNoRefreshTokenUsedUntilExpiry: a session without a refresh token is
// used until its access token expires, not refused at expiry minus the skew.
func TestNoRefreshTokenUsedUntilExpiry(t *testing.T) {
	for _, tc := range []struct {
		name string
		tok  func(first *Token) *Token
	}{
		{"expiry stored", func(first *Token) *Token { return &Token{AccessToken: first.AccessToken, Expiry: first.Expiry} }},
		{"jwt exp only", func(first *Token) *Token { return &Token{AccessToken: first.AccessToken} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, nil)
			stored := tc.tok(f.first)
			if err := f.store.Save(context.Background(), stored); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(4*time.Minute + 50*time.Second) // within the 30 s skew
			f.mustGet("/api/me", 200)
			f.clock.Advance(11 * time.Second) // expired
			if _, _, err := f.get("/api/me"); !errors.Is(err, ErrLoginRequired) {
				t.Fatalf("after expiry: %v, want ErrLoginRequired", err)
			}
			wantStats(t, f.srv.Stats(), serverStats{}) // nothing refreshed, the expired token not sent
			if got := f.stored(); *got != *stored {
				t.Errorf("store changed to %v", got)
			}
		})
	}
}

// TestRefusedTokensDoNotStormTheTokenEndpoint: a server that refuses even
// freshly refreshed tokens costs one refresh a minute, not one per request;
// tokens that worked still refresh at their first 401.
func TestRefusedTokensDoNotStormTheTokenEndpoint(t *testing.T) {
	f := newFixture(t, func(s *authServer) { s.opaque = true }, nil)
	// The first request refreshes once and sends again; the retry, with
	// the fresh token, is refused as well. The next ones are not refreshed.
	for i := range 5 {
		status, _, err := f.get("/api/always401")
		if err != nil || status != http.StatusUnauthorized {
			t.Fatalf("request %d: %d %v, want the 401", i, status, err)
		}
	}
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 6})
	if got := f.counts.unauthorized.Load(); got != 1 {
		t.Errorf("Unauthorized hook called %d times, want 1", got)
	}
	// Other endpoints accept the token meanwhile.
	f.mustGet("/api/me", 200)

	// A minute later, a 401 refreshes again, once.
	f.clock.Advance(refusedWindow)
	for range 3 {
		f.get("/api/always401")
	}
	if got := f.srv.Stats().RefreshRequests; got != 2 {
		t.Errorf("%d refreshes after the window, want 2", got)
	}

	// Tokens whose first use succeeded are refreshed at their first 401.
	f.clock.Advance(refusedWindow)
	for want := 3; want <= 5; want++ {
		f.expire()
		f.mustGet("/api/me", 200)
		if got := f.srv.Stats().RefreshRequests; got != want {
			t.Fatalf("%d refreshes, want %d", got, want)
		}
	}
}

// TestClientClockAheadDoesNotRefreshEveryRequest: JWTs without expires_in
// and a client clock ten minutes ahead of the server's.
func TestClientClockAheadDoesNotRefreshEveryRequest(t *testing.T) {
	for _, tc := range []struct {
		name         string
		stored       func(first *Token) *Token
		wantRefresh1 int // refreshes for the first requests
	}{
		// The login response was read by the client whose clock is
		// behind by ten minutes: the token looks expired to it, once.
		{"login read with the server's clock", func(first *Token) *Token { return first }, 1},
		// A token stored without expiry: its exp looks past; wait for a 401.
		{"stored without expiry", func(first *Token) *Token {
			return &Token{AccessToken: first.AccessToken, RefreshToken: first.RefreshToken}
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f *fixture
			ahead := WithClock(func() time.Time { return f.clock.Now().Add(10 * time.Minute) })
			f = newFixture(t, func(s *authServer) { s.omitExpiresIn = true }, nil, ahead)
			if err := f.store.Save(context.Background(), tc.stored(f.first)); err != nil {
				t.Fatal(err)
			}
			for range 5 {
				f.mustGet("/api/me", 200)
			}
			if got := f.srv.Stats().RefreshRequests; got != tc.wantRefresh1 {
				t.Errorf("%d refreshes for 5 requests, want %d", got, tc.wantRefresh1)
			}
			// The server expires the token: one refresh, and its tokens
			// last their lifetime from when they arrived.
			f.expire()
			for range 5 {
				f.mustGet("/api/me", 200)
			}
			if got := f.srv.Stats().RefreshRequests; got != tc.wantRefresh1+1 {
				t.Errorf("%d refreshes, want %d", got, tc.wantRefresh1+1)
			}
			f.clock.Advance(4*time.Minute + 31*time.Second) // past the skew of the new token
			f.mustGet("/api/me", 200)
			if got := f.srv.Stats(); got.RefreshRequests != tc.wantRefresh1+2 || got.Unauthorized != 1 {
				t.Errorf("server saw %+v; want one proactive refresh", got)
			}
		})
	}
}

// storeFunc is a Store of a nilable kind other than a pointer.
type storeFunc func() (*Token, error)

func (f storeFunc) Load(context.Context) (*Token, error) { return f() }
func (storeFunc) Save(context.Context, *Token) error     { return nil }
func (storeFunc) Clear(context.Context) error            { return nil }

// TestNewErrorsShowNoCredentials: a URL New refuses is never echoed with its
// password, whichever check refuses it, and the message says "transport:"
// once.
func TestNewErrorsShowNoCredentials(t *testing.T) {
	const secret = "s3cretpw"
	for _, raw := range []string{
		"https://user:" + secret + "@auth.example.com/token",
		"http://user:" + secret + "@auth.example.com/token",
		"ftp://user:" + secret + "@auth.example.com/token",
		"https://user:" + secret + "@*.example.com/token",
		"https://user:" + secret + "@auth.example.com/token#frag",
		"https://user:" + secret + "@auth.exa mple.com/token",
		"https://user:" + secret + "%zz@auth.example.com/token",
		"https://user:" + secret + "@auth.example.com:xx/token",
		"https://user:" + secret + "@[::1",
	} {
		for name, call := range map[string]func() error{
			"refresh URL": func() error { _, err := New(raw, &memoryStore{}); return err },
			"origin": func() error {
				_, err := New("https://auth.example.com/token", &memoryStore{}, WithOrigins(raw))
				return err
			},
		} {
			err := call()
			if err == nil {
				t.Errorf("%s %q accepted", name, raw)
				continue
			}
			msg := err.Error()
			if strings.Contains(msg, secret) || strings.Contains(msg, secret[:4]) {
				t.Errorf("%s: the error shows the password: %s", name, msg)
			}
			if n := strings.Count(msg, "transport:"); n != 1 {
				t.Errorf("%s: %q says \"transport:\" %d times", name, msg, n)
			}
		}
	}
}

// TestErrorsSayTransportOnce: errors that wrap the package's own errors
// start with "transport:" once and still match their sentinels.
func TestErrorsSayTransportOnce(t *testing.T) {
	ctx := context.Background()
	tr, err := New("https://auth.example.com/token", &memoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.RoundTrip(httptest.NewRequest("GET", "https://auth.example.com/x", nil))
	if !errors.Is(err, ErrLoginRequired) || !errors.Is(err, ErrNoToken) {
		t.Fatalf("empty store: %v; want ErrLoginRequired and ErrNoToken", err)
	}
	if n := strings.Count(err.Error(), "transport:"); n != 1 {
		t.Errorf("%q says \"transport:\" %d times", err, n)
	}
	_, err = tr.Session(ctx)
	if n := strings.Count(err.Error(), "transport:"); n != 1 || !errors.Is(err, ErrNoToken) {
		t.Errorf("Session: %q says \"transport:\" %d times", err, n)
	}
	re := &ResponseError{StatusCode: 503, Description: "down"}
	wrapped := errorf("%w: %w", ErrRefreshUnavailable, re)
	var got *ResponseError
	if !errors.As(wrapped, &got) || got != re || !errors.Is(wrapped, ErrRefreshUnavailable) {
		t.Errorf("errorf lost the wrapped errors: %v", wrapped)
	}
	if want := "transport: token refresh temporarily unavailable: token endpoint answered 503 (down)"; wrapped.Error() != want {
		t.Errorf("got %q, want %q", wrapped, want)
	}
	if attr := logError(wrapped); strings.Contains(attr.Value.String(), "down") {
		t.Errorf("the log line shows the server's description: %s", attr.Value)
	}
}
