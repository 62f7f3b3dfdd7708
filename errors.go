package jwtrefresh

import (
	"errors"
	"fmt"
)

// Errors of the rotation store contract. They are distinct under [errors.Is];
// implementations wrap them with %w to add detail, so callers must never
// match error text.
//
// The token service maps them to OAuth 2.0 answers (RFC 6749 §5.2):
// [ErrInvalidToken] and [ErrReuseDetected] → 400 invalid_grant;
// [ErrUnavailable] → 503 temporarily_unavailable with Retry-After.
var (
	// ErrInvalidToken: the refresh token is malformed, forged (MAC failure),
	// signed with an unknown key version, unknown, expired or revoked. Nothing
	// was changed.
	ErrInvalidToken = errors.New("jwtrefresh: invalid refresh token")

	// ErrReuseDetected: a genuine refresh token that was already used was
	// presented again outside any replay allowance. The store has revoked
	// sessions per its reuse policy before returning it, as a [*ReuseError]
	// that says which.
	ErrReuseDetected = errors.New("jwtrefresh: refresh token reuse detected")

	// ErrUnavailable: the store could not be reached or did not answer in
	// time (including a cancelled or expired context). The outcome of the
	// operation is unknown; a rotation may have happened, which a retry with
	// the same idempotency key recovers. It must never be reported to a
	// client as invalid_grant.
	ErrUnavailable = errors.New("jwtrefresh: session store unavailable")

	// ErrSessionNotFound: no active session with that id belongs to the
	// subject (RevokeSession).
	ErrSessionNotFound = errors.New("jwtrefresh: session not found")

	// ErrInvalidInput: an argument is out of range (empty or oversized
	// subject, claims that are not a JSON object, oversized client info).
	ErrInvalidInput = errors.New("jwtrefresh: invalid input")

	// ErrInvalidKey: a refresh-token key is too short, duplicated or missing.
	ErrInvalidKey = errors.New("jwtrefresh: invalid refresh-token key")
)

// ReuseError is the error of a rotation that detected reuse. It matches
// [ErrReuseDetected] under [errors.Is], and names the sessions the store
// revoked, so that the service can refuse their access tokens at once (see
// [Service.SessionCheck]). Get it with [errors.As]:
//
//	var re *jwtrefresh.ReuseError
//	if errors.As(err, &re) { … re.Subject, re.SessionID … }
//
// It carries no token.
type ReuseError struct {
	Subject   string // whose token was reused
	SessionID string // the session (family) the reused token belongs to
	// Policy says what was revoked: every session of Subject
	// ([RevokeSubject]) or only SessionID ([RevokeFamily]).
	Policy ReusePolicy
	// Revoked counts the active sessions the store ended.
	Revoked int
	// Err, when not nil, says why revoking Subject's sessions under other
	// keys of the keyring failed (wrapping [ErrUnavailable]): then only
	// SessionID, and the sessions sharing its key, are sure to be ended.
	Err error
}

func (e *ReuseError) Error() string {
	msg := fmt.Sprintf("%v: %d session(s) revoked (policy %v)", ErrReuseDetected, e.Revoked, e.Policy)
	if e.Err != nil {
		msg += "; revoking the subject's other sessions failed: " + e.Err.Error()
	}
	return msg
}

// Unwrap returns [ErrReuseDetected] and Err (when not nil).
func (e *ReuseError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrReuseDetected}
	}
	return []error{ErrReuseDetected, e.Err}
}
