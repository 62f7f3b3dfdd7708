package transport

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// maxResponseBytes bounds what is read of a token endpoint's answer.
	maxResponseBytes = 1 << 20
	// maxTokenBytes bounds each token: a header larger than this would be
	// refused by most servers anyway, and it keeps JWT decoding cheap.
	maxTokenBytes = 16 << 10
	// maxDescription bounds the error_description kept from a server.
	maxDescription = 300
)

// Token is what a Store holds: the tokens of one session and the state of a
// refresh in progress. Its JSON form is a superset of the RFC 6749 §5.1
// token response, so the body of a login or refresh response decodes into
// it directly (see UnmarshalJSON) and the FileStore saves it as is.
//
// String, GoString and LogValue redact the tokens, so printing or logging a
// Token never leaks one. A Token holds no pointers: copying it copies it.
type Token struct {
	// AccessToken is sent as "Authorization: Bearer <AccessToken>".
	AccessToken string `json:"access_token"`
	// TokenType is "Bearer" (any case) or empty; other types are refused.
	TokenType string `json:"token_type,omitempty"`
	// RefreshToken redeems a new pair; empty when the session cannot be
	// refreshed.
	RefreshToken string `json:"refresh_token,omitempty"`
	// ExpiresIn is the access token's lifetime in seconds as the server
	// announced it (RFC 6749 "expires_in"), at most a year; zero when
	// unknown. It caps the proactive-refresh skew at a fraction of the
	// lifetime.
	ExpiresIn int64 `json:"expires_in,omitempty"`
	// Expiry is when the access token expires; the zero value means
	// unknown. ReadTokenResponse sets it from expires_in or, when that is
	// absent, from a JWT access token's lifetime (exp - iat, read without
	// verifying it), both counted from the response's arrival, so that a
	// client clock that is off does not matter. For a stored token without
	// it, the Transport reads the JWT's "exp" claim, unless that has passed
	// already, or waits for a 401.
	Expiry time.Time `json:"expiry,omitzero"`
	// IdempotencyKey is the Idempotency-Key of a refresh that was started
	// with RefreshToken and is not known to have completed. The Transport
	// saves it before it sends the refresh, so that a process that died
	// mid-refresh repeats the same refresh instead of spending the refresh
	// token twice. Applications leave it empty.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// RefreshURL records where the tokens belong: the refresh endpoint of
	// the Transport that stored them, in a canonical form (scheme and host
	// in lower case, no default port). Transport.Login and every save
	// after a refresh set it. A Transport refuses a stored token that
	// names another refresh endpoint, with ErrForeignToken, and sends it
	// nowhere, so that a session persisted for one server cannot reach
	// another through a Transport built for that one (a command-line tool
	// given another -server, say).
	//
	// Empty means unknown: a token saved before this field existed, or
	// built by the application itself. Such a token is accepted by any
	// Transport and records that Transport's endpoint at its next save
	// (trust on first use). An application that takes the refresh URL from
	// its user should store logins with Transport.Login, which records it
	// at once. A token endpoint's response never sets it.
	RefreshURL string `json:"refresh_url,omitempty"`
}

// UnmarshalJSON decodes a stored Token or an RFC 6749 §5.1 token response.
// When "expiry" is absent and "expires_in" is positive, Expiry is set to the
// time of decoding plus expires_in, so decode a response as soon as it
// arrives. expires_in may be a JSON number (3600, 3600.0) or a string
// holding one ("3600"), as some servers send it; a value that is none of
// these, or not positive, means unknown, and one above a year counts as a
// year. It does not validate the tokens; ReadTokenResponse does.
func (t *Token) UnmarshalJSON(data []byte) error {
	return t.decode(data, time.Now(), true)
}

// tokenFields is Token without its methods, for the standard decoder.
type tokenFields Token

// wireToken is what decode reads: a Token whose expires_in may take any of
// the shapes servers send. Its ExpiresIn hides the embedded one.
type wireToken struct {
	tokenFields
	ExpiresIn flexSeconds `json:"expires_in"`
}

// maxExpiresIn bounds a server's expires_in, and maxLifetime the lifetime
// derived from it or from a JWT: no access token needs to live longer.
const (
	maxExpiresIn = 365 * 24 * 60 * 60
	maxLifetime  = maxExpiresIn * time.Second
)

// flexSeconds is a positive number of seconds read leniently: a number or a
// numeric string, cut to maxExpiresIn. Anything else is zero, unknown: a
// refresh the server has completed must never be thrown away because of an
// advisory field.
type flexSeconds float64

