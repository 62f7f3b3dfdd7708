package transport

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loginThrough logs in at the test server's /login with the Transport's
// LoginTransport and passes the answer to Login.
func (f *fixture) loginThrough() error {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/login", strings.NewReader(`{"username":"alice"}`))
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: f.tr.LoginTransport()}).Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	tok, err := readTokenResponse(resp, f.clock.Now(), nil) // ReadTokenResponse, on the test clock
	if err != nil {
		f.t.Fatal(err)
	}
	return f.tr.Login(context.Background(), tok)
}

// emptyFixture is a fixture whose store is empty, for a login.
func emptyFixture(t *testing.T, store Store, configure func(*authServer), opts ...Option) *fixture {
	t.Helper()
	f := newFixture(t, configure, store, opts...)
	if err := f.tr.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDPoPLoginBindsTheSession: a login sent through LoginTransport is
// bound to a key the Transport made (of the configured algorithm); the
// store keeps it; every request and refresh carries a proof by it, which
// the server verifies, and the nonce it asks for.
func TestDPoPLoginBindsTheSession(t *testing.T) {
	for _, alg := range []string{"", algES256, algEdDSA} {
		for _, kind := range []string{"memory", "file"} {
			t.Run(alg+"/"+kind, func(t *testing.T) {
				store, _ := storePair(t, kind)
				f := emptyFixture(t, store, func(s *authServer) { s.setNonce("n-1") }, WithDPoP(DPoP{Algorithm: alg}))
				if err := f.loginThrough(); err != nil {
					t.Fatal(err)
				}
				tok := f.stored()
				if !tok.bound() || tok.DPoPKey == nil {
					t.Fatalf("stored %v; want a DPoP session with its key", tok)
				}
				if _, ed := tok.DPoPKey.(ed25519.PrivateKey); ed != (alg == algEdDSA) {
					t.Errorf("key %T for algorithm %q", tok.DPoPKey, alg)
				}
				f.mustGet("/api/me", 200)
				f.expire()
				f.mustGet("/api/me?x=1#frag", 200) // 401, refresh, retry
				wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 1})
				// The login and its retry with the nonce, then four proofs.
				wantProofs(t, f.srv, 5, 0, 1)
				if !sameKey(f.stored().DPoPKey, tok.DPoPKey) {
					t.Error("the refresh changed the session's key")
				}
			})
		}
	}
}

// TestDPoPNonceAtTheTokenEndpoint: a use_dpop_nonce answer to a refresh is
// followed by one more request with the nonce, which rotates the token
// once; a server that never accepts the nonce gets exactly two.
func TestDPoPNonceAtTheTokenEndpoint(t *testing.T) {
	f := newFixture(t, func(s *authServer) { s.dpop = true }, nil)
	f.srv.setNonce("n-1") // the Transport has not seen it
	f.clock.Advance(4*time.Minute + 31*time.Second)
	f.mustGet("/api/me", 200) // a proactive refresh first
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 2, Rotations: 1})
	wantProofs(t, f.srv, 2, 0, 1) // the refresh's second try, the request

	g := newFixture(t, func(s *authServer) { s.dpop = true }, nil)
	g.srv.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool {
		g.srv.setNonce(rand.Text()) // a new one each time
		w.Header().Set("DPoP-Nonce", g.srv.currentNonce())
		oauthError(w, http.StatusBadRequest, "use_dpop_nonce", "")
		return true
	}
	g.clock.Advance(6 * time.Minute) // expired: the request needs the refresh
	if _, _, err := g.get("/api/me"); err == nil {
		t.Fatal("a refresh that never gets a token succeeded")
	}
	if st := g.srv.Stats(); st.RefreshRequests != 2 {
		t.Errorf("%d refresh requests; want 2: one and its nonce retry", st.RefreshRequests)
	}
}

