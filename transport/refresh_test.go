package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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
	t.Run("5xx retried with the same key", testRefresh5xxRetried)
	t.Run("503 with a long Retry-After", testRefreshLongRetryAfter)
	t.Run("5xx saying invalid_grant", testRefresh5xxInvalidGrant)
	t.Run("unreachable", testRefreshUnreachable)
}

func testRefresh5xxRetried(t *testing.T) {
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
}

func testRefreshLongRetryAfter(t *testing.T) {
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
}

func testRefresh5xxInvalidGrant(t *testing.T) {
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
}

func testRefreshUnreachable(t *testing.T) {
	f := newFixture(t, func(s *authServer) { s.opaque = true }, nil)
	f.expire()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + lis.Addr().String() + "/auth/token"
	lis.Close()
	tr, err := New(dead, f.store, WithOrigins(f.srv.URL), WithClock(f.clock.Now),
		withRefreshRetries(2, time.Millisecond, time.Millisecond))
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

type failingStore struct {
	*memoryStore
	ok    atomic.Int64
	saves atomic.Int64
}

func (s *failingStore) Save(ctx context.Context, tok *Token) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.memoryStore.Save(ctx, tok)
}

func (s *failingStore) fail() error {
	if s.saves.Add(1) > s.ok.Load() {
		return errors.New("disk full")
	}
	return nil
}

// Lock forwards the lock, with the failing Save under it.
func (s *failingStore) Lock(ctx context.Context) (Store, func(), error) {
	held, unlock, err := s.memoryStore.Lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	return &failingHeld{Store: held, s: s}, unlock, nil
}

type failingHeld struct {
	Store
	s *failingStore
}

func (h *failingHeld) Save(ctx context.Context, tok *Token) error {
	if err := h.s.fail(); err != nil {
		return err
	}
	return h.Store.Save(ctx, tok)
}

func TestSaveFailureNeverResendsOldRefreshToken(t *testing.T) {
	store := &failingStore{memoryStore: &memoryStore{}}
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

// lockingStore is a Store and Locker that cannot tell the Transport it
// changed: only the re-read under the lock at a refresh notices a peer's
// rotation.
type lockingStore struct{ m memoryStore }

func (s *lockingStore) Load(ctx context.Context) (*Token, error)   { return s.m.Load(ctx) }
func (s *lockingStore) Save(ctx context.Context, tok *Token) error { return s.m.Save(ctx, tok) }
func (s *lockingStore) Clear(ctx context.Context) error            { return s.m.Clear(ctx) }
func (s *lockingStore) inner() Store                               { return &s.m }

func (s *lockingStore) Lock(ctx context.Context) (Store, func(), error) {
	held, unlock, err := s.m.Lock(ctx)
	return struct{ Store }{held}, unlock, err // without its Version
}

func TestTransportsSharingAStoreAdopt(t *testing.T) {
	f := newFixture(t, func(s *authServer) { s.opaque = true }, &lockingStore{})
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
	// Without a lock, a peer can save while the refresh is at the server.
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
	}, &plainStore{})
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
	}, nil, logTo(logger))
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

// TestServerEchoedSecretsScrubbed: a token endpoint that echoes the tokens
// and key it was sent in its error_description leaks none of them into an
// error or a log line, not even a prefix cut at the length limit.
func TestServerEchoedSecretsScrubbed(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		want   error
	}{
		{http.StatusBadRequest, "invalid_grant", ErrLoginRequired},
		{http.StatusServiceUnavailable, "temporarily_unavailable", ErrRefreshUnavailable},
	} {
		t.Run(tc.code, func(t *testing.T) {
			var logs lockedBuffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			var f *fixture
			f = newFixture(t, func(s *authServer) {
				s.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool {
					rt := r.PostForm.Get("refresh_token")
					desc := fmt.Sprintf("refresh token %s (%s) with key %s, for access token %s, is not accepted. ",
						rt, url.QueryEscape(rt), r.Header.Get("Idempotency-Key"), f.first.AccessToken)
					// Once more, straddling the length limit.
					pad := maxDescription - 10 - len(desc)
					if pad < 0 {
						t.Errorf("description too long to straddle the limit: %d bytes", len(desc))
					}
					desc += strings.Repeat("d", max(pad, 0)) + rt
					oauthError(w, tc.status, tc.code, desc)
					return true
				}
			}, nil, logTo(logger))
			f.srv.shape = func(resp map[string]any) { resp["refresh_token"] = "rt/with+chars=" + resp["refresh_token"].(string) }
			f.srv.expireAccess()
			f.first.RefreshToken = "rt/with+" + "chars=" + f.first.RefreshToken
			if err := f.store.Save(context.Background(), f.first); err != nil {
				t.Fatal(err)
			}
			_, _, err := f.get("/api/me")
			var re *ResponseError
			if !errors.Is(err, tc.want) || !errors.As(err, &re) || re.Code != tc.code {
				t.Fatalf("got %v, want %v with a *ResponseError", err, tc.want)
			}
			if !strings.Contains(re.Description, "is not accepted") || !strings.Contains(re.Description, redactedText) {
				t.Errorf("description %q: want the server's text with the secrets redacted", re.Description)
			}
			secrets := append(f.srv.Keys(), f.first.AccessToken, f.first.RefreshToken, url.QueryEscape(f.first.RefreshToken))
			for _, text := range []struct{ name, s string }{{"error", err.Error()}, {"log", logs.String()}} {
				for _, secret := range secrets {
					if strings.Contains(text.s, secret[:minSecret]) {
						t.Errorf("the %s contains (a prefix of) %q: %s", text.name, secret, text.s)
					}
				}
			}
			if strings.Contains(logs.String(), "is not accepted") {
				t.Errorf("the server's description reached the log: %s", logs.String())
			}
			if !strings.Contains(logs.String(), tc.code) {
				t.Errorf("the log does not name the error code: %s", logs.String())
			}
		})
	}
}

