package middleware

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// joseHeader is the part of a JWS protected header (RFC 7515 §4.1) that
// verification needs. Decoding into a struct rather than a map is most of
// why first sight costs less than a golang-jwt parse.
type joseHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// b64 decodes segments strictly: unused trailing bits must be zero, so each
// token has exactly one spelling (no variants of one signature that would
// each verify and each take a cache slot).
var b64 = base64.RawURLEncoding.Strict()

var (
	errSegments = errors.New("not three base64url segments")
	errCrit     = errors.New("crit header present")
	errType     = errors.New("typ header not accepted")
)

// parse verifies the compact JWS tok and decodes its claims into c. With a
// key set the signature is checked before the claims are decoded, so no
// unauthenticated JSON beyond the header is ever parsed. Returned errors
// wrap ErrTokenMalformed or ErrTokenInvalid.
func (m *Middleware) parse(tok string, c *Claims) error {
	i := strings.IndexByte(tok, '.')
	j := strings.LastIndexByte(tok, '.')
	if i <= 0 || j <= i+1 || strings.IndexByte(tok[i+1:j], '.') >= 0 {
		return fmt.Errorf("%w: %w", ErrTokenMalformed, errSegments)
	}
	hb, err := b64.DecodeString(tok[:i])
	if err != nil {
		return fmt.Errorf("%w: header: %w", ErrTokenMalformed, err)
	}
	var h joseHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return fmt.Errorf("%w: header: %w", ErrTokenMalformed, err)
	}
	if h.Crit != nil {
		return fmt.Errorf("%w: %w", ErrTokenInvalid, errCrit)
	}
	if m.typ != "" && !sameMediaType(h.Typ, m.typ) {
		return fmt.Errorf("%w: %w", ErrTokenInvalid, errType)
	}
	sig, err := b64.DecodeString(tok[j+1:])
	if err != nil {
		return fmt.Errorf("%w: signature: %w", ErrTokenMalformed, err)
	}
	if m.set != nil {
		k, err := m.set.Resolve(h.Kid, h.Alg)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrTokenInvalid, err)
		}
		if err := k.Verify(tok[:j], sig); err != nil {
			return fmt.Errorf("%w: %w: %w", ErrTokenInvalid, jwt.ErrTokenSignatureInvalid, err)
		}
		return decodeClaims(tok[i+1:j], c)
	}
	return m.parseWithKeyfunc(tok, hb, h.Alg, tok[i+1:j], tok[:j], sig, c)
}

// parseWithKeyfunc serves WithKeyfunc: the Keyfunc gets a jwt.Token with
// the full header and the claims, as golang-jwt would give it.
func (m *Middleware) parseWithKeyfunc(tok string, hb []byte, alg, payload, signingInput string, sig []byte, c *Claims) error {
	method := jwt.GetSigningMethod(alg)
	if method == nil || !slices.Contains(m.algs, alg) {
		return fmt.Errorf("%w: %w: algorithm %q not accepted", ErrTokenInvalid, jwt.ErrTokenSignatureInvalid, alg)
	}
	if err := decodeClaims(payload, c); err != nil {
		return err
	}
	t := &jwt.Token{Raw: tok, Method: method, Claims: c, Signature: sig}
	if err := json.Unmarshal(hb, &t.Header); err != nil {
		return fmt.Errorf("%w: header: %w", ErrTokenMalformed, err)
	}
	key, err := m.keyfunc(t)
	if err != nil {
		return fmt.Errorf("%w: %w: %w", ErrTokenInvalid, jwt.ErrTokenUnverifiable, err)
	}
	candidates := []jwt.VerificationKey{key}
	if set, ok := key.(jwt.VerificationKeySet); ok {
		candidates = set.Keys
	}
	err = jwt.ErrTokenUnverifiable
	for _, k := range candidates {
		if err = method.Verify(signingInput, sig, k); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %w: %w", ErrTokenInvalid, jwt.ErrTokenSignatureInvalid, err)
}

func decodeClaims(payload string, c *Claims) error {
	b, err := b64.DecodeString(payload)
	if err != nil {
		return fmt.Errorf("%w: claims: %w", ErrTokenMalformed, err)
	}
	if err := json.Unmarshal(b, c); err != nil {
		return fmt.Errorf("%w: claims: %w", ErrTokenMalformed, err)
	}
	return nil
}

// sameMediaType compares a `typ` header with the required type as RFC 7515
// §4.1.9 says: case-insensitively, with an omitted "application/" prefix
// meaning the same type ("at+jwt" equals "application/at+jwt").
func sameMediaType(typ, want string) bool {
	const app = "application/"
	if len(typ) > len(app) && strings.EqualFold(typ[:len(app)], app) {
		typ = typ[len(app):]
	}
	return strings.EqualFold(typ, want)
}