// TestDPoPNonceAtTheResourceServer: a use_dpop_nonce challenge gets one
// retry with the nonce, and a nonce retry never leads to a refresh, even
// when its answer is a 401 that would.
func TestDPoPNonceAtTheResourceServer(t *testing.T) {
	f := newFixture(t, func(s *authServer) { s.dpop = true }, nil)
	f.srv.setNonce("n-1")
	f.mustGet("/api/me", 200)
	f.mustGet("/api/me", 200) // the nonce is remembered
	wantProofs(t, f.srv, 2, 0, 1)

	// POST bodies are sent again.
	f.srv.setNonce("n-2")
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/api/echo", strings.NewReader("hello"))
	if status, body, err := f.do(req); err != nil || status != 200 || body != "echo hello" {
		t.Fatalf("POST: %d %q %v", status, body, err)
	}
	wantProofs(t, f.srv, 3, 0, 2)

	// Expired and a new nonce: the retry with the nonce gets the 401 that
	// says expired, which is returned: no refresh.
	f.srv.setNonce("n-3")
	f.expire()
	f.mustGet("/api/me", 401)
	wantStats(t, f.srv.Stats(), serverStats{Unauthorized: 1})
	f.mustGet("/api/me", 200) // the next request refreshes
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 2})

	// A server that asks for a new nonce every time: two sends, then its
	// 401 is returned.
	asks := f.srv.nonceAsks.Load()
	f.srv.resource = func(w http.ResponseWriter, r *http.Request) {
		f.srv.setNonce(rand.Text())
		w.Header().Set("DPoP-Nonce", f.srv.currentNonce())
	}
	f.mustGet("/api/me", 401)
	if got := f.srv.nonceAsks.Load() - asks; got != 2 {
		t.Errorf("%d use_dpop_nonce answers; want 2, the request and its one retry", got)
	}
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 2})
}

// TestDPoPChallenges: a DPoP challenge with invalid_token refreshes;
// invalid_dpop_proof and use_dpop_nonce do not.
func TestDPoPChallenges(t *testing.T) {
	for _, tc := range []struct {
		values  []string
		refresh bool
	}{
		{[]string{`DPoP algs="ES256", error="invalid_token"`}, true},
		{[]string{`DPoP algs="ES256"`}, true},
		{[]string{`DPoP error="invalid_dpop_proof"`}, false},
		{[]string{`DPoP error="use_dpop_nonce"`}, false},
		{[]string{`Bearer error="invalid_token"`}, true},
		{[]string{`Bearer realm="x"`, `DPoP error="invalid_dpop_proof"`}, false},
	} {
		f := &Transport{}
		resp := &http.Response{Header: http.Header{"Www-Authenticate": tc.values}}
		if got := f.shouldRefresh(resp, &session{key: newKey(t, algES256)}); got != tc.refresh {
			t.Errorf("%q: refresh %v, want %v", tc.values, got, tc.refresh)
		}
	}
	f := newFixture(t, func(s *authServer) { s.dpop = true }, nil)
	f.mustGet("/api/always401", 401)
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 2})
}

