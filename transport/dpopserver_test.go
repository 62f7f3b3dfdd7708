package transport

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/internal/dpop"
)

// dpopServer is the DPoP (RFC 9449) side of the test server: it binds
// families to a key's thumbprint, verifies every proof with internal/dpop
// (one DPoP header, typ, alg, jwk, signature, htm, htu, iat, ath, nonce),
// refuses a replayed jti, and asks for nonces when one is set.
type dpopServer struct {
	// dpop makes the fixture's login bound to a key that the Transport
	// gets (see newFixture), with WithDPoP.
	dpop bool
	// bearerOnly ignores proofs: logins answer Bearer tokens.
	bearerOnly bool

	nonceMu sync.Mutex
	nonce   string // required in every proof, and sent in every answer; "" none

	proofs    atomic.Int64 // valid proofs
	badProofs atomic.Int64 // proofs refused, and bound tokens sent without one
	nonceAsks atomic.Int64 // use_dpop_nonce answers

	boundTo map[string]string // guarded by authServer.mu: access token → jkt
	jtis    map[string]bool   // guarded by authServer.mu: jtis seen
}

func (s *authServer) setNonce(n string) {
	s.nonceMu.Lock()
	s.nonce = n
	s.nonceMu.Unlock()
}

func (s *authServer) currentNonce() string {
	s.nonceMu.Lock()
	defer s.nonceMu.Unlock()
	return s.nonce
}

// withNonce sends the current nonce with every answer.
func (s *authServer) withNonce(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := s.currentNonce(); n != "" {
			w.Header().Set("DPoP-Nonce", n)
		}
		h.ServeHTTP(w, r)
	})
}

func (s *authServer) isBound(at string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.boundTo[at] != ""
}

var errReplayedJTI = errors.New("replayed jti")

// verifyProof checks r's proof, for the access token at (if set), and
// returns its key's thumbprint.
func (s *authServer) verifyProof(r *http.Request, at string) (string, error) {
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return "", errors.New("want one DPoP header")
	}
	c := dpop.Check{Method: r.Method, URL: s.URL + r.URL.RequestURI(), AccessToken: at, Now: s.now()}
	if n := s.currentNonce(); n != "" {
		c.Nonce = func(got string) bool { return got == n }
	}
	p, err := dpop.Verify(proofs[0], c)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jtis[p.JTI] {
		return "", errReplayedJTI
	}
	s.jtis[p.JTI] = true
	return p.Thumbprint, nil
}

// resourceProof checks a resource request presenting at with scheme; on
// failure it has answered 401.
func (s *authServer) resourceProof(w http.ResponseWriter, r *http.Request, scheme, at string) bool {
	s.mu.Lock()
	jkt := s.boundTo[at]
	s.mu.Unlock()
	if jkt == "" || scheme != "DPoP" {
		// An unbound token as DPoP, a bound one as Bearer: no downgrade.
		s.badProofs.Add(1)
		s.unauthorized(w, `DPoP algs="ES256 EdDSA", error="invalid_token"`)
		return false
	}
	thumb, err := s.verifyProof(r, at)
	switch {
	case errors.Is(err, dpop.ErrNonce):
		s.nonceAsks.Add(1)
		w.Header().Set("WWW-Authenticate", `DPoP algs="ES256 EdDSA", error="use_dpop_nonce"`)
		oauthError(w, http.StatusUnauthorized, "use_dpop_nonce", "")
		return false
	case err != nil || thumb != jkt:
		s.badProofs.Add(1)
		w.Header().Set("WWW-Authenticate", `DPoP algs="ES256 EdDSA", error="invalid_dpop_proof"`)
		oauthError(w, http.StatusUnauthorized, "invalid_dpop_proof", "")
		return false
	}
	s.proofs.Add(1)
	return true
}

// refreshProof checks the proof of a refresh of a bound family (proofs on
// others are ignored); on failure it has answered 400.
func (s *authServer) refreshProof(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	var jkt string
	if f := s.families[r.PostForm.Get("refresh_token")]; f != nil {
		jkt = f.jkt
	}
	s.mu.Unlock()
	if jkt == "" {
		return true
	}
	thumb, err := s.verifyProof(r, "")
	return s.proofVerdict(w, err, thumb == jkt)
}

// proofVerdict answers a token endpoint request whose proof failed.
func (s *authServer) proofVerdict(w http.ResponseWriter, err error, sameKey bool) bool {
	switch {
	case errors.Is(err, dpop.ErrNonce):
		s.nonceAsks.Add(1)
		oauthError(w, http.StatusBadRequest, "use_dpop_nonce", "a nonce is required")
		return false
	case err != nil || !sameKey:
		s.badProofs.Add(1)
		oauthError(w, http.StatusBadRequest, "invalid_dpop_proof", "")
		return false
	}
	s.proofs.Add(1)
	return true
}

// handleLogin starts a session, bound to the key of the request's proof
// if it carries one (and the server is not bearerOnly).
func (s *authServer) handleLogin(w http.ResponseWriter, r *http.Request) {
	var jkt string
	if r.Header.Get("DPoP") != "" && !s.bearerOnly {
		var err error
		if jkt, err = s.verifyProof(r, ""); !s.proofVerdict(w, err, true) {
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(s.loginBody(jkt))
}

// newKey makes a DPoP key pair of alg.
func newKey(t testing.TB, alg string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	if alg == algEdDSA {
		_, k, err = ed25519.GenerateKey(rand.Reader)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustThumbprint(t testing.TB, k crypto.Signer) string {
	t.Helper()
	jkt, err := dpop.Thumbprint(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return jkt
}

// dpopModes runs test with DPoP off and on: the parametrisation of the
// tests that must hold either way.
func dpopModes(t *testing.T, test func(t *testing.T, dpop bool)) {
	t.Run("bearer", func(t *testing.T) { test(t, false) })
	t.Run("dpop", func(t *testing.T) { test(t, true) })
}

// wantProofs checks the DPoP counters of srv.
func wantProofs(t *testing.T, srv *authServer, proofs, bad, nonceAsks int64) {
	t.Helper()
	if p, b, n := srv.proofs.Load(), srv.badProofs.Load(), srv.nonceAsks.Load(); p != proofs || b != bad || n != nonceAsks {
		t.Errorf("server verified %d proofs, refused %d, asked for a nonce %d times; want %d, %d, %d", p, b, n, proofs, bad, nonceAsks)
	}
}
