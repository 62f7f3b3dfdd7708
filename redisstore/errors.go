package redisstore

import "errors"

// ErrInvalidConfig: New was given a configuration it cannot run with: a
// nil client or option, a client that ignores context deadlines, a key
// prefix with '{' or '}', an option out of range. Operations return the
// errors of package session (ErrUnavailable, ErrInvalidInput, ErrNotFound).
var ErrInvalidConfig = errors.New("redisstore: invalid configuration")
