package middleware

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the verified claims of an access token: the registered
// claims of RFC 7519 §4.1 (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`,
// `jti`), the session id `sid`, the `scope` of RFC 8693 §4.2 and the DPoP
// binding `cnf.jkt` of RFC 9449.
//
// A handler gets its own copy: changing a field does not affect other
// requests. Treat the Audience and Scope slices as read-only (they are
// shared with the cache; append is safe, assigning to an element is not).
//
// Claims is a jwt.Claims, so an issuer or a test can mint a token with
// `sid` and `scope` by passing one to
// [github.com/jwtrefresh/jwtrefresh/keys.Set.Sign].
type Claims struct {
	jwt.RegisteredClaims
	// SessionID is the `sid` claim: the session (refresh-token family).
	SessionID string `json:"sid,omitempty"`
	// Scope is the `scope` claim.
	Scope Scopes `json:"scope,omitempty"`
	// KeyThumbprint is `cnf.jkt` (RFC 9449 §6.1): the thumbprint of the
	// DPoP key the token is bound to, "" for a bearer token. Not
	// marshalled: to mint a bound token, add the `cnf` claim yourself.
	KeyThumbprint string `json:"-"`
}

// HasScope reports whether the token grants scope s.
func (c *Claims) HasScope(s string) bool { return slices.Contains(c.Scope, s) }

// Scopes is the `scope` claim: on the wire a space-separated string
// (RFC 8693 §4.2, RFC 9068 §2.2.3); a JSON array of strings is accepted
// too. It marshals as the string form.
type Scopes []string

// MarshalJSON writes the space-separated form.
func (s Scopes) MarshalJSON() ([]byte, error) { return json.Marshal(strings.Join(s, " ")) }

// UnmarshalJSON reads a space-separated string or an array of strings.
func (s *Scopes) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return fmt.Errorf("scope: %w", err)
		}
		*s = list
		return nil
	}
	// The common case, a plain string without escapes, skips a second
	// pass of the JSON decoder.
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && !bytes.ContainsAny(b[1:len(b)-1], "\\\"") {
		*s = strings.Fields(string(b[1 : len(b)-1]))
		return nil
	}
	var str *string
	if err := json.Unmarshal(b, &str); err != nil {
		return errors.New("scope: want a string or an array of strings")
	}
	if str == nil {
		*s = nil
		return nil
	}
	*s = strings.Fields(*str)
	return nil
}

// ctxClaims is the context key of the verified claims.
type ctxClaims struct{}

// verified is what the middleware puts in the request context: the
// request's own copy of the claims, with storage for the dates so the copy
// takes one allocation.
type verified struct {
	claims        Claims
	exp, nbf, iat jwt.NumericDate
	token         string
}

// ClaimsFrom returns the verified claims of the request whose context is
// ctx, and false if the middleware did not authenticate it (Optional
// without a token, or a handler not behind the middleware). The pointer is
// to this request's own copy.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	v, ok := ctx.Value(ctxClaims{}).(*verified)
	if !ok {
		return nil, false
	}
	return &v.claims, true
}

// ClaimsAs decodes the verified token's whole claims set into the
// application's own type T, e.g. a struct with its own claims next to (or
// embedding) [Claims]. It decodes on every call; call it once per request.
// It fails with [ErrTokenMissing] if the request was not authenticated.
//
// It decodes with encoding/json, which matches member names to T's fields
// case-insensitively. The middleware has already refused claims sets in
// which that could change a top-level member (a repeated name, two names
// differing only in case, or "Sub" for "sub"), so the registered claims in
// T are the ones [ClaimsFrom] returns.
func ClaimsAs[T any](ctx context.Context) (T, error) {
	var out T
	v, ok := ctx.Value(ctxClaims{}).(*verified)
	if !ok {
		return out, ErrTokenMissing
	}
	_, rest, _ := strings.Cut(v.token, ".")
	payload, _, _ := strings.Cut(rest, ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil { // unreachable for a verified token
		return out, fmt.Errorf("%w: %v", ErrTokenMalformed, err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("middleware: decoding claims into %T: %w", out, err)
	}
	return out, nil
}

// copyFrom makes v's claims an independent copy of c.
func (v *verified) copyFrom(c *Claims) {
	v.claims = *c
	if c.ExpiresAt != nil {
		v.exp = *c.ExpiresAt
		v.claims.ExpiresAt = &v.exp
	}
	if c.NotBefore != nil {
		v.nbf = *c.NotBefore
		v.claims.NotBefore = &v.nbf
	}
	if c.IssuedAt != nil {
		v.iat = *c.IssuedAt
		v.claims.IssuedAt = &v.iat
	}
	// Clipped, so an append by one handler reallocates instead of
	// writing into memory another request can see.
	v.claims.Audience = c.Audience[:len(c.Audience):len(c.Audience)]
	v.claims.Scope = c.Scope[:len(c.Scope):len(c.Scope)]
}