// TestRefreshResponseShapes: refresh responses whose expires_in some servers
// send as a string or a float are used, not thrown away with the rotation
// they carry.
func TestRefreshResponseShapes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		expiresIn any
		want      time.Duration // lifetime read; 0: unknown
	}{
		{"string", "300", 300 * time.Second},
		{"float", 300.0, 300 * time.Second},
		{"fraction", 299.5, 299500 * time.Millisecond},
		{"garbage", "soon", 0},
		{"negative", -1, 0},
		{"absurd", 1e300, maxLifetime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(s *authServer) {
				s.opaque = true
				s.shape = func(resp map[string]any) { resp["expires_in"] = tc.expiresIn }
			}, nil)
			f.expire()
			f.mustGet("/api/me", 200)
			got := f.stored()
			var want time.Time
			if tc.want > 0 {
				want = f.clock.Now().Add(tc.want)
			}
			if !got.Expiry.Equal(want) || got.RefreshToken != f.srv.currentRefreshToken(f.first.RefreshToken) {
				t.Errorf("stored %v (expiry %v), want the rotated token expiring %v", got, got.Expiry, want)
			}
			wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 1})
		})
	}
}

// stallingStore is a memory store whose Save of refreshed tokens (once
// firstRT, the login's, is set) blocks, ignoring its context, until stall
// is closed.
type stallingStore struct {
	*memoryStore
	firstRT          string
	stall, stalled   chan struct{}
	returned         chan struct{}
	stalledOnce, ret sync.Once
}

func (s *stallingStore) Save(ctx context.Context, tok *Token) error {
	return s.save(ctx, tok, s.memoryStore.Save)
}

func (s *stallingStore) save(ctx context.Context, tok *Token, save func(context.Context, *Token) error) error {
	if s.firstRT == "" || tok.RefreshToken == s.firstRT || tok.IdempotencyKey != "" {
		return save(ctx, tok)
	}
	s.stalledOnce.Do(func() { close(s.stalled) })
	<-s.stall
	err := save(ctx, tok)
	s.ret.Do(func() { close(s.returned) })
	return err
}

// Lock forwards the lock, with the stalling Save under it.
func (s *stallingStore) Lock(ctx context.Context) (Store, func(), error) {
	held, unlock, err := s.memoryStore.Lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	return &stallingHeld{Store: held, s: s}, unlock, nil
}

type stallingHeld struct {
	Store
	s *stallingStore
}

func (h *stallingHeld) Save(ctx context.Context, tok *Token) error {
	return h.s.save(ctx, tok, h.Store.Save)
}

