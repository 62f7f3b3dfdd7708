package jwtrefresh

import "errors"

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
	// sessions per its reuse policy before returning it.
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
