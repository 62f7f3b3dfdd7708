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
	// application must log the user in again; retrying will not help.
	ErrLoginRequired = errors.New("transport: login required")

	// ErrForeignToken means the stored token records another refresh
	// endpoint than the Transport's (Token.RefreshURL), and the Transport
	// sends it nowhere. It comes wrapped with ErrLoginRequired, since a
	// login to this server replaces it; test for it first to tell the user
	// that the session belongs elsewhere. The store is left as it is.
	ErrForeignToken = errors.New("transport: the stored token belongs to another refresh endpoint")

	// ErrNoToken is what Store.Load returns when the store holds no token.
	// The Transport turns it into ErrLoginRequired, or sends requests
	// without a token (WithAnonymous).
	ErrNoToken = errors.New("transport: no token stored")

	// ErrRefreshUnavailable means a refresh could not be completed for now:
	// the endpoint was unreachable, timed out, or answered 5xx, 408 or 429
	// on every attempt, or asked the client to wait (Retry-After). The
	// tokens are kept and a later request tries again.
	ErrRefreshUnavailable = errors.New("transport: token refresh temporarily unavailable")

	// ErrInvalidResponse means a token endpoint answered 200 with a body
	// that is not a usable RFC 6749 §5.1 token response: not JSON, too
	// large, no access token, neither a Bearer nor a DPoP token (a Bearer
	// one with DPoP.Required; a DPoP one to a request without a proof), or
	// a token that cannot go into an Authorization header.
	ErrInvalidResponse = errors.New("transport: invalid token response")

	// ErrPanic means code the Transport ran on a goroutine of its own (a
	// Store, a hook, the refresh RoundTripper, while loading or refreshing)
	// panicked. The panic is recovered and logged with its stack, and every
	// request waiting for that load or refresh fails with an error wrapping
	// ErrPanic (and the panic value, if it is an error).
	ErrPanic = errors.New("transport: recovered a panic")

	// ErrUnsafeTokenFile means a file store refused its file or its lock
	// file: a symbolic link or not a regular file, one that group or others
	// can access or another user owns, or a directory that group or others
	// can write to or another user than the caller or root owns.
	ErrUnsafeTokenFile = errors.New("transport: unsafe token file")
)

// ResponseError is a non-200 answer from a token endpoint, usually an
// RFC 6749 §5.2 error response. Refresh failures wrap it together with
// ErrLoginRequired (invalid_grant), ErrRefreshUnavailable (5xx, 408, 429),
// or alone (any other status); use errors.As to read its fields.
type ResponseError struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Code is the RFC 6749 "error" member, such as "invalid_grant"; empty
	// when the body was not an RFC 6749 error object.
	Code string
	// Description is the "error_description" member, cut to a few hundred
	// printable characters, with any refresh token, access token or
	// idempotency key the request presented replaced by [REDACTED].
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

// rejected reports whether err is the endpoint's definite refusal of the
// refresh token: invalid_grant, and not from a 5xx, which is an outage
// whatever its body says.
func rejected(err error) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.Code == "invalid_grant" && !re.temporary() || errors.Is(err, errUnbound)
}

// errUnbound: a token endpoint answered a proof with a Bearer token, and
// WithDPoP requires DPoP. A refresh that gets it ends the session.
var errUnbound = fmt.Errorf("%w: a Bearer token, and WithDPoP requires a DPoP-bound one", ErrInvalidResponse)

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

// configError is an error of New: the configuration cannot be used.
func configError(format string, args ...any) error {
	return errorf("transport: "+format, args...)
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