// TestStalledStoreSaveDoesNotHangTheRefresh: a Save that never returns on
// its own is given up after the refresh timeout; the request goes on with
// the new tokens from memory, and the store's lock stays held until the
// Save returns, so nothing can overwrite what it writes late.
func TestStalledStoreSaveDoesNotHangTheRefresh(t *testing.T) {
	store := &stallingStore{memoryStore: &memoryStore{},
		stall: make(chan struct{}), stalled: make(chan struct{}), returned: make(chan struct{})}
	defer func() {
		select {
		case <-store.stall:
		default:
			close(store.stall)
		}
	}()
	f := newFixture(t, func(s *authServer) { s.opaque = true }, store, withRefreshTimeout(2*time.Second))
	store.firstRT = f.first.RefreshToken
	f.expire()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/api/me", nil)
	if status, _, err := f.do(req); err != nil || status != 200 {
		t.Fatalf("got %d %v; the refresh must not wait for the stalled Save", status, err)
	}
	<-store.stalled
	if got := f.counts.saveFailed.Load(); got != 1 {
		t.Errorf("SaveFailed hook called %d times, want 1", got)
	}
	lctx, lcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, unlock, err := store.Lock(lctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the store's lock was free while a Save was still running: %v", err)
		if err == nil {
			unlock()
		}
	}
	lcancel()
	f.mustGet("/api/me", 200) // from memory

	close(store.stall)
	<-store.returned
	_, unlock, err := store.Lock(ctx) // released once the Save has returned
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if got, want := f.stored().RefreshToken, f.srv.currentRefreshToken(f.first.RefreshToken); got != want {
		t.Errorf("store holds %q, want the rotated %q", got, want)
	}
	if got := f.srv.Stats(); got.Rotations != 1 || got.Reuses != 0 {
		t.Errorf("server saw %+v", got)
	}
}

// TestUnusableStoredToken: a stored token the Transport cannot use is a
// login-required error that says where the token came from.
func TestUnusableStoredToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		tok  *Token
		file string // raw file content instead
	}{
		{name: "space in access token", tok: &Token{AccessToken: "secret access token", RefreshToken: "r"}},
		{name: "mac token", tok: &Token{AccessToken: "a", TokenType: "mac"}},
		{name: "control in refresh token", tok: &Token{AccessToken: "a", RefreshToken: "r\x00secret"}},
		{name: "empty object file", file: "{}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(privateDir(t), "token.json")
			store, _ := newFileStore(path)
			if tc.tok != nil {
				if err := store.Save(context.Background(), tc.tok); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			tr, err := New("https://auth.example.com/token", store, WithBase(errRoundTripper{}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = tr.RoundTrip(httptest.NewRequest("GET", "https://auth.example.com/api", nil))
			if !errors.Is(err, ErrLoginRequired) || errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("got %v; want ErrLoginRequired, not an invalid response", err)
			}
			msg := err.Error()
			if tc.tok != nil && (!strings.Contains(msg, "stored token") || strings.Contains(msg, "secret")) {
				t.Errorf("error %q should name the stored token, not its value", msg)
			}
			if tc.tok == nil && !errors.Is(err, ErrNoToken) {
				t.Errorf("error %q should wrap ErrNoToken", msg)
			}
		})
	}
}

// countingRoundTripper counts requests by path and records refresh forms.
type countingRoundTripper struct {
	base  http.RoundTripper
	mu    sync.Mutex
	paths map[string]int
	forms []url.Values
}

func (c *countingRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.paths == nil {
		c.paths = map[string]int{}
	}
	c.paths[req.URL.Path]++
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(body)
			form, _ := url.ParseQuery(string(b))
			c.forms = append(c.forms, form)
		}
	}
	c.mu.Unlock()
	return c.base.RoundTrip(req)
}

func TestRefreshTransportAndClientID(t *testing.T) {
	for _, clientID := range []string{"", "cli-42"} {
		t.Run("client_id="+clientID, func(t *testing.T) {
			base := &countingRoundTripper{base: http.DefaultTransport}
			refresh := &countingRoundTripper{base: http.DefaultTransport}
			opts := []Option{WithBase(base), WithEndpoint(Endpoint{Transport: refresh, ClientID: clientID})}
			f := newFixture(t, func(s *authServer) { s.opaque = true }, nil, opts...)
			f.expire()
			f.mustGet("/api/me", 200)
			if base.paths["/auth/token"] != 0 || base.paths["/api/me"] != 2 {
				t.Errorf("base RoundTripper saw %v; want both sends of the request and no refresh", base.paths)
			}
			if refresh.paths["/auth/token"] != 1 || len(refresh.paths) != 1 {
				t.Errorf("refresh RoundTripper saw %v; want the refresh only", refresh.paths)
			}
			form := refresh.forms[0]
			if got, ok := form["client_id"]; (clientID == "") == ok || (ok && got[0] != clientID) {
				t.Errorf("refresh form %v; want client_id %q", form, clientID)
			}
			if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != f.first.RefreshToken {
				t.Errorf("refresh form %v", form)
			}
		})
	}
}
