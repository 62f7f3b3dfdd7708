package jwtrefresh

import (
	"errors"
	"fmt"

	"github.com/jwtrefresh/jwtrefresh/session"
)

// Errors of the token service. Like those of package session, which it
// also returns (session.ErrInvalidToken, ErrUnavailable, ErrNotFound,
// ErrInvalidInput), they are distinct under [errors.Is] and wrapped with
// %w: never match error text.
var (
	// ErrInvalidConfig: [NewService] was given a configuration it cannot
	// run with (no store or secrets, a key set that cannot sign, a nil or
	// refused option). It is returned at construction, never at request
	// time.
	ErrInvalidConfig = errors.New("jwtrefresh: invalid service configuration")

	// ErrReuseDetected: a genuine refresh token that was already used came
	// back outside any replay allowance. The store has revoked sessions,
	// which the [*ReuseError] carrying it names.
	ErrReuseDetected = errors.New("jwtrefresh: refresh token reuse detected")

	// ErrSubjectRefused is what a claims loader returns (wrapped or not)
	// when the subject may no longer refresh: disabled, deleted, locked.
	// The service revokes the session and the client gets invalid_grant.
	ErrSubjectRefused = errors.New("jwtrefresh: subject refused")

	// ErrClaimsUnavailable: the claims loader failed with another error
	// (the user database is down). The refresh token was not used up: any
	// retry refreshes normally. Clients get 503 with Retry-After; the
	// loader's error is only logged.
	ErrClaimsUnavailable = errors.New("jwtrefresh: claims loader unavailable")

	// ErrInvalidDPoPProof: the DPoP header of a login or refresh is not a
	// valid proof for the request (RFC 9449 §4.3), or lacks the current
	// server nonce: 400 invalid_dpop_proof or use_dpop_nonce. Nothing was
	// used up.
	ErrInvalidDPoPProof = errors.New("jwtrefresh: invalid DPoP proof")
)

// ReuseError is the error of a refresh that detected reuse. It matches
// [ErrReuseDetected] under [errors.Is] and names what the store revoked,
// so that the service's session check refuses those access tokens at
// once. It carries no token, and its text names no subject: safe to log.
type ReuseError struct {
	Subject   string // whose token was reused
	SessionID string // the session (family) the reused token belongs to
	// Policy says what was revoked: every session of Subject
	// (session.RevokeSubject) or only SessionID (session.RevokeFamily).
	Policy  session.ReusePolicy
	Revoked int // active sessions the store ended
}

// Error says how many sessions were revoked under which policy.
func (e *ReuseError) Error() string {
	policy := "subject"
	if e.Policy == session.RevokeFamily {
		policy = "family"
	}
	return fmt.Sprintf("%v: %d session(s) revoked (policy %s)", ErrReuseDetected, e.Revoked, policy)
}

// Unwrap returns [ErrReuseDetected].
func (e *ReuseError) Unwrap() error { return ErrReuseDetected }

// Refusals of a refresh that are not the client's token's fault or
// failure: causes wrapped by the errors above or by package session.
var (
	// errKeyRepeated: the idempotency key equals the one of the rotation
	// that made the presented token; nothing was used up.
	errKeyRepeated = fmt.Errorf("%w: the idempotency key is the one of the previous refresh: send a new random key for each refresh",
		session.ErrInvalidInput)
	// errTampered: the session record does not match its seal.
	errTampered = fmt.Errorf("%w: the session record does not match its seal", session.ErrInvalidToken)
)
