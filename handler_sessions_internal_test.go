package jwtrefresh

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// callsStore counts the store calls of the session endpoints; none is
// expected. Other methods are not used.
type callsStore struct {
	session.Store
	calls atomic.Int64
}

func (s *callsStore) RevokeAll(context.Context, session.SubjectID) (int, error) {
	s.calls.Add(1)
	return 0, nil
}

func (s *callsStore) Sessions(context.Context, session.SubjectID) ([]session.Info, error) {
	s.calls.Add(1)
	return nil, nil
}

func (s *callsStore) Revoke(context.Context, session.SubjectID, string, string) (session.Result, error) {
	s.calls.Add(1)
	return session.Result{}, nil
}

func (s *callsStore) LoadOrStore(context.Context, string, []byte) ([]byte, error) {
	s.calls.Add(1)
	return nil, nil
}

// TestSessionEndpointsWithoutClaims: should the session endpoints ever run
// behind a middleware that lets anonymous requests through (NewService
// refuses such options), they answer 401 with the Bearer challenge and
// touch nothing, instead of dereferencing absent claims.
func TestSessionEndpointsWithoutClaims(t *testing.T) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	hs, err := keys.NewHS256("hs", secret)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(hs)
	if err != nil {
		t.Fatal(err)
	}
	store := &callsStore{}
	secrets, err := session.NewSecrets(session.Secret{Version: 1, Value: secret})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewService(store, secrets, set, "https://auth.example.test", WithMiddlewareOptions(middleware.WithRealm("accounts")))
	if err != nil {
		t.Fatal(err)
	}
	// What NewService refuses to build, built by hand.
	if s.mw, err = s.Middleware(middleware.WithOptional(), middleware.WithRealm("accounts")); err != nil {
		t.Fatal(err)
	}
	s.handler = s.newHandler()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/logout-all"},
		{http.MethodGet, "/sessions"},
		{http.MethodDelete, "/sessions/some-id"},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="accounts"` {
				t.Fatalf("%d %q, want 401 with the Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
		})
	}
	if n := store.calls.Load(); n != 0 {
		t.Fatalf("%d store calls for anonymous requests", n)
	}
}