// TestDPoPBearerFallback: a server that answers a proof with a Bearer
// token gets Bearer requests, unless DPoP is Required: then the login
// fails, and a refresh ends the session.
func TestDPoPBearerFallback(t *testing.T) {
	t.Run("login", func(t *testing.T) {
		f := emptyFixture(t, nil, func(s *authServer) { s.bearerOnly = true }, WithDPoP(DPoP{}))
		if err := f.loginThrough(); err != nil {
			t.Fatal(err)
		}
		if tok := f.stored(); tok.bound() || tok.DPoPKey != nil {
			t.Fatalf("stored %v; want a Bearer session without a key", tok)
		}
		f.mustGet("/api/me", 200)
		wantProofs(t, f.srv, 0, 0, 0)
	})
	t.Run("login, required", func(t *testing.T) {
		f := emptyFixture(t, nil, func(s *authServer) { s.bearerOnly = true }, WithDPoP(DPoP{Required: true}))
		if err := f.loginThrough(); !errors.Is(err, ErrInvalidResponse) {
			t.Fatalf("Login: %v; want ErrInvalidResponse", err)
		}
		if _, err := f.store.Load(context.Background()); !errors.Is(err, ErrNoToken) {
			t.Errorf("the store holds a session: %v", err)
		}
	})
	for _, required := range []bool{false, true} {
		t.Run("refresh", func(t *testing.T) {
			f := newFixture(t, func(s *authServer) { s.dpop = true }, nil, WithDPoP(DPoP{Required: required}))
			f.srv.bearerOnly = true // from now on
			f.expire()
			status, _, err := f.get("/api/me")
			if required {
				if !errors.Is(err, ErrLoginRequired) || !errors.Is(err, ErrInvalidResponse) {
					t.Fatalf("GET: %d %v; want ErrLoginRequired and ErrInvalidResponse", status, err)
				}
				if _, err := f.store.Load(context.Background()); !errors.Is(err, ErrNoToken) {
					t.Errorf("the store holds a session: %v", err)
				}
				return
			}
			if err != nil || status != 200 {
				t.Fatalf("GET: %d %v", status, err)
			}
			if tok := f.stored(); tok.bound() || tok.DPoPKey != nil {
				t.Errorf("stored %v; want the Bearer tokens, without the key", tok)
			}
		})
	}
}

// keylessStore keeps tokens as their JSON form, as a store of strings (an
// OS keyring) would: without Token.DPoPKey.
type keylessStore struct{ m memoryStore }

func (s *keylessStore) Load(ctx context.Context) (*Token, error) { return s.m.Load(ctx) }
func (s *keylessStore) Clear(ctx context.Context) error          { return s.m.Clear(ctx) }
func (s *keylessStore) Save(ctx context.Context, tok *Token) error {
	c := *tok
	c.DPoPKey = nil
	return s.m.Save(ctx, &c)
}

// TestDPoPStoreWithoutKeys: Login finds out that a store does not keep the
// key, fails and leaves the store empty; a bound session read from such a
// store is ErrLoginRequired; with a DPoP.Key of the application's, the
// store needs to keep no key.
func TestDPoPStoreWithoutKeys(t *testing.T) {
	f := emptyFixture(t, &keylessStore{}, nil, WithDPoP(DPoP{}))
	if err := f.loginThrough(); !errors.Is(err, ErrLoginRequired) || !strings.Contains(err.Error(), "DPoPKey") {
		t.Fatalf("Login: %v; want ErrLoginRequired naming Token.DPoPKey", err)
	}
	if _, err := f.store.Load(context.Background()); !errors.Is(err, ErrNoToken) {
		t.Errorf("the store holds a session: %v", err)
	}

	g := newFixture(t, func(s *authServer) { s.dpop = true }, &keylessStore{})
	if _, _, err := g.get("/api/me"); !errors.Is(err, ErrLoginRequired) {
		t.Errorf("GET with a bound session and no key: %v; want ErrLoginRequired", err)
	}

	key := newKey(t, algEdDSA)
	dir := privateDir(t)
	store, _ := newFileStore(filepath.Join(dir, "token.json"))
	h := emptyFixture(t, store, nil, WithDPoP(DPoP{Key: key}))
	if err := h.loginThrough(); err != nil {
		t.Fatal(err)
	}
	if tok := h.stored(); !tok.bound() || tok.DPoPKey != nil || len(keyFiles(t, dir)) != 0 {
		t.Fatalf("stored %v; want a bound session and no key", tok)
	}
	h.mustGet("/api/me", 200)
	h.expire()
	h.mustGet("/api/me", 200)
	wantProofs(t, h.srv, 5, 0, 0) // login, request, request, refresh, retry
}

