package middleware

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/dpop"
)

// DPoP configures the checking of DPoP-bound access tokens (RFC 9449):
// see [WithDPoP] and the package documentation's "DPoP" section.
type DPoP struct {
	// BaseURL is the external URL of this server's root as clients
	// address it, e.g. "https://api.example.com" (with a prefix a proxy
	// strips, if any). Required: a proof's `htu` is compared with BaseURL
	// and the request's path, never with the Host header, which a client
	// controls.
	BaseURL string
	// Required refuses tokens that are not DPoP-bound. false ("allowed"):
	// bearer tokens are accepted too, bound ones only with a proof.
	Required bool
	// Window is how far a proof's `iat` may lie from now, either way
	// (default 10 seconds). A replayed proof is refused as long as its
	// iat is within it.
	Window time.Duration
	// Algorithms are the proof algorithms accepted; nil: ES256, EdDSA
	// (also named Ed25519, RFC 9864), PS256 and RS256. Only these
	// asymmetric ones ever are.
	Algorithms []string
	// ReplayCacheSize bounds the proofs remembered by this instance
	// (default 100,000). An unexpired one is never forgotten: when full,
	// new proofs are refused with 503 until older ones expire.
	ReplayCacheSize int
	// Replay, if not nil, is also asked about every proof, so that a
	// proof used on one instance is refused on the others (e.g. a
	// redisstore Store: one Redis write per request).
	Replay ReplayCheck
	// NonceKey, if not nil (at least 32 random bytes, the same on every
	// instance), requires proofs to carry a server nonce (RFC 9449 §9):
	// a proof without the current one is answered 401 use_dpop_nonce with
	// a DPoP-Nonce header.
	NonceKey []byte
}

// ReplayCheck is a replay cache shared by several instances. FirstUse
// records id for ttl and reports whether it was new; an error makes the
// middleware answer 503. Implementations must be safe for concurrent use.
type ReplayCheck interface {
	FirstUse(ctx context.Context, id string, ttl time.Duration) (bool, error)
}

// Defaults of DPoP.
const (
	defaultReplayCacheSize = 100_000
	dpopNonceSlot          = 5 * time.Minute
)

// WithDPoP accepts DPoP-bound access tokens, with the scheme "DPoP" and a
// DPoP header holding a proof for the request: signature by the key the
// token is bound to (`cnf.jkt`), `htm`, `htu`, `iat` within the window,
// `ath`, a `jti` not seen before and, if configured, a server nonce.
// Without it ("off"), bound tokens are refused, since their proof could not
// be checked. A bound token sent as Bearer, or an unbound one with the DPoP
// scheme, is refused with 401 invalid_token; a bad proof with 401
// invalid_dpop_proof. Challenges name both schemes when both are accepted.
func WithDPoP(d DPoP) Option {
	return func(c *config) error {
		dc, err := newDPoPConfig(d)
		if err != nil {
			return err
		}
		c.dpop = dc
		return nil
	}
}

// dpopConfig is DPoP checked and ready.
type dpopConfig struct {
	base     string
	required bool
	window   time.Duration
	algs     []string
	replay   ReplayCheck
	seen     *replayCache
	nonces   *dpop.Nonces
	algsList string // for challenges
}

func newDPoPConfig(d DPoP) (*dpopConfig, error) {
	base, err := dpop.CheckBaseURL(d.BaseURL)
	if err != nil {
		return nil, configError("WithDPoP: %v", err)
	}
	dc := &dpopConfig{base: base, required: d.Required, window: d.Window, replay: d.Replay, algs: dpop.DefaultAlgorithms}
	if dc.window == 0 {
		dc.window = dpop.DefaultWindow
	}
	size := d.ReplayCacheSize
	if size == 0 {
		size = defaultReplayCacheSize
	}
	if dc.window < time.Second || size < 1 {
		return nil, configError("WithDPoP: want a window of at least a second and a positive replay cache size")
	}
	if d.Algorithms != nil {
		for _, a := range d.Algorithms {
			if !slices.Contains(dpop.DefaultAlgorithms, a) {
				return nil, configError("WithDPoP: algorithm %q: want one of %v", a, dpop.DefaultAlgorithms)
			}
		}
		if len(d.Algorithms) == 0 {
			return nil, configError("WithDPoP: empty algorithm list")
		}
		dc.algs = append([]string(nil), d.Algorithms...)
	}
	if d.NonceKey != nil {
		if dc.nonces, err = dpop.NewNonces(d.NonceKey, dpopNonceSlot); err != nil {
			return nil, configError("WithDPoP: %v", err)
		}
	}
	dc.seen = newReplayCache(size, 2*dc.window)
	dc.algsList = strings.Join(dc.algs, " ")
	return dc, nil
}

