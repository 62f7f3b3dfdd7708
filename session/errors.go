package session

import "errors"

// Errors of the package. They are distinct under [errors.Is]; stores and
// the token service wrap them with %w to add detail, so callers never
// match error text.
var (
	// ErrInvalidToken: a refresh token is malformed, forged (MAC failure),
	// made under a secret version no longer configured, or of a session
	// that is unknown, expired or revoked. Nothing was changed.
	ErrInvalidToken = errors.New("session: invalid refresh token")

	// ErrUnavailable: the store could not be reached or did not answer in
	// time (a cancelled or expired context included), or answered what it
	// cannot have meant. The outcome of the operation is unknown: a
	// rotation may have happened, which a retry with the same idempotency
	// key recovers. Never report it to a client as invalid_grant.
	ErrUnavailable = errors.New("session: store unavailable")

	// ErrNotFound: no active session with that id belongs to the subject.
	ErrNotFound = errors.New("session: no such session")

	// ErrInvalidInput: an argument is out of range: an empty or oversized
	// subject, claims that are not a JSON object, an idempotency key that
	// could be guessed.
	ErrInvalidInput = errors.New("session: invalid input")

	// ErrInvalidSecret: a refresh-token secret is too short, one byte
	// repeated, or shares its version with another; or the stored
	// subject-index key does not open with the configured secrets.
	ErrInvalidSecret = errors.New("session: invalid refresh-token secret")
)
