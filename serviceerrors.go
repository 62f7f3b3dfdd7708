package jwtrefresh

import "errors"

// Errors of the token service. Like the store's, they are distinct under
// [errors.Is] and wrapped with %w.
var (
	// ErrInvalidConfig: [NewService] was given a configuration it cannot
	// run with (no store, a key set that cannot sign, an option out of
	// range). It is returned at construction, never at request time.
	ErrInvalidConfig = errors.New("jwtrefresh: invalid service configuration")

	// ErrSubjectRefused is what a [ClaimsLoader] returns (wrapped or not)
	// when the subject may no longer refresh: the user was disabled,
	// deleted or locked. The service revokes the session and the client
	// gets invalid_grant.
	ErrSubjectRefused = errors.New("jwtrefresh: subject refused")

	// ErrClaimsUnavailable: the [ClaimsLoader] failed with an error other
	// than [ErrSubjectRefused] (the user database is down). The refresh
	// token was not used up: a retry, with or without the same
	// Idempotency-Key, refreshes normally. Clients get 503
	// temporarily_unavailable with Retry-After; the loader's error is only
	// logged.
	ErrClaimsUnavailable = errors.New("jwtrefresh: claims loader unavailable")
)
