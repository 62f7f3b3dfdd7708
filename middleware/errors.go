package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Sentinel errors; test them with errors.Is. A refusal is an [*Error]
// that wraps one of them and its cause (for example [keys.ErrUnknownKID]
// or a golang-jwt error).
var (
	// ErrInvalidConfig: a bad argument to [New] or to an option, or a nil
	// option.
	ErrInvalidConfig = errors.New("middleware: invalid configuration")
	// ErrTokenMissing: no bearer token in the request (401, no error code).
	ErrTokenMissing = errors.New("middleware: no access token")
	// ErrInvalidRequest: a malformed request, such as two Authorization
	// headers, "Bearer" without a token, or a token both in the header and
	// in the cookie (400 invalid_request).
	ErrInvalidRequest = errors.New("middleware: malformed request")
	// ErrTokenMalformed is golang-jwt's jwt.ErrTokenMalformed: the token is
	// too large, or not a decodable compact JWS (401 invalid_token).
	ErrTokenMalformed = jwt.ErrTokenMalformed
	// ErrTokenInvalid: the signature, key, algorithm, `crit` or `typ`
	// header or a claim (`iss`, `aud`, `nbf`, `iat`, missing `exp`) is
	// wrong (401 invalid_token). Claim failures also wrap golang-jwt's
	// error for them, such as jwt.ErrTokenInvalidAudience.
	ErrTokenInvalid = errors.New("middleware: invalid access token")
	// ErrTokenExpired is golang-jwt's jwt.ErrTokenExpired: a token whose
	// signature and other claims verified, past its `exp` (401
	// invalid_token, "the access token expired").
	ErrTokenExpired = jwt.ErrTokenExpired
	// ErrSessionRevoked is what a session check returns (wrapped or not)
	// for a session that no longer exists (401 invalid_token).
	ErrSessionRevoked = errors.New("middleware: session revoked")
	// ErrSessionUnavailable: the session check failed for another reason,
	// e.g. its store is down (503 with Retry-After, never 401).
	ErrSessionUnavailable = errors.New("middleware: session check unavailable")
	// ErrInsufficientScope: the token lacks a scope the route requires
	// (403 insufficient_scope).
	ErrInsufficientScope = errors.New("middleware: insufficient scope")
	// ErrInvalidProof: a DPoP-bound token came without a valid DPoP proof
	// by its key for this request, or with a replayed one (401
	// invalid_dpop_proof, or use_dpop_nonce when a server nonce is
	// missing).
	ErrInvalidProof = errors.New("middleware: invalid DPoP proof")
	// ErrReplayCheckUnavailable: the proof could not be checked for
	// replay (the local cache is full of unexpired proofs, or the shared
	// [ReplayCheck] failed): 503 with Retry-After.
	ErrReplayCheckUnavailable = errors.New("middleware: DPoP replay check unavailable")
)

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// Error is how the middleware reports a refused request: to the error
// handler (see [WithErrorHandler]), from [Middleware.Verify], and in
// [Event]. It unwraps to one of the sentinel errors above and to the
// underlying cause. Description never contains token contents or key
// material.
type Error struct {
	// Status is the HTTP status: 400, 401, 403 or 503.
	Status int
	// Code is the RFC 6750 §3.1 error code ("invalid_request",
	// "invalid_token", "insufficient_scope"), "unauthorized" for a missing
	// token (which gets no code in the challenge), or
	// "temporarily_unavailable" for a 503.
	Code string
	// Description is a short, fixed, human-readable explanation.
	Description string
	// Challenge is the WWW-Authenticate value, or "" for a 503.
	Challenge string
	// Scope lists the required scopes of an insufficient_scope error.
	Scope string
	// RetryAfter is the Retry-After of a 503, zero otherwise.
	RetryAfter time.Duration
	// Reason is a short, stable label, fit for a metric: "missing",
	// "invalid_request", "too_large", "malformed", "invalid", "expired",
	// "revoked", "unavailable", "insufficient_scope", "invalid_dpop_proof"
	// or "use_dpop_nonce".
	Reason string
	// DPoPNonce is the server nonce to send in the DPoP-Nonce header of a
	// use_dpop_nonce refusal; "" otherwise.
	DPoPNonce string
	// Err wraps the sentinel and the cause.
	Err error

	body []byte // precomputed JSON body; nil: built by Write
}

// Error returns the message of the wrapped cause; it never contains the
// token.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the sentinel-wrapping cause.
func (e *Error) Unwrap() error { return e.Err }

// Causes of ErrInvalidRequest, compared by identity.
var (
	errDuplicate   = fmt.Errorf("%w: %s", ErrInvalidRequest, descDuplicate)
	errEmptyBearer = fmt.Errorf("%w: %s", ErrInvalidRequest, descEmptyBearer)
	errBadHeader   = fmt.Errorf("%w: %s", ErrInvalidRequest, descBadHeader)
	errBadCookie   = fmt.Errorf("%w: %s", ErrInvalidRequest, descBadCookie)
	errTwoMethods  = fmt.Errorf("%w: %s", ErrInvalidRequest, descTwoMethods)
)

// Causes of ErrTokenInvalid found in the claims, each also wrapping
// golang-jwt's error for the same fault; built once, as refusals are
// frequent.
var (
	errNoExp     = fmt.Errorf("%w: %w: exp", ErrTokenInvalid, jwt.ErrTokenRequiredClaimMissing)
	errIssuer    = fmt.Errorf("%w: %w", ErrTokenInvalid, jwt.ErrTokenInvalidIssuer)
	errAudience  = fmt.Errorf("%w: %w", ErrTokenInvalid, jwt.ErrTokenInvalidAudience)
	errNotBefore = fmt.Errorf("%w: %w", ErrTokenInvalid, jwt.ErrTokenNotValidYet)
	errIssuedAt  = fmt.Errorf("%w: %w", ErrTokenInvalid, jwt.ErrTokenUsedBeforeIssued)
	errTooLarge  = fmt.Errorf("%w: too large", ErrTokenMalformed)
)

var jsonContentType = []string{"application/json"}

// Write writes the default response for e: the status, WWW-Authenticate
// (when Challenge is set), DPoP-Nonce (when DPoPNonce is), Retry-After
// (for a 503), Content-Type:
// application/json and the body {"error":Code,"error_description":Description}.
// A custom error handler can call it and add to it.
func (e *Error) Write(w http.ResponseWriter) {
	h := w.Header()
	if e.Challenge != "" {
		h["Www-Authenticate"] = []string{e.Challenge}
	}
	if e.DPoPNonce != "" {
		h["Dpop-Nonce"] = []string{e.DPoPNonce}
	}
	if e.RetryAfter > 0 {
		h["Retry-After"] = []string{strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10)}
	}
	h["Content-Type"] = jsonContentType[:1:1]
	w.WriteHeader(e.Status)
	body := e.body
	if body == nil {
		body = jsonBody(e.Code, e.Description)
	}
	_, _ = w.Write(body)
}
