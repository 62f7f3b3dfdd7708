package transport

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
// it directly (see UnmarshalJSON) and the file store saves it as is.
//
// String, GoString and LogValue redact the tokens, so printing or logging a
// Token never leaks one. Copying a Token copies it; its DPoPKey, which
// never changes, is shared.
type Token struct {
	// AccessToken is sent as "Authorization: Bearer <AccessToken>", or
	// "DPoP <AccessToken>" with a proof for a DPoP-bound token.
	AccessToken string `json:"access_token"`
	// TokenType is "Bearer" (any case) or empty, or "DPoP" for a token
	// bound to a key (see WithDPoP); other types are refused.
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
	// RefreshURL records where the tokens belong: the refresh endpoint that
	// stored them, in a canonical form (scheme and host in lower case, no
	// default port). Transport.Login and every save after a refresh set it,
	// and a Transport of another endpoint refuses the token with
	// ErrForeignToken. Empty means unknown (a token the application built,
	// or saved before the field existed): any Transport accepts it and
	// records itself at the next save. A token response never sets it.
	RefreshURL string `json:"refresh_url,omitempty"`
	// DPoPKey is the private key a DPoP-bound session (TokenType "DPoP")
	// proves possession of, made by the Transport at its login (see
	// WithDPoP); nil for a Bearer session or one bound to DPoP.Key. A
	// Store must keep it with the tokens, as NewMemoryStore and
	// NewFileStore do; it is not part of the JSON form, so a store that
	// only saves that cannot hold a per-login key: Transport.Login finds
	// out, and refuses it. Applications leave it alone.
	DPoPKey crypto.Signer `json:"-"`
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

// same reports whether t and o are the same record.
func (t *Token) same(o *Token) bool {
	a, b := *t, *o
	a.Expiry, b.Expiry = time.Time{}, time.Time{}
	a.DPoPKey, b.DPoPKey = nil, nil
	return a == b && t.Expiry.Equal(o.Expiry) && sameKey(t.DPoPKey, o.DPoPKey)
}

// sameKey reports whether a and b are the same key (or both nil), by their
// public halves: an ed25519.PrivateKey is a slice, which == cannot compare.
func sameKey(a, b crypto.Signer) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	pa, ok := a.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pa.Equal(b.Public())
}

// bound reports whether t is a DPoP-bound token.
func (t *Token) bound() bool { return strings.EqualFold(t.TokenType, "DPoP") }

// String describes the token without revealing it.
func (t Token) String() string {
	exp := "unknown"
	if !t.Expiry.IsZero() {
		exp = t.Expiry.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("transport.Token{type: %q, access_token: %s, refresh_token: %s, expiry: %s, refresh_url: %q, dpop_key: %t}",
		t.TokenType, redacted(t.AccessToken), redacted(t.RefreshToken), exp, t.RefreshURL, t.DPoPKey != nil)
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
		slog.Bool("dpop_key", t.DPoPKey != nil),
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
	case t.TokenType != "" && !strings.EqualFold(t.TokenType, "Bearer") && !t.bound():
		return errorf("token_type %.20q is neither Bearer nor DPoP", t.TokenType)
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
