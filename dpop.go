package jwtrefresh

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/dpop"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// dpopNonceSlot is how long a server nonce lasts: it is accepted during
// its slot and the next.
const dpopNonceSlot = 5 * time.Minute

// tokenTypeDPoP is the token_type of a DPoP-bound session's responses
// (RFC 9449 §5).
const tokenTypeDPoP = "DPoP"

// WithDPoP makes the service accept DPoP proofs (RFC 9449), so that a
// login can bind its session to the client's key: see the package
// documentation's "DPoP" section. baseURL is the external URL of the
// server's root as clients address it, e.g. "https://auth.example.com"
// (with a prefix a proxy strips, if any): proofs name it in `htu`, and it
// is configured rather than taken from the Host header, which a client
// controls. nonceKey, if not nil, at least 32 random bytes and the same on
// every instance, makes the service require server nonces (RFC 9449 §8):
// a proof without a current one is answered use_dpop_nonce with a fresh
// DPoP-Nonce header. Default: no DPoP; DPoP headers are ignored and
// logins cannot bind.
func WithDPoP(baseURL string, nonceKey []byte) Option {
	return func(c *config) error {
		base, err := dpop.CheckBaseURL(baseURL)
		if err != nil {
			return configError("WithDPoP: %v", err)
		}
		c.dpopBase = base
		c.dpopNonces, c.dpopNonceKey = nil, nil
		if nonceKey != nil {
			c.dpopNonceKey = append([]byte(nil), nonceKey...)
			if c.dpopNonces, err = dpop.NewNonces(nonceKey, dpopNonceSlot); err != nil {
				return configError("WithDPoP: %v", err)
			}
		}
		return nil
	}
}

// Errors of DPoP proofs, wrapping [ErrInvalidDPoPProof].
var (
	errDPoPDuplicate = fmt.Errorf("%w: more than one DPoP header", ErrInvalidDPoPProof)
	// errUseDPoPNonce: the proof lacks the current server nonce.
	errUseDPoPNonce = fmt.Errorf("%w: %w", ErrInvalidDPoPProof, dpop.ErrNonce)
	// errWrongProofKey: a bound session's refresh without a proof by its
	// key (or without one): invalid_grant, and nothing changed.
	errWrongProofKey = fmt.Errorf("%w: the session is bound to a DPoP key the request did not prove", session.ErrInvalidToken)
)

// DPoPThumbprint verifies the DPoP header of r, a login or token request
// (no access token), and returns the RFC 7638 thumbprint of the proof's
// key: the value of session.NewSession.KeyThumbprint that binds the new
// session to it. It returns "" and no error when r has no DPoP header or
// the service has no [WithDPoP]. A bad proof is an error wrapping
// [ErrInvalidDPoPProof]; [Service.WriteError] answers it 400
// invalid_dpop_proof, or use_dpop_nonce with a DPoP-Nonce header. It
// does not remember proofs: a login or a refresh is not repeatable anyway.
func (s *Service) DPoPThumbprint(r *http.Request) (string, error) {
	values := r.Header["Dpop"]
	switch {
	case s.cfg.dpopBase == "" || len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", errDPoPDuplicate
	}
	check := dpop.Check{Method: r.Method, URL: dpop.RequestURL(s.cfg.dpopBase, r), Now: s.cfg.now()}
	if n := s.cfg.dpopNonces; n != nil {
		check.Nonce = func(nonce string) bool { return n.Valid(nonce, check.Now) }
	}
	p, err := dpop.Verify(values[0], check)
	switch {
	case errors.Is(err, dpop.ErrNonce):
		return "", errUseDPoPNonce
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrInvalidDPoPProof, err)
	}
	return p.Thumbprint, nil
}

// setDPoPNonce adds the current server nonce to a response, when the
// service requires them, so that clients keep theirs fresh.
func (s *Service) setDPoPNonce(h http.Header) {
	if n := s.cfg.dpopNonces; n != nil {
		h["Dpop-Nonce"] = []string{n.Current(s.cfg.now())}
	}
}

// dpopRefused reports a refresh refused for its DPoP proof: a bad proof,
// or a bound session refreshed without its key.
func (s *Service) dpopRefused(ctx context.Context, refreshToken string) {
	if s.cfg.events == nil && s.cfg.logger == nil {
		return
	}
	var sid string
	if t, err := s.secrets.Parse(refreshToken); err == nil {
		sid = t.SessionID()
	}
	s.emit(ctx, Event{Kind: EventDPoPRefused, SessionID: sid})
}
