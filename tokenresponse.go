package jwtrefresh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/oauth"
	"github.com/jwtrefresh/jwtrefresh/internal/redact"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// TokenResponse is what a login or a refresh yields: the JSON body of an
// RFC 6749 §5.1 token response, plus facts about the session for the
// application, which are never serialised. Printed (any verb of package
// fmt) or logged (log/slog), it shows the session and only the length of
// each token.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	// TokenType is "Bearer" (RFC 6750), or "DPoP" for a session bound to
	// a DPoP key (RFC 9449 §5).
	TokenType string `json:"token_type"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64 `json:"expires_in"`
	// RefreshToken is the session's new refresh token: a credential, never
	// log it. A rotating server returns one with every response. It is
	// left out of the body when it travels in the refresh cookie.
	RefreshToken string `json:"refresh_token,omitempty"`

	Subject   string `json:"-"` // the access token's `sub`
	SessionID string `json:"-"` // its `sid`
	// Expiry is the access token's `exp`.
	Expiry time.Time `json:"-"`
	// RefreshExpiry is when the refresh token stops working if unused.
	RefreshExpiry time.Time `json:"-"`
	// Replayed reports a retried refresh answered with the refresh token
	// that the first attempt issued.
	Replayed bool `json:"-"`
}

// tokenTypeBearer is the token_type of an unbound session (RFC 6750).
const tokenTypeBearer = "Bearer"

// wireError is one error answer: an RFC 6749 §5.2 body with its status.
// The descriptions are fixed strings: they never echo a token or an
// internal error.
type wireError struct {
	status int
	code   string
	body   []byte
	// basicChallenge: answer a failed Basic authentication with a
	// WWW-Authenticate challenge (RFC 6749 §5.2, invalid_client).
	basicChallenge bool
}

func newWireError(status int, code, desc string) *wireError {
	return &wireError{status: status, code: code, body: oauth.ErrorBody(code, desc)}
}

// OAuth 2.0 error codes (RFC 6749 §5.2, RFC 7009 §2.2.1) and the two this
// package adds for its session endpoints.
const (
	codeInvalidRequest = "invalid_request"
	codeInvalidClient  = "invalid_client"
	codeInvalidGrant   = "invalid_grant"
	codeUnsupported    = "unsupported_grant_type"
	codeUnavailable    = "temporarily_unavailable"
	codeServerError    = "server_error"
	codeNotFound       = "not_found"
	codeAccessDenied   = "access_denied"
	// RFC 9449 §12.2.
	codeInvalidDPoPProof = "invalid_dpop_proof"
	codeUseDPoPNonce     = "use_dpop_nonce"
)

// Every error answer the endpoints give. Descriptions stay within RFC 6749
// §5.2's character set (oauth.ErrorBody panics otherwise).
var (
	respMalformedBody  = newWireError(http.StatusBadRequest, codeInvalidRequest, "the request body is malformed")
	respRepeatedParam  = newWireError(http.StatusBadRequest, codeInvalidRequest, "a request parameter is repeated")
	respNoGrantType    = newWireError(http.StatusBadRequest, codeInvalidRequest, "grant_type is missing")
	respNoRefreshToken = newWireError(http.StatusBadRequest, codeInvalidRequest, "refresh_token is missing")
	respNoToken        = newWireError(http.StatusBadRequest, codeInvalidRequest, "token is missing")
	respCredsInQuery   = newWireError(http.StatusBadRequest, codeInvalidRequest, "credentials must not be sent in the URL")
	respBadIdemKey     = newWireError(http.StatusBadRequest, codeInvalidRequest,
		"the Idempotency-Key header must be one random value of "+strconv.Itoa(session.MinIdempotencyKeyLen)+
			" to "+strconv.Itoa(session.MaxIdempotencyKeyLen)+" visible ASCII characters (128 bits or more): too short, too long or repeated")
	respKeyRepeated = newWireError(http.StatusBadRequest, codeInvalidRequest,
		"the Idempotency-Key is the one of the previous refresh: send a new random key for each refresh")
	respBadAuthz     = newWireError(http.StatusBadRequest, codeInvalidRequest, "the Authorization header is malformed or repeated")
	respClientIDs    = newWireError(http.StatusBadRequest, codeInvalidRequest, "two different client ids")
	respBadCookie    = newWireError(http.StatusBadRequest, codeInvalidRequest, "the refresh token cookie is repeated")
	respBadInput     = newWireError(http.StatusBadRequest, codeInvalidRequest, "the request is invalid")
	respUnsupported  = newWireError(http.StatusBadRequest, codeUnsupported, "grant_type must be refresh_token")
	respInvalidGrant = newWireError(http.StatusBadRequest, codeInvalidGrant, "the refresh token is invalid, expired, revoked or already used")
	respSecretParam  = newWireError(http.StatusBadRequest, codeInvalidClient, "client authentication is not supported: public clients send no secret")
	respSecretBasic  = &wireError{basicChallenge: true, status: http.StatusUnauthorized, code: codeInvalidClient, body: respSecretParam.body}
	respOrigin       = newWireError(http.StatusForbidden, codeAccessDenied, "the request's Origin is not allowed to use the refresh token cookie")
	respNotFound     = newWireError(http.StatusNotFound, codeNotFound, "no such endpoint; the handler serves "+
		"/refresh, /revoke, /logout-all, /sessions, /sessions/{id} and /jwks.json relative to where it is mounted: "+
		"mount it with http.StripPrefix, e.g. mux.Handle(/auth/, http.StripPrefix(/auth, svc.Handler()))")
	respNoSession       = newWireError(http.StatusNotFound, codeNotFound, "no such session")
	respNoKeys          = newWireError(http.StatusNotFound, codeNotFound, "no public keys: the signing keys are symmetric")
	respMethod          = newWireError(http.StatusMethodNotAllowed, codeInvalidRequest, "method not allowed")
	respTooLarge        = newWireError(http.StatusRequestEntityTooLarge, codeInvalidRequest, "the request body is too large")
	respUnsupportedType = newWireError(http.StatusUnsupportedMediaType, codeInvalidRequest,
		"the content type must be application/x-www-form-urlencoded or application/json")
	respServerError = newWireError(http.StatusInternalServerError, codeServerError, "internal error")
	respUnavailable = newWireError(http.StatusServiceUnavailable, codeUnavailable, "the session store is unavailable; retry later")
	respNoClaims    = newWireError(http.StatusServiceUnavailable, codeUnavailable, "the user's claims could not be loaded; retry later")
	respBadProof    = newWireError(http.StatusBadRequest, codeInvalidDPoPProof, "the DPoP proof is invalid for this request")
	respUseNonce    = newWireError(http.StatusBadRequest, codeUseDPoPNonce, "the DPoP proof must carry the nonce of the DPoP-Nonce header")
)

// Header values shared by every response (never modified).
var (
	hdrNoStore    = []string{"no-store"}
	hdrNoCache    = []string{"no-cache"}
	hdrJSON       = []string{"application/json"}
	hdrNoSniff    = []string{"nosniff"}
	hdrAcceptPost = []string{"application/x-www-form-urlencoded, application/json"}
	hdrBasicRealm = []string{`Basic realm="token endpoint"`}
)

// noStore marks a response as never to be cached (RFC 6749 §5.1): it
// carries credentials, or answers a request that did.
func noStore(h http.Header) {
	h["Cache-Control"] = hdrNoStore
	h["Pragma"] = hdrNoCache
}

// errorFor maps an error of the service or its store to its answer.
func errorFor(err error) *wireError {
	switch {
	case errors.Is(err, errUseDPoPNonce):
		return respUseNonce
	case errors.Is(err, ErrInvalidDPoPProof):
		return respBadProof
	case errors.Is(err, session.ErrInvalidToken), errors.Is(err, ErrReuseDetected), errors.Is(err, ErrSubjectRefused):
		return respInvalidGrant
	case errors.Is(err, session.ErrUnavailable):
		return respUnavailable
	case errors.Is(err, ErrClaimsUnavailable):
		return respNoClaims
	case errors.Is(err, session.ErrNotFound):
		return respNoSession
	case errors.Is(err, errKeyRepeated):
		return respKeyRepeated
	case errors.Is(err, session.ErrInvalidInput):
		return respBadInput
	}
	return respServerError
}

// describe is tr with its tokens redacted.
func (tr TokenResponse) describe() string {
	return fmt.Sprintf("jwtrefresh.TokenResponse{token_type: %q, access_token: %s, refresh_token: %s, expires_in: %d, "+
		"subject: %q, session: %q, expiry: %s, refresh_expiry: %s, replayed: %t}",
		tr.TokenType, redact.Secret(tr.AccessToken), redact.Secret(tr.RefreshToken), tr.ExpiresIn,
		tr.Subject, tr.SessionID, redact.Time(tr.Expiry), redact.Time(tr.RefreshExpiry), tr.Replayed)
}

// Format prints tr with its tokens redacted (only their length shows), for
// every verb and flag of package fmt: %x or %#v would otherwise print
// them.
func (tr TokenResponse) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, tr.describe()) }

// LogValue implements slog.LogValuer: the session and its dates, and
// whether each token is present, never a token.
func (tr TokenResponse) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("access_token", tr.AccessToken != ""),
		slog.Bool("refresh_token", tr.RefreshToken != ""),
		slog.String("subject", tr.Subject),
		slog.String("session", tr.SessionID),
		slog.Time("expiry", tr.Expiry),
		slog.Time("refresh_expiry", tr.RefreshExpiry),
		slog.Bool("replayed", tr.Replayed),
	)
}

// WriteTokenResponse writes tr as a successful token response: 200,
// Content-Type: application/json, Cache-Control: no-store and Pragma:
// no-cache (RFC 6749 §5.1). In refresh-cookie mode, for a request from an
// allowed browser origin, the refresh token goes into the cookie instead of
// the body. Use it in the application's login handler after [Service.Login];
// a nil tr is answered with 500 server_error.
func (s *Service) WriteTokenResponse(w http.ResponseWriter, r *http.Request, tr *TokenResponse) {
	if tr == nil {
		s.writeError(w, r, respServerError, errors.New("jwtrefresh: WriteTokenResponse: nil response"))
		return
	}
	inBody := true
	if s.cfg.cookie != nil && s.cfg.cookie.allowed(r) && tr.RefreshToken != "" {
		s.cfg.cookie.set(w, tr.RefreshToken, tr.RefreshExpiry, s.cfg.now())
		inBody = false
	}
	h := w.Header()
	noStore(h)
	s.setDPoPNonce(h)
	h["Content-Type"] = hdrJSON
	h["X-Content-Type-Options"] = hdrNoSniff
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(tr.appendJSON(make([]byte, 0, 96+len(tr.AccessToken)+len(tr.RefreshToken)), inBody))
}

// appendJSON encodes the response body as encoding/json would from the
// struct tags, without reflection: one refresh costs one allocation here.
func (tr *TokenResponse) appendJSON(b []byte, withRefresh bool) []byte {
	b = append(b, `{"access_token":`...)
	b = appendJSONString(b, tr.AccessToken)
	b = append(b, `,"token_type":`...)
	b = appendJSONString(b, tr.TokenType)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, tr.ExpiresIn, 10)
	if withRefresh && tr.RefreshToken != "" {
		b = append(b, `,"refresh_token":`...)
		b = appendJSONString(b, tr.RefreshToken)
	}
	return append(b, '}')
}

// WriteError answers a failed [Service.Login] (or any call of the
// service) the way the endpoints do, with Cache-Control: no-store:
//
//   - session.ErrInvalidToken, [ErrReuseDetected], [ErrSubjectRefused]:
//     400 invalid_grant;
//   - [ErrInvalidDPoPProof]: 400 invalid_dpop_proof, or use_dpop_nonce
//     when the current server nonce is missing (with [WithDPoP]'s nonces,
//     every answer carries DPoP-Nonce);
//   - session.ErrUnavailable, [ErrClaimsUnavailable]: 503
//     temporarily_unavailable with Retry-After;
//   - session.ErrInvalidInput: 400 invalid_request;
//   - session.ErrNotFound: 404 not_found;
//   - anything else: 500 server_error.
//
// The body is {"error","error_description"} with a fixed description; err
// itself is only logged (see [WithLogger]).
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeError(w, r, errorFor(err), err)
}

// writeError writes e and logs why; cause may be nil for a refused request
// whose answer says it all.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, e *wireError, cause error) {
	h := w.Header()
	noStore(h)
	s.setDPoPNonce(h)
	switch {
	case e.status == http.StatusServiceUnavailable:
		h["Retry-After"] = s.retryAfter
	case e.status == http.StatusUnsupportedMediaType:
		h["Accept-Post"] = hdrAcceptPost
	case e.basicChallenge:
		h["Www-Authenticate"] = hdrBasicRealm
	}
	h["Content-Type"] = hdrJSON
	h["X-Content-Type-Options"] = hdrNoSniff
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body)
	s.logRefusal(r.Context(), r, e, cause)
}

func (s *Service) logRefusal(ctx context.Context, r *http.Request, e *wireError, cause error) {
	l := s.cfg.logger
	if l == nil {
		return
	}
	level := slog.LevelDebug
	switch {
	case e.status >= http.StatusInternalServerError && e.status != http.StatusServiceUnavailable:
		level = slog.LevelError
	case e.status == http.StatusServiceUnavailable:
		level = slog.LevelWarn
	}
	if !l.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("path", r.URL.Path),
		slog.Int("status", e.status),
		slog.String("error", e.code),
	}
	// Causes come from this package, the store and the claims loader; none
	// of them quotes a token.
	if cause != nil {
		attrs = append(attrs, slog.String("cause", cause.Error()))
	}
	l.LogAttrs(ctx, level, "token endpoint refused a request", attrs...)
}