// Causes of DPoP refusals.
var (
	errDPoPDuplicate = fmt.Errorf("%w: more than one DPoP header", ErrInvalidRequest)
	errNoProof       = fmt.Errorf("%w: no DPoP header", ErrInvalidProof)
	errProofKey      = fmt.Errorf("%w: the proof's key is not the token's", ErrInvalidProof)
	errReplayed      = fmt.Errorf("%w: jti already used", ErrInvalidProof)
	errBoundBearer   = fmt.Errorf("%w: a DPoP-bound token sent as a bearer token", ErrTokenInvalid)
	errUnboundDPoP   = fmt.Errorf("%w: the DPoP scheme with a token not bound to a key", ErrTokenInvalid)
	errBearerRefused = fmt.Errorf("%w: a bearer token where DPoP is required", ErrTokenInvalid)
	errCacheFull     = fmt.Errorf("%w: the replay cache is full", ErrReplayCheckUnavailable)
)

// checkBinding is the DPoP step of a request whose token verified: a
// bound token needs the DPoP scheme and a valid proof by its key, an
// unbound one the Bearer scheme (or the cookie), unless DPoP is required.
func (m *Middleware) checkBinding(r *http.Request, tok string, dpopScheme bool, c *Claims) *Error {
	d := m.dpop
	switch {
	case d == nil && c.KeyThumbprint == "":
		return nil
	case d == nil, c.KeyThumbprint != "" && !dpopScheme:
		return fail(m.t.invalid, errBoundBearer)
	case c.KeyThumbprint == "" && dpopScheme:
		return fail(m.t.invalid, errUnboundDPoP)
	case c.KeyThumbprint == "" && d.required:
		return fail(m.t.invalid, errBearerRefused)
	case c.KeyThumbprint == "":
		return nil
	}
	return m.checkProof(r, tok, c.KeyThumbprint)
}

// checkProof verifies the request's proof for the token tok bound to jkt,
// and records its jti last, once everything else passed.
func (m *Middleware) checkProof(r *http.Request, tok, jkt string) *Error {
	d := m.dpop
	values := r.Header["Dpop"]
	switch len(values) {
	case 0:
		return fail(m.t.badProof, errNoProof)
	case 1:
	default:
		return fail(m.t.dpopDuplicate, errDPoPDuplicate)
	}
	now := m.now()
	check := dpop.Check{Method: r.Method, URL: dpop.RequestURL(d.base, r), AccessToken: tok, Now: now,
		Window: d.window, Algorithms: d.algs}
	if d.nonces != nil {
		check.Nonce = func(n string) bool { return d.nonces.Valid(n, now) }
	}
	p, err := dpop.Verify(values[0], check)
	switch {
	case errors.Is(err, dpop.ErrNonce):
		e := fail(m.t.useNonce, fmt.Errorf("%w: %w", ErrInvalidProof, err))
		e.DPoPNonce = d.nonces.Current(now)
		return e
	case err != nil:
		return fail(m.t.badProof, fmt.Errorf("%w: %w", ErrInvalidProof, err))
	case p.Thumbprint != jkt:
		return fail(m.t.badProof, errProofKey)
	}
	return m.firstUse(r.Context(), jkt, p, now)
}

// firstUse records the proof's jti, locally and in the shared check, and
// refuses a replay. Entries live until the proof's iat leaves the window.
func (m *Middleware) firstUse(ctx context.Context, jkt string, p dpop.Proof, now time.Time) *Error {
	d := m.dpop
	sum := sha256.Sum256([]byte(jkt + "." + p.JTI))
	var id [16]byte
	copy(id[:], sum[:])
	switch d.seen.add(id, now) {
	case replaySeen:
		return fail(m.t.badProof, errReplayed)
	case replayFull:
		return fail(m.t.replayUnavailable, errCacheFull)
	}
	if d.replay == nil {
		return nil
	}
	ttl := p.IssuedAt.Add(d.window).Sub(now) + time.Second
	fresh, err := d.replay.FirstUse(ctx, base64.RawURLEncoding.EncodeToString(id[:]), ttl)
	switch {
	case err != nil:
		d.seen.remove(id) // not refused for what it is: let a retry through
		return fail(m.t.replayUnavailable, fmt.Errorf("%w: %w", ErrReplayCheckUnavailable, err))
	case !fresh:
		return fail(m.t.badProof, errReplayed)
	}
	return nil
}