func (f *flexSeconds) UnmarshalJSON(b []byte) error {
	*f = 0
	if len(b) > 0 && b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return nil
		}
		b = []byte(strings.TrimSpace(s))
	}
	if len(b) > 64 {
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(v) || v <= 0 {
		return nil
	}
	*f = flexSeconds(min(v, maxExpiresIn))
	return nil
}

// decode fills t from data. trustExpiry says whether the client's own
// members (an absolute "expiry", "idempotency_key", "refresh_url") are taken
// as is: true for our own files, false for a server's response, whose
// lifetime is only ever relative to our clock and which has no say in
// where its tokens may be sent.
func (t *Token) decode(data []byte, now time.Time, trustExpiry bool) error {
	var w wireToken
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	f := w.tokenFields
	f.ExpiresIn = int64(math.Ceil(float64(w.ExpiresIn)))
	if !trustExpiry {
		f.Expiry = time.Time{}
		f.IdempotencyKey = ""
		f.RefreshURL = "" // the client's record, not the server's to choose
	}
	if f.Expiry.IsZero() && w.ExpiresIn > 0 {
		f.Expiry = now.Add(secondsDuration(float64(w.ExpiresIn)))
	}
	if f.Expiry.IsZero() && !trustExpiry {
		// Without expires_in, a JWT's lifetime (exp - iat) counted from
		// now: its exp read against our clock would be wrong by however
		// much our clock is off, and a clock ahead by more than the
		// lifetime would refresh before every request.
		if exp, iat := jwtTimes(f.AccessToken); !iat.IsZero() && exp.After(iat) {
			f.Expiry = now.Add(min(exp.Sub(iat), maxLifetime))
		}
	}
	*t = Token(f)
	return nil
}

// String describes the token without revealing it.
func (t Token) String() string {
	exp := "unknown"
	if !t.Expiry.IsZero() {
		exp = t.Expiry.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("transport.Token{type: %q, access_token: %s, refresh_token: %s, expiry: %s, refresh_url: %q}",
		t.TokenType, redacted(t.AccessToken), redacted(t.RefreshToken), exp, t.RefreshURL)
}

// GoString is String, so that %#v redacts too.
func (t Token) GoString() string { return t.String() }

// LogValue implements slog.LogValuer: the expiry, the refresh endpoint and
// whether each token is present, never the tokens or the idempotency key.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("access_token", t.AccessToken != ""),
		slog.Bool("refresh_token", t.RefreshToken != ""),
		slog.Time("expiry", t.Expiry),
		slog.String("refresh_url", t.RefreshURL),
	)
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "REDACTED(" + strconv.Itoa(len(s)) + " bytes)"
}

// validate checks what the Transport relies on: a Bearer access token that
// fits into an Authorization header and a refresh token of visible ASCII.
// Without requireAccess, a token with only a refresh token is fine: the
// Transport redeems it before the first request. The error says what is
// wrong, never with the token's value; callers say where the token came
// from.
func (t *Token) validate(requireAccess bool) error {
	switch {
	case t.AccessToken == "" && (requireAccess || t.RefreshToken == ""):
		return errors.New("no access_token")
	case t.TokenType != "" && !strings.EqualFold(t.TokenType, "Bearer"):
		return errorf("token_type %.20q is not Bearer", t.TokenType)
	case t.AccessToken != "" && (len(t.AccessToken) > maxTokenBytes || !isB64Token(t.AccessToken)):
		return errorf("access_token is not an RFC 6750 b64token of at most %d bytes", maxTokenBytes)
	case len(t.RefreshToken) > maxTokenBytes || !isVisibleASCII(t.RefreshToken):
		return errorf("refresh_token is not visible ASCII of at most %d bytes", maxTokenBytes)
	}
	return nil
}

