package middleware

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// joseHeader is the part of a JWS protected header (RFC 7515 §4.1) that
// verification needs.
type joseHeader struct {
	alg, kid, typ string
	crit          bool // a `crit` member is present, whatever its value
}

// headerNames are the header members the middleware reads.
var headerNames = []string{"alg", "kid", "typ", "crit"}

// decode reads the header doc, matching member names exactly (see
// checkNames). Errors are errJSONSyntax, errJSONType or errAmbiguous.
func (h *joseHeader) decode(doc string) error {
	var buf [8]member
	ms, err := members(doc, buf[:0])
	if err != nil {
		return err
	}
	if err := checkNames(ms, headerNames); err != nil {
		return err
	}
	for _, m := range ms {
		switch m.name {
		case "alg":
			h.alg, err = jsonString(m.value)
		case "kid":
			h.kid, err = jsonString(m.value)
		case "typ":
			h.typ, err = jsonString(m.value)
		case "crit":
			h.crit = true
		}
		if err != nil {
			return err
		}
	}
	return nil
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

// parse verifies the compact JWS tok and decodes its claims into c, with
// the values its dates and short lists point to in st. The signature is checked before the claims are decoded, so no
// unauthenticated JSON beyond the header is ever parsed.
// Returned errors wrap ErrTokenMalformed or ErrTokenInvalid.
func (m *Middleware) parse(tok string, c *Claims, st *claimStorage) error {
	i := strings.IndexByte(tok, '.')
	j := strings.LastIndexByte(tok, '.')
	if i <= 0 || j <= i+1 || strings.IndexByte(tok[i+1:j], '.') >= 0 {
		return fmt.Errorf("%w: %w", ErrTokenMalformed, errSegments)
	}
	hdoc, err := decodeSegment(tok[:i])
	if err != nil {
		return fmt.Errorf("%w: header: %w", ErrTokenMalformed, err)
	}
	var h joseHeader
	if err := h.decode(hdoc); err != nil {
		return fmt.Errorf("%w: header: %w", ErrTokenMalformed, err)
	}
	if h.crit {
		return fmt.Errorf("%w: %w", ErrTokenInvalid, errCrit)
	}
	if m.typ != "" && !sameMediaType(h.typ, m.typ) {
		return fmt.Errorf("%w: %w", ErrTokenInvalid, errType)
	}
	sig, err := b64.DecodeString(tok[j+1:])
	if err != nil {
		return fmt.Errorf("%w: signature: %w", ErrTokenMalformed, err)
	}
	k, err := m.set.Resolve(h.kid, h.alg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	if err := k.Verify(tok[:j], sig); err != nil {
		return fmt.Errorf("%w: %w: %w", ErrTokenInvalid, jwt.ErrTokenSignatureInvalid, err)
	}
	return decodeClaims(tok[i+1:j], c, st)
}

// decodeSegment decodes a base64url segment into a string, of which the
// decoded members are substrings: one allocation for all of them.
func decodeSegment(seg string) (string, error) {
	b, err := b64.DecodeString(seg)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// claimNames are the claims the middleware reads: the json names of
// Claims.
var claimNames = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "scope", "cnf"}

// decodeClaims decodes the claims segment payload into c as encoding/json
// would, except that names are matched exactly and ambiguous names refused
// (see checkNames).
func decodeClaims(payload string, c *Claims, st *claimStorage) error {
	doc, err := decodeSegment(payload)
	if err == nil {
		err = decodeClaimsJSON(doc, c, st)
	}
	if err != nil {
		return fmt.Errorf("%w: claims: %w", ErrTokenMalformed, err)
	}
	return nil
}

// claimStorage holds what decoding claims would otherwise allocate apart:
// the dates and short `aud` and `scope` lists. A cached token is then one
// object besides the text of its claims.
type claimStorage struct {
	dates [3]jwt.NumericDate
	aud   [2]string
	scope [4]string
}

func decodeClaimsJSON(doc string, c *Claims, st *claimStorage) error {
	var buf [16]member
	ms, err := members(doc, buf[:0])
	if err != nil {
		return err
	}
	if err := checkNames(ms, claimNames); err != nil {
		return err
	}
	for _, m := range ms {
		switch m.name {
		case "iss":
			c.Issuer, err = jsonString(m.value)
		case "sub":
			c.Subject, err = jsonString(m.value)
		case "aud":
			c.Audience, err = jsonAudience(m.value, st.aud[:0])
		case "exp":
			c.ExpiresAt, err = numericDate(m.value, &st.dates[0])
		case "nbf":
			c.NotBefore, err = numericDate(m.value, &st.dates[1])
		case "iat":
			c.IssuedAt, err = numericDate(m.value, &st.dates[2])
		case "jti":
			c.ID, err = jsonString(m.value)
		case "sid":
			c.SessionID, err = jsonString(m.value)
		case "scope":
			c.Scope, err = jsonScope(m.value, st.scope[:0])
		case "cnf":
			c.KeyThumbprint, err = jsonConfirmation(m.value)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
	}
	return nil
}

// numericDate decodes a NumericDate (RFC 7519 §2) into dst as
// jwt.NumericDate.UnmarshalJSON does, which also takes a number inside a
// string; null is no date.
func numericDate(v string, dst *jwt.NumericDate) (*jwt.NumericDate, error) {
	num := v
	switch {
	case v == "null":
		return nil, nil
	case v[0] == '"':
		num, _ = jsonString(v)
		if end, ok := scanNumber(num, 0); !ok || end != len(num) {
			return nil, errJSONType
		}
	case v[0] != '-' && (v[0] < '0' || v[0] > '9'):
		return nil, errJSONType
	}
	if n, ok := smallInt(num); ok {
		*dst = jwt.NumericDate{Time: time.Unix(n, 0).Truncate(jwt.TimePrecision)}
		return dst, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil { // out of range; the error would quote the claim
		return nil, errJSONType
	}
	round, frac := math.Modf(f)
	*dst = jwt.NumericDate{Time: time.Unix(int64(round), int64(frac*1e9)).Truncate(jwt.TimePrecision)}
	return dst, nil
}

// smallInt parses a valid JSON number that is an integer of at most 15
// digits, which a float64 holds exactly, so the result is the one the
// float path would give.
func smallInt(num string) (int64, bool) {
	neg := num[0] == '-'
	digits := num
	if neg {
		digits = num[1:]
	}
	if len(digits) > 15 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// jsonAudience decodes `aud` as jwt.ClaimStrings does: a string, an array
// of strings (empty: none), or null. It appends to aud, an empty slice
// with room for the common short lists.
func jsonAudience(v string, aud jwt.ClaimStrings) (jwt.ClaimStrings, error) {
	switch v[0] {
	case 'n':
		return nil, nil
	case '"':
		s, err := jsonString(v)
		return append(aud, s), err
	case '[':
	default:
		return nil, errJSONType
	}
	i := skipSpace(v, 1)
	if v[i] == ']' {
		return nil, nil
	}
	for { // v is a valid array
		if v[i] != '"' {
			return nil, errJSONType
		}
		end, _, _ := scanString(v, i)
		s, _ := jsonString(v[i:end])
		aud = append(aud, s)
		if i = skipSpace(v, end); v[i] == ']' {
			return aud, nil
		}
		i = skipSpace(v, i+1) // past the comma
	}
}

// jsonScope decodes `scope` as Scopes.UnmarshalJSON does, without copying
// the common plain ASCII string, whose words it appends to dst, an empty
// slice with room for a few.
func jsonScope(v string, dst Scopes) (Scopes, error) {
	if v[0] == '"' {
		if inner := v[1 : len(v)-1]; isASCII(inner) && !strings.ContainsAny(inner, "\\\"") {
			return asciiFields(dst, inner), nil
		}
	}
	var s Scopes
	err := s.UnmarshalJSON([]byte(v))
	return s, err
}

// asciiFields is strings.Fields for an ASCII s, appending to dst.
func asciiFields(dst []string, s string) []string {
	for i := 0; i < len(s); {
		for i < len(s) && asciiSpace(s[i]) {
			i++
		}
		j := i
		for j < len(s) && !asciiSpace(s[j]) {
			j++
		}
		if j > i {
			dst = append(dst, s[i:j])
		}
		i = j
	}
	return dst
}

// asciiSpace is the ASCII white space of strings.Fields.
func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
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

// errConfirmation: a `cnf` claim without `jkt`, binding the token to a
// proof of possession this middleware cannot check (mTLS, say); taking it
// as a bearer token would undo that binding.
var errConfirmation = errors.New("cnf: no jkt: unsupported confirmation method")

// jsonConfirmation reads the `jkt` member of a `cnf` object (RFC 7800,
// RFC 9449 §6.1), names matched exactly as at the top level.
func jsonConfirmation(v string) (string, error) {
	var buf [4]member
	ms, err := members(v, buf[:0])
	if err != nil {
		return "", errJSONType
	}
	if err := checkNames(ms, cnfNames); err != nil {
		return "", err
	}
	for _, m := range ms {
		if m.name == "jkt" {
			jkt, err := jsonString(m.value)
			if err != nil || jkt == "" {
				return "", errConfirmation
			}
			return jkt, nil
		}
	}
	return "", errConfirmation
}

var cnfNames = []string{"jkt"}