// TestDPoPKeyFile: the key file is 0600, beside the token file, and refused
// like the token file when others can read it or another user owns it.
func TestDPoPKeyFile(t *testing.T) {
	ctx := context.Background()
	dir := privateDir(t)
	store, _ := newFileStore(filepath.Join(dir, "token.json"))
	key := newKey(t, algES256)
	if err := store.Save(ctx, &Token{AccessToken: "a", RefreshToken: "r", TokenType: "DPoP", DPoPKey: key}); err != nil {
		t.Fatal(err)
	}
	files := keyFiles(t, dir)
	if len(files) != 1 || files[0] != "token.json.dpop-"+mustThumbprint(t, key)+".key" {
		t.Fatalf("key files %q", files)
	}
	path := filepath.Join(dir, files[0])
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v; want mode 0600", fi.Mode(), err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Load(ctx); !errors.Is(err, ErrUnsafeTokenFile) {
		t.Errorf("Load with a group-readable key file: %v; want ErrUnsafeTokenFile", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	setEUID(t, store, os.Geteuid()+1)
	if _, err := store.Load(ctx); !errors.Is(err, ErrUnsafeTokenFile) {
		t.Errorf("Load with another user's files: %v; want ErrUnsafeTokenFile", err)
	}
}

// TestDPoPKeyFileDamage: a token file whose key file is missing or holds
// another key is a session that cannot be used: ErrLoginRequired. Clear
// removes the key file too.
func TestDPoPKeyFileDamage(t *testing.T) {
	ctx := context.Background()
	dir := privateDir(t)
	store, _ := newFileStore(filepath.Join(dir, "token.json"))
	save := func(k crypto.Signer) {
		if err := store.Save(ctx, &Token{AccessToken: "a", TokenType: "DPoP", DPoPKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	a, b := newKey(t, algES256), newKey(t, algES256)
	save(b)
	other, _ := os.ReadFile(filepath.Join(dir, keyFiles(t, dir)[0]))
	save(a)
	path := filepath.Join(dir, keyFiles(t, dir)[0])
	if err := os.WriteFile(path, other, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Load(ctx); !errors.Is(err, ErrLoginRequired) || !strings.Contains(err.Error(), "another key") {
		t.Errorf("Load with another key in the key file: %v", err)
	}
	os.Remove(path)
	if _, err := store.Load(ctx); !errors.Is(err, ErrLoginRequired) {
		t.Errorf("Load without the key file: %v", err)
	}
	save(a)
	if err := store.Clear(ctx); err != nil || len(keyFiles(t, dir)) != 0 {
		t.Errorf("Clear: %v, key files %q", err, keyFiles(t, dir))
	}
}

// TestWithDPoPRefusesBadConfig: options it cannot use fail New.
func TestWithDPoPRefusesBadConfig(t *testing.T) {
	store := NewMemoryStore(nil)
	for _, d := range []DPoP{
		{Algorithm: "RS256"},
		{Algorithm: "ES256", Key: newKey(t, algES256)},
		{Key: unsupportedKey{}},
	} {
		if _, err := New("https://a.example/token", store, WithDPoP(d)); err == nil {
			t.Errorf("WithDPoP(%+v) accepted", d)
		}
	}
	// Without WithDPoP, or without a proof through LoginTransport, a
	// DPoP-bound login cannot be proved: refused.
	tr, _ := New("https://a.example/token", store)
	if err := tr.Login(context.Background(), &Token{AccessToken: "a", TokenType: "DPoP"}); err == nil {
		t.Error("a DPoP login without WithDPoP accepted")
	}
	tr, _ = New("https://a.example/token", store, WithDPoP(DPoP{}))
	if err := tr.Login(context.Background(), &Token{AccessToken: "a", TokenType: "DPoP"}); err == nil || !strings.Contains(err.Error(), "LoginTransport") {
		t.Errorf("a DPoP login without a login proof: %v", err)
	}
}

type unsupportedKey struct{ crypto.Signer }

func (unsupportedKey) Public() crypto.PublicKey { return &ecdsa.PublicKey{} }