// isB64Token reports whether s matches RFC 6750 §2.1
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for i < len(s) && isB64Char(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

func isB64Char(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

func isVisibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ReadTokenResponse reads an RFC 6749 token endpoint response (from a
// refresh, or from an application's own login endpoint that answers in the
// same format) and closes its body. At most 1 MiB of the body is read.
//
// A 200 answer yields the validated Token, its Expiry computed from
// expires_in against the current time; a malformed one yields an error
// wrapping ErrInvalidResponse. Any other status yields a *ResponseError
// carrying the RFC 6749 §5.2 error code and the Retry-After delay. An error
// reading the body is returned as is. A nil resp is an error, and a nil
// Body is read as an empty one.
func ReadTokenResponse(resp *http.Response) (*Token, error) {
	if resp == nil {
		return nil, errors.New("transport: ReadTokenResponse: nil response")
	}
	return readTokenResponse(resp, time.Now(), nil)
}

// readTokenResponse is ReadTokenResponse at now. The server's error text is
// scrubbed of secrets, the credentials the request presented.
func readTokenResponse(resp *http.Response, now time.Time, secrets []string) (*Token, error) {
	r := resp.Body
	if r == nil {
		r = http.NoBody
	}
	defer r.Close()
	body, err := io.ReadAll(io.LimitReader(r, maxResponseBytes+1))
	if err != nil {
		return nil, errorf("transport: reading token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, responseError(resp, body, now, secrets)
	}
	if len(body) > maxResponseBytes {
		return nil, errorf("%w: larger than %d bytes", ErrInvalidResponse, maxResponseBytes)
	}
	var tok Token
	if err := tok.decode(body, now, false); err != nil {
		return nil, errorf("%w: %w", ErrInvalidResponse, err)
	}
	if err := tok.validate(true); err != nil {
		return nil, errorf("%w: %w", ErrInvalidResponse, err)
	}
	return &tok, nil
}

// responseError builds the *ResponseError of a non-200 answer. A body that is
// not an RFC 6749 error object leaves Code empty rather than failing: the
// status alone still decides what the Transport does.
func responseError(resp *http.Response, body []byte, now time.Time, secrets []string) *ResponseError {
	e := &ResponseError{StatusCode: resp.StatusCode}
	var f struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(bytes.TrimSpace(body), &f) == nil {
		e.Code = scrub(f.Error, 64, secrets)
		e.Description = scrub(f.Description, maxDescription, secrets)
	}
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	return e
}

// redactedText replaces a secret in a server's text.
const redactedText = "[REDACTED]"

// minSecret is the length below which a string is not worth scrubbing: no
// real token is that short, and replacing it could mangle the text.
const minSecret = 8

// scrub returns s as printable cuts it, with every secret removed: as is,
// and form-encoded, as it went over the wire. A server may echo the token
// it refuses ("refresh token ... has expired"); that text goes into error
// messages, which applications log. It is scrubbed before it is cut, so no
// prefix of a secret survives either.
func scrub(s string, n int, secrets []string) string {
	s = printable(s, len(s))
	for _, secret := range secrets {
		if len(secret) < minSecret {
			continue
		}
		s = strings.ReplaceAll(s, secret, redactedText)
		if q := url.QueryEscape(secret); q != secret {
			s = strings.ReplaceAll(s, q, redactedText)
		}
	}
	return printable(s, n)
}

// printable cuts s to n bytes of visible ASCII, so that a server's text can
// neither forge log lines nor grow without bound.
func printable(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < n; i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// maxRetryAfter bounds what a server can ask a client to wait.
const maxRetryAfter = time.Hour

// retryAfter parses RFC 9110 §10.2.3 Retry-After: delay-seconds or an
// HTTP-date. It returns zero for an absent or malformed value.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}

// secondsDuration converts seconds to a Duration without overflowing.
func secondsDuration(s float64) time.Duration {
	const maxSeconds = float64(math.MaxInt64 / int64(time.Second))
	return time.Duration(max(-maxSeconds, min(s, maxSeconds)) * float64(time.Second))
}

// jwtTimes reads the "exp" and "iat" claims of a JWT without verifying it:
// the server verifies; the client only wants to know when to refresh. Either
// is zero when absent or when at is not a JWT.
func jwtTimes(at string) (exp, iat time.Time) {
	if len(at) > maxTokenBytes {
		return
	}
	first := strings.IndexByte(at, '.')
	if first < 0 {
		return
	}
	rest := at[first+1:]
	second := strings.IndexByte(rest, '.')
	if second < 0 {
		return
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(rest[:second], "="))
	if err != nil {
		return
	}
	var c struct {
		Exp *float64 `json:"exp"`
		Iat *float64 `json:"iat"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return
	}
	return numericDate(c.Exp), numericDate(c.Iat)
}

// numericDate converts an RFC 7519 NumericDate, clamped to a sane range.
func numericDate(f *float64) time.Time {
	if f == nil || *f <= 0 || *f > 1<<40 {
		return time.Time{}
	}
	sec, frac := math.Modf(*f)
	return time.Unix(int64(sec), int64(frac*1e9))
}
