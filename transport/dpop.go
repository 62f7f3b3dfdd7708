package transport

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/dpop"
)

// DPoP configures sender-constrained tokens (RFC 9449); see WithDPoP and
// the package documentation's DPoP section.
type DPoP struct {
	// Key signs every proof, for every session: a key kept in an OS
	// keyring or in hardware, which no store ever holds. nil (the usual
	// choice) makes a new key pair for each login, kept by the store with
	// the session's tokens (Token.DPoPKey).
	Key crypto.Signer
	// Algorithm is that of the key pairs made per login: "ES256" (the
	// default) or "EdDSA". It must be empty when Key is set.
	Algorithm string
	// Required makes a token endpoint that answers a proof with a Bearer
	// token, instead of a DPoP-bound one, an error: at a login (Login
	// fails) and at a refresh (the session ends, ErrLoginRequired). By
	// default the Transport goes on with Bearer tokens, for servers that
	// do not support DPoP yet.
	Required bool
}

// WithDPoP makes the Transport prove possession of a private key with
// every refresh and every request to its origins (RFC 9449), so that a
// token copied from a log, a proxy, a backup or a leaked store is useless
// without the key. Bound tokens are sent as "Authorization: DPoP <token>"
// with a DPoP proof header; a server's DPoP-Nonce is remembered per origin
// and a use_dpop_nonce answer is retried once with it. A session is bound
// at its login: send the login request through LoginTransport, then pass
// its answer to Login.
//
// Security: a bound session is only as safe as its key. A per-login key is
// stored beside the tokens (the file store keeps it in its own 0600 file):
// it protects against a leaked token, not against someone who can read
// both files.
func WithDPoP(d DPoP) Option {
	return func(c *config) error {
		switch d.Algorithm {
		case "", algES256, algEdDSA:
		default:
			return configError("WithDPoP: algorithm %.20q; want ES256 or EdDSA", d.Algorithm)
		}
		if d.Key != nil {
			if d.Algorithm != "" {
				return configError("WithDPoP: an Algorithm is for generated keys; leave it empty with a Key")
			}
			if _, err := dpop.Algorithm(d.Key); err != nil {
				return configError("WithDPoP: the Key cannot sign proofs: %w", err)
			}
		}
		c.dpop = &d
		return nil
	}
}

const (
	algES256 = "ES256"
	algEdDSA = "EdDSA"
)

// prover is a Transport's DPoP state: its configuration, the key of the
// next login, and the nonces its servers gave. Every Transport has one, so
// that a bound session found in its store works also with DPoP off.
type prover struct {
	on       bool          // WithDPoP
	fixed    crypto.Signer // DPoP.Key
	alg      string        // of generated keys
	required bool
	now      func() time.Time // of a proof's iat; nil: time.Now
	nonces   nonces
	// next is the key the next login binds to, made by LoginTransport's
	// first proof (or Login's, for a login sent elsewhere).
	mu   sync.Mutex
	next crypto.Signer // guarded by mu
}

func newProver(d *DPoP, now func() time.Time) *prover {
	p := &prover{alg: algES256, now: now, nonces: nonces{max: maxNonceOrigins}}
	if d != nil {
		p.on, p.fixed, p.required = true, d.Key, d.Required
		if d.Algorithm != "" {
			p.alg = d.Algorithm
		}
	}
	return p
}

