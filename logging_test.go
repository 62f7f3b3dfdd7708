package jwtrefresh_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/middleware"
)

// syncBuffer is a log sink shared by concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logRefusals logs the middleware's refusals the way its documentation
// suggests.
func logRefusals(l *slog.Logger) func(context.Context, middleware.Event) {
	return func(ctx context.Context, e middleware.Event) {
		if e.Err != nil {
			l.LogAttrs(ctx, slog.LevelDebug, "access token refused",
				slog.String("reason", e.Err.Reason), slog.String("error", e.Err.Error()))
		}
	}
}

// TestLogsHoldNoSecrets runs logins, refreshes with idempotency keys,
// replays, reuse and refused requests with every logger at Debug, and
// looks for any token or idempotency key in the output.
func TestLogsHoldNoSecrets(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEnv(t, envConfig{
		storeOpts: strict,                                             // the reuse follows the refresh at once
		svcOpts:   []jwtrefresh.Option{jwtrefresh.WithLogger(logger)}, // also the session endpoints' refusals
		apiMWOpts: []middleware.Option{middleware.WithEvents(logRefusals(logger))},
	})
	var secrets []string
	keep := func(s ...string) { secrets = append(secrets, s...) }
	const idem = "idem-key-4f1c2b9a"
	keep(idem)

	tj := e.login(t, "alice")
	keep(tj.AccessToken, tj.RefreshToken)
	r := e.refresh(t, tj.RefreshToken, "Idempotency-Key", idem)
	keep(r.token(t).AccessToken, r.token(t).RefreshToken)
	keep(e.refresh(t, tj.RefreshToken, "Idempotency-Key", idem).token(t).AccessToken) // replay
	e.refresh(t, tj.RefreshToken, "Idempotency-Key", "other-key-6b1d0e9f")            // reuse
	keep("other-key-6b1d0e9f")
	e.refresh(t, tj.RefreshToken+"x")
	e.refresh(t, "garbage-refresh-token")
	keep("garbage-refresh-token")
	e.me(t, tj.AccessToken)                         // revoked session
	e.me(t, tj.AccessToken[:len(tj.AccessToken)-2]) // bad signature
	do(t, e.request(t, "POST", "/auth/revoke", formType, form("token", tj.AccessToken)))
	do(t, e.request(t, "POST", "/auth/logout-all", "", "", "Authorization", "Bearer "+tj.AccessToken))

	out := buf.String()
	for _, want := range []string{`"msg":"session reuse_detected"`, `"msg":"session replay"`, `"msg":"session login"`,
		`"msg":"session rotate"`, `"sub":"alice"`, `"error":"invalid_grant"`, "access token refused"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the log lacks %s; the test would prove nothing:\n%s", want, out)
		}
	}
	for _, s := range secrets {
		for _, part := range strings.Split(s, ".") { // each JWT segment on its own too
			if len(part) >= 8 && strings.Contains(out, part) {
				t.Fatalf("the log contains a secret (%.12s…):\n%s", part, out)
			}
		}
	}
}
