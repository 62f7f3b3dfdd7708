package redisstore

import "errors"

// Configuration errors of New. Operation errors are the sentinels of package
// jwtrefresh (ErrInvalidToken, ErrReuseDetected, ErrUnavailable, …).
var (
	// ErrKeyPrefix: the key prefix contains '{' or '}', which would change
	// the hash slot of the keys and break the one-slot-per-subject layout.
	ErrKeyPrefix = errors.New("redisstore: key prefix must not contain '{' or '}'")

	// ErrClientConfig: the client ignores context deadlines
	// (ContextTimeoutEnabled is false), so an outage could block past the
	// caller's deadline.
	ErrClientConfig = errors.New("redisstore: client must set ContextTimeoutEnabled: true")

	// ErrConfig: an option is out of range (a negative duration, a cap below
	// one, a missing keyring).
	ErrConfig = errors.New("redisstore: invalid configuration")
)
