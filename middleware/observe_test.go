package middleware

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

// logEvents is the logging hook the package documentation suggests.
func logEvents(l *slog.Logger) func(context.Context, Event) {
	return func(ctx context.Context, e Event) {
		if e.Err == nil {
			return
		}
		level := slog.LevelDebug
		if e.Err.Status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		l.LogAttrs(ctx, level, "access token refused", slog.String("reason", e.Err.Reason),
			slog.Int("status", e.Err.Status), slog.String("error", e.Err.Error()))
	}
}

// TestEventsAndLogs: every decision is reported with its reason, and a log
// of the events never contains a token or any part of one.
func TestEventsAndLogs(t *testing.T) {
	set := must(keys.NewSet(edKey))
	var buf bytes.Buffer
	var log eventLog
	logHook := logEvents(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	down := errors.New("store down")
	var sessionErr error
	m := newMW(t, set, nil,
		WithEvents(func(ctx context.Context, e Event) { log.hook(ctx, e); logHook(ctx, e) }),
		WithSessionCheck(func(context.Context, *Claims) error { return sessionErr }, 0))
	good := sign(edKey, claimsAt())
	exp := claimsAt()
	exp.ExpiresAt = jwt.NewNumericDate(t0)
	expired := sign(edKey, exp)
	forged := good[:len(good)-5] + "AAAAA"
	h := m.RequireScope("read")(okHandler)
	adminOnly := m.RequireScope("admin")(okHandler)

	steps := []struct {
		h        http.Handler
		req      func(*http.Request)
		session  error
		accepted bool
		reason   string
		cached   bool
	}{
		{h, bearer(good), nil, true, "", false},
		{h, bearer(good), nil, true, "", true},
		{h, func(*http.Request) {}, nil, false, "missing", false},
		{h, header("Bearer"), nil, false, "invalid_request", false},
		{h, bearer(strings.Repeat("a", 9000)), nil, false, "too_large", false},
		{h, bearer("x.y.z"), nil, false, "malformed", false},
		{h, bearer(forged), nil, false, "invalid", false},
		{h, bearer(expired), nil, false, "expired", false},
		{h, bearer(good), ErrSessionRevoked, false, "revoked", false},
		{h, bearer(good), down, false, "unavailable", false},
		{adminOnly, bearer(good), nil, true, "", true}, // the middleware accepts ...
	}
	for i, s := range steps {
		sessionErr = s.session
		serve(m.Handler(s.h), s.req)
		e := log.events[i]
		if (e.Err == nil) != s.accepted || e.Cached != s.cached {
			t.Fatalf("step %d: event %+v, want accepted=%v cached=%v", i, e, s.accepted, s.cached)
		}
		if !s.accepted && e.Err.Reason != s.reason {
			t.Fatalf("step %d: Err %v, reason %q; want %q", i, e.Err, e.Err.Reason, s.reason)
		}
		if s.accepted && (e.Claims == nil || e.Claims.Subject != "alice") {
			t.Fatalf("step %d: claims %v", i, e.Claims)
		}
	}
	// ... and the scope check refuses.
	if e := log.last(); e.Err == nil || e.Err.Reason != "insufficient_scope" || !errors.Is(e.Err, ErrInsufficientScope) {
		t.Fatalf("scope event %+v", e)
	}
	// Optional reports an anonymous request with neither claims nor error.
	serve(m.Optional(okHandler))
	if e := log.last(); e.Err != nil || e.Claims != nil || e.Cached {
		t.Fatalf("anonymous event %+v", e)
	}
	out := buf.String()
	for _, tok := range []string{good, expired, forged} {
		for _, part := range strings.Split(tok, ".") {
			if strings.Contains(out, part) {
				t.Fatalf("log contains a token segment:\n%s", out)
			}
		}
	}
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "reason=unavailable") || !strings.Contains(out, "reason=expired") {
		t.Fatalf("log lacks expected lines:\n%s", out)
	}
}

// TestSessionCheckCancelledContext: a client that goes away while the
// session check runs gets a 503, never a 401 that would log it out.
func TestSessionCheckCancelledContext(t *testing.T) {
	set := must(keys.NewSet(edKey))
	var gotCtx context.Context
	m := newMW(t, set, nil, WithSessionCheck(func(ctx context.Context, c *Claims) error {
		gotCtx = ctx
		<-ctx.Done()
		return ctx.Err()
	}, 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
	r.Header.Set("Authorization", "Bearer "+sign(edKey, claimsAt()))
	w := httptest.NewRecorder()
	m.Handler(okHandler).ServeHTTP(w, r)
	if w.Code != 503 || w.Header().Get("Retry-After") != "1" || gotCtx == nil || gotCtx.Err() == nil {
		t.Fatalf("status %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	_, err := m.Verify(ctx, sign(edKey, claimsAt()))
	if !errors.Is(err, ErrSessionUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify: %v", err)
	}
}

func TestVerify(t *testing.T) {
	set := must(keys.NewSet(edKey))
	m := newMW(t, set, nil)
	c, err := m.Verify(context.Background(), sign(edKey, claimsAt()))
	if err != nil || c.Subject != "alice" {
		t.Fatalf("%v %v", c, err)
	}
	var e *Error
	if _, err := m.Verify(context.Background(), ""); !errors.As(err, &e) || e.Status != 401 || !errors.Is(err, ErrTokenMissing) {
		t.Fatalf("empty: %v", err)
	}
	for _, garbage := range []string{"a.b", "a b.c.d", "..", "a..b", "ey.ey.", strings.Repeat("a", 9000)} {
		if _, err := m.Verify(context.Background(), garbage); !errors.As(err, &e) || e.Status != 401 || e.Code != "invalid_token" {
			t.Fatalf("garbage %.20q: %v", garbage, err)
		}
	}
}

// TestOverRealHTTP runs the middleware behind a real server and
// http.ServeMux, with concurrent clients, and counts exact outcomes.
func TestOverRealHTTP(t *testing.T) {
	set := must(keys.NewSet(edKey))
	m, err := New(set) // the real clock: tokens minted now
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/me", m.Handler(okHandler))
	mux.Handle("GET /api/admin", m.Handler(m.RequireScope("admin")(okHandler)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := claimsAt()
	now := time.Now()
	c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(now), jwt.NewNumericDate(now), jwt.NewNumericDate(now.Add(time.Minute))
	tok := sign(edKey, c)
	get := func(path, auth string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const n = 50
	codes := make(chan int, 3*n)
	done := make(chan struct{})
	for range n {
		go func() {
			defer func() { done <- struct{}{} }()
			code, body := get("/api/me", "Bearer "+tok)
			if body != "hello alice" {
				code = -code
			}
			codes <- code
			code, _ = get("/api/me", "")
			codes <- code
			code, _ = get("/api/admin", "Bearer "+tok)
			codes <- code
		}()
	}
	for range n {
		<-done
	}
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[200] != n || count[401] != n || count[403] != n || len(count) != 3 {
		t.Fatalf("status counts %v, want %d each of 200, 401, 403", count, n)
	}
}
