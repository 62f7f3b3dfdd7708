package jwtrefresh_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/jwtrefresh/jwtrefresh/transport"
)

// TestIdempotencyKeyLength: keys shorter than MinIdempotencyKeyLen (quotes
// of a structured-field string not counted) are refused with 400
// invalid_request before the store is asked, so the refresh token stays
// usable; keys from the minimum to MaxIdempotencyKeyLen are taken.
func TestIdempotencyKeyLength(t *testing.T) {
	e := newEnv(t, envConfig{})
	short := strings.Repeat("k", session.MinIdempotencyKeyLen-1)
	atMin := strings.Repeat("k", session.MinIdempotencyKeyLen)
	for _, tc := range []struct {
		name, key string
		ok        bool
	}{
		{"OneChar", "1", false},
		{"Counter", "42", false},
		{"Timestamp", "1732800000", false},
		{"OneShort", short, false},
		{"QuotedOneShort", `"` + short + `"`, false},
		{"Quotes", `""`, false},
		{"Spaces", "   ", false},
		{"Minimum", atMin, true},
		{"QuotedMinimum", `"` + atMin + `"`, true},
		{"UUID", "8e03978e-40d5-43e8-bc93-6894a57f9324", true},
		{"RandText", "UJ2OYMVT6VDLH4OJFVCHXWELLM", true},
		{"Maximum", strings.Repeat("k", session.MaxIdempotencyKeyLen), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := e.login(t, "alice").RefreshToken
			r := e.refresh(t, rt, "Idempotency-Key", tc.key)
			if !tc.ok {
				wantError(t, r, 400, "invalid_request")
				if !strings.Contains(r.body, "too short") {
					t.Fatalf("the description does not say why: %s", r.body)
				}
				// Nothing was spent: had the store rotated, another key
				// would now be reuse (invalid_grant).
				r = e.refresh(t, rt, "Idempotency-Key", atMin+"-retry")
			}
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
}

// TestTransportIdempotencyKeys: the keys package transport generates are
// accepted by the refresh endpoint, each long enough and new for each
// refresh.
func TestTransportIdempotencyKeys(t *testing.T) {
	var (
		mu   sync.Mutex
		keys []string
	)
	e := newEnv(t, envConfig{wrapServer: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/auth/refresh" {
				mu.Lock()
				keys = append(keys, r.Header.Get("Idempotency-Key"))
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	}})
	tj := e.login(t, "alice")
	store := transport.NewMemoryStore(&transport.Token{AccessToken: tj.AccessToken, TokenType: tj.TokenType,
		RefreshToken: tj.RefreshToken, ExpiresIn: tj.ExpiresIn, Expiry: e.clock.Now().Add(time.Duration(tj.ExpiresIn) * time.Second)})
	rt, err := transport.New(e.srv.URL+"/auth/refresh", store, transport.WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: rt}
	const refreshes = 20
	for i := range refreshes {
		e.clock.Add(time.Duration(tj.ExpiresIn)*time.Second + time.Second) // the access token expired
		resp, err := client.Get(e.srv.URL + "/api/me")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != refreshes {
		t.Fatalf("%d refresh requests, want %d", len(keys), refreshes)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if len(k) < session.MinIdempotencyKeyLen || seen[k] {
			t.Fatalf("key of %d characters, seen before: %v", len(k), seen[k])
		}
		seen[k] = true
	}
}

// rotateSpy counts the rotations that reach the store.
type rotateSpy struct {
	session.Store
	n atomic.Int32
}

func (s *rotateSpy) Rotate(ctx context.Context, r session.Rotation) (session.Result, error) {
	s.n.Add(1)
	return s.Store.Rotate(ctx, r)
}

// TestServiceRefreshIdempotencyKey: Service.Refresh refuses a guessable key
// itself, before its store is asked, so that a thief repeating the owner's
// short key cannot get the successor of a used token through the Go API
// any more than through the endpoint.
func TestServiceRefreshIdempotencyKey(t *testing.T) {
	e := newEnv(t, envConfig{})
	spy := &rotateSpy{Store: e.store}
	svc := must(jwtrefresh.NewService(spy, e.secrets, e.keys, testIssuer))
	tr := must(svc.Login(t.Context(), session.NewSession{Subject: "alice"}))
	for i := range 2 { // the owner, then a thief repeating the key
		_, err := svc.Refresh(t.Context(), tr.RefreshToken, "1", "")
		if !errors.Is(err, session.ErrInvalidInput) {
			t.Fatalf("attempt %d with key %q: %v, want ErrInvalidInput", i, "1", err)
		}
	}
	if n := spy.n.Load(); n != 0 {
		t.Fatalf("%d rotations reached the store, want 0", n)
	}
	key := rand.Text()
	next := must(svc.Refresh(t.Context(), tr.RefreshToken, key, ""))
	again := must(svc.Refresh(t.Context(), tr.RefreshToken, key, ""))
	if next.Replayed || !again.Replayed || again.RefreshToken != next.RefreshToken || spy.n.Load() != 2 {
		t.Fatalf("with a random key: replayed %v then %v, same token %v, %d rotations; want false, true, true, 2",
			next.Replayed, again.Replayed, again.RefreshToken == next.RefreshToken, spy.n.Load())
	}
}
