package jwtrefresh

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/keys"
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
// without the middleware's claims (a middleware cannot be built to let
// anonymous requests through to them), they answer 401 with the Bearer
// challenge and touch nothing, instead of dereferencing absent claims.
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
	s, err := NewService(store, secrets, set, "https://auth.example.test")
	if err != nil {
		t.Fatal(err)
	}
	// What NewService cannot build: the endpoints reached without the
	// middleware in front.
	for _, tc := range []struct {
		method, path string
		h            http.HandlerFunc
	}{
		{http.MethodPost, "/logout-all", s.serveLogoutAll},
		{http.MethodGet, "/sessions", s.serveSessions},
		{http.MethodDelete, "/sessions/some-id", s.serveDeleteSession},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.SetPathValue("id", "some-id")
				tc.h(w, r)
			}))
			defer srv.Close()
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="api"` {
				t.Fatalf("%d %q, want 401 with the Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if n := store.calls.Load(); n != 0 {
		t.Fatalf("%d store calls for anonymous requests", n)
	}
}
