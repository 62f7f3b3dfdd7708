package transport

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Errors returned by this package wrap them with %w: test
// with errors.Is, never by matching the text.
var (
	// ErrLoginRequired means there is no usable session: the store holds no
	// token or one that cannot be used, the token cannot be refreshed, or
	// the refresh endpoint rejected the refresh token (invalid_grant). The
	// application must log the user in again; retrying the request will not
	// help.
	ErrLoginRequired = errors.New("transport: login required")

	// ErrForeignToken means the stored token records another refresh
	// endpoint than the Transport's (Token.RefreshURL): it was issued by,
	// or refreshed at, another server, and this Transport does not send it
	// anywhere, neither as an access token nor to its token endpoint. The
	// error wraps ErrLoginRequired too, since a login to this server is
	// what replaces it; test for ErrForeignToken first to tell the user
	// that the session belongs elsewhere. The stored token is left as it
	// is.
	ErrForeignToken = errors.New("transport: the stored token belongs to another refresh endpoint")

	// ErrNoToken is returned by Store.Load when the store holds no token
	// (for a FileStore: no file, or one holding "{}" or nothing). The
	// Transport turns it into ErrLoginRequired, or sends requests without a
	// token (WithAnonymous).
	ErrNoToken = errors.New("transport: no token stored")

	// ErrRefreshUnavailable means a refresh could not be completed for now:
	// the refresh endpoint was unreachable, timed out, or answered 5xx, 408
	// or 429 on every attempt, or asked the client to wait (Retry-After).
	// The stored tokens are kept and a later request tries again.
	ErrRefreshUnavailable = errors.New("transport: token refresh temporarily unavailable")

	// ErrInvalidResponse means a token endpoint answered 200 with a body that
	// is not a usable RFC 6749 §5.1 token response: not JSON, too large, no
	// access token, a token type other than Bearer, or a token with
	// characters that cannot go into an Authorization header.
	ErrInvalidResponse = errors.New("transport: invalid token response")

	// ErrPanic means that code the Transport called on a goroutine of its
	// own (a Store or Locker method, a Hooks function, or the refresh
	// RoundTripper, while loading or refreshing the tokens) panicked. The
	// panic is recovered, logged with its stack (WithLogger), and every
	// request waiting for that load or refresh fails with an error wrapping
	// ErrPanic and, when the panic value is an error, that error. The
	// tokens in memory and in the store are left as the panic left them;
	// the next request tries again. A panic on the caller's goroutine (in
	// the base RoundTripper, or in Hooks.Unauthorized or Hooks.Retried)
	// is not recovered: it reaches the caller, who can.
	ErrPanic = errors.New("transport: recovered a panic")

	// ErrUnsafeTokenFile means a FileStore refused its file: it is a
	// symbolic link or not a regular file, group or others can access it,
	// or another user owns it; or group or others can write to its
	// directory, or another user than the caller or root owns that.
	ErrUnsafeTokenFile = errors.New("transport: unsafe token file")
)

// ResponseError is a non-200 answer from a token endpoint, usually an
// RFC 6749 §5.2 error response. Refresh failures wrap it together with
// ErrLoginRequired (invalid_grant), ErrRefreshUnavailable (5xx, 408, 429), or
// alone (any other status); use errors.As to read its fields.
type ResponseError struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Code is the RFC 6749 "error" member, such as "invalid_grant"; empty
	// when the body was not an RFC 6749 error object.
	Code string
	// Description is the "error_description" member, cut to a few hundred
	// printable characters. The Transport removes from it the refresh
	// token, access token and idempotency key it presented, should the
	// server echo them.
	Description string
	// RetryAfter is the delay the Retry-After header asked for; zero when
	// there was none.
	RetryAfter time.Duration
}

// Error describes the response, with the server's description; the
// Transport's log lines leave that out.
func (e *ResponseError) Error() string { return e.text(true) }

func (e *ResponseError) text(description bool) string {
	var b strings.Builder
	b.WriteString("transport: token endpoint answered ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if description && e.Description != "" {
		fmt.Fprintf(&b, " (%s)", e.Description)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	return b.String()
}

// temporary reports whether the status may succeed when tried again with the
// same refresh token and idempotency key.
func (e *ResponseError) temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == 408 || e.StatusCode == 429
}

// prefix starts every error message of the package.
const prefix = "transport: "

// errorf is fmt.Errorf for this package's errors: the message starts with
// prefix once, however many of the package's errors it wraps, rather than
// "transport: login required: transport: no token stored".
func errorf(format string, args ...any) error {
	trimmedAny := false
	for i, a := range args {
		if err, ok := a.(error); ok && err != nil && strings.HasPrefix(err.Error(), prefix) {
			args[i] = unprefixed{err}
			trimmedAny = true
		}
	}
	err := fmt.Errorf(format, args...)
	if !trimmedAny && strings.HasPrefix(err.Error(), prefix) {
		return err
	}
	return &prefixedError{msg: prefix + strings.TrimPrefix(err.Error(), prefix), err: err}
}

// unprefixed is an error of the package, wrapped by another one, without
// its prefix. Errors.Is and errors.As see through it.
type unprefixed struct{ err error }

func (e unprefixed) Error() string { return strings.TrimPrefix(e.err.Error(), prefix) }
func (e unprefixed) Unwrap() error { return e.err }

// prefixedError is what errorf returns when it trimmed a prefix.
type prefixedError struct {
	msg string
	err error
}

func (e *prefixedError) Error() string { return e.msg }
func (e *prefixedError) Unwrap() error { return e.err }