// loginKey returns the key the next login is bound to, making one when
// there is none yet.
func (p *prover) loginKey() (crypto.Signer, error) {
	if p.fixed != nil {
		return p.fixed, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == nil {
		k, err := generateKey(p.alg)
		if err != nil {
			return nil, err
		}
		p.next = k
	}
	return p.next, nil
}

// bound takes the key of the login requests' proofs for the session a
// login bound to it: the next login gets a new one. It returns nil for
// DPoP.Key, which no store holds, and an error when no login request
// carried a proof: the session is bound to a key this Transport lacks.
func (p *prover) bound() (crypto.Signer, error) {
	if p.fixed != nil {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.next
	if k == nil {
		return nil, errorf("transport: Login: the token is DPoP-bound, and no login request carried a proof of this Transport (send it through LoginTransport)")
	}
	p.next = nil
	return k, nil
}

// generateKey makes a key pair for one session.
func generateKey(alg string) (crypto.Signer, error) {
	var k crypto.Signer
	var err error
	if alg == algEdDSA {
		_, k, err = ed25519.GenerateKey(rand.Reader)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, errorf("transport: making a DPoP key: %w", err)
	}
	return k, nil
}

// roundTrip sends req, a request of the Transport's own, through rt with
// a DPoP proof by key (with the hash of the access token at, if set) and
// the nonce last given for its origin. An answer asking for a nonce
// (use_dpop_nonce, RFC 9449 §8 and §9) is followed by one more request
// with it, if the body can be sent again; retried says so. Every answer's
// DPoP-Nonce is remembered.
func (p *prover) roundTrip(rt http.RoundTripper, req *http.Request, key crypto.Signer, at string) (resp *http.Response, retried bool, err error) {
	nonce := p.nonces.get(originKey(req.URL))
	for {
		if err := p.sign(req, key, at, nonce); err != nil {
			closeBody(req)
			return nil, retried, err
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return nil, retried, err
		}
		p.nonces.record(req.URL, resp)
		next, ok := useNonce(resp)
		if retried || !ok || next == nonce {
			return resp, retried, nil
		}
		body, ok := replayBody(req)
		if !ok {
			return resp, false, nil
		}
		drainClose(resp)
		req, nonce, retried = withBody(req, body), next, true
	}
}

// sign puts a proof for req into its header, which is req's own.
func (p *prover) sign(req *http.Request, key crypto.Signer, at, nonce string) error {
	now := time.Now
	if p.now != nil {
		now = p.now
	}
	proof, err := dpop.NewProof(key, dpop.Claims{Method: req.Method, URL: req.URL.String(), AccessToken: at, Nonce: nonce, IssuedAt: now()})
	if err != nil {
		return errorf("transport: signing the DPoP proof: %w", err)
	}
	req.Header["Dpop"] = []string{proof}
	return nil
}

// withBody returns a shallow copy of req with its own header map and body.
func withBody(req *http.Request, body io.ReadCloser) *http.Request {
	r := new(http.Request)
	*r = *req
	r.Header = req.Header.Clone()
	r.Body = body
	return r
}

// replayBody returns a fresh copy of req's body, to send it again: nil for
// a request without one; ok is false when it cannot be had.
func replayBody(req *http.Request) (body io.ReadCloser, ok bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	body, err := req.GetBody()
	return body, err == nil
}

// maxErrorPeek bounds what useNonce reads of an error answer's body.
const maxErrorPeek = 64 << 10

// useNonce returns the nonce that resp carries when it asks for a proof
// with it: a 400 or 401 whose error, in a DPoP challenge or in an RFC 6749
// error body, is use_dpop_nonce. It puts back what it read of the body.
func useNonce(resp *http.Response) (string, bool) {
	nonce := resp.Header.Get("DPoP-Nonce")
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized ||
		nonce == "" || len(nonce) > maxNonce || !isNonce(nonce) {
		return "", false
	}
	if found, code := schemeError(resp.Header["Www-Authenticate"], "DPoP"); found && code == "use_dpop_nonce" {
		return nonce, true
	}
	if resp.Body == nil {
		return "", false
	}
	peek, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorPeek))
	var rest io.Reader = resp.Body // at its end, or with more to read
	if err != nil {
		rest = errReader{err}
	}
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(peek), rest), resp.Body}
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(peek, &body) != nil || body.Error != "use_dpop_nonce" {
		return "", false
	}
	return nonce, true
}

type readCloser struct {
	io.Reader
	io.Closer
}

// errReader fails with the error that reading a body's start met.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// maxNonceOrigins bounds the origins whose nonce is remembered; an origin
// past it gets one retry per nonce.
const maxNonceOrigins = 64

// maxNonce bounds a server's nonce: it goes into every proof.
const maxNonce = 1 << 10

// nonces remembers the last DPoP-Nonce of each origin (RFC 9449 §8, §9).
type nonces struct {
	max int
	mu  sync.Mutex
	m   map[string]string // guarded by mu
}

// get returns the nonce of origin; "" if none. A nil nonces has none.
func (n *nonces) get(origin string) string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m[origin]
}

// record remembers the nonce resp carries, if any, for u's origin. It
// reports whether resp carried a usable one.
func (n *nonces) record(u *url.URL, resp *http.Response) bool {
	v := resp.Header.Get("DPoP-Nonce")
	if v == "" || len(v) > maxNonce || !isNonce(v) {
		return false
	}
	if n == nil {
		return true
	}
	o := originKey(u)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = make(map[string]string)
	}
	if _, ok := n.m[o]; !ok && len(n.m) >= n.max {
		return true
	}
	n.m[o] = v
	return true
}

// isNonce reports whether v is an RFC 9449 nonce: 1*NQCHAR, visible ASCII
// but '"' and '\'.
func isNonce(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// originKey is u's origin as the nonces are kept by.
func originKey(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + portOf(scheme, u.Port())
}

// thumbprint is key's RFC 7638 thumbprint (its "jkt").

func thumbprint(key crypto.Signer) (string, error) {
	return dpop.Thumbprint(key.Public())
}
