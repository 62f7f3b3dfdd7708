package jwtrefresh

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

// reservedClaims are the claims the service sets in every access token; the
// application's claims may not carry them.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true, "sid": true,
	"cnf": true,
}

// checkClaims verifies that claims (already a validated JSON object, or
// empty) use no reserved name and no name twice: a token with two `sub`
// members would mean different things to different JSON decoders.
func checkClaims(claims json.RawMessage) error {
	if len(claims) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(claims))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("%w: claims are not a JSON object", session.ErrInvalidInput)
	}
	seen := make(map[string]bool)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: claims: %v", session.ErrInvalidInput, err)
		}
		name, _ := t.(string) // object keys are always strings
		switch {
		case reservedClaims[name]:
			return fmt.Errorf("%w: claim %q is set by the token service", session.ErrInvalidInput, name)
		case seen[name]:
			return fmt.Errorf("%w: claim %q appears twice", session.ErrInvalidInput, name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("%w: claims: %v", session.ErrInvalidInput, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fmt.Errorf("%w: claims: %v", session.ErrInvalidInput, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: claims: data after the object", session.ErrInvalidInput)
	}
	return nil
}

// accessToken mints the access token of a session: the application's
// claims, then the registered ones (last, so that no decoder can let an
// application claim shadow them), with `cnf.jkt` when the session is bound
// to a DPoP key (RFC 9449 §6.1). It returns the token and its expiry.
func (s *Service) accessToken(subject, sessionID string, claims json.RawMessage, jkt string, now time.Time) (string, time.Time, error) {
	// exp is rounded up, so the token is valid for at least expires_in
	// seconds after the response; nbf and iat are backdated by the skew.
	exp := now.Add(s.cfg.accessTTL)
	expSec := exp.Unix()
	if exp.Nanosecond() != 0 {
		expSec++
	}
	from := now.Add(-s.cfg.skew).Unix()
	var jti [16]byte
	_, _ = rand.Read(jti[:]) // never fails as of Go 1.24

	buf := make([]byte, 0, 256+len(s.prefixJSON)+len(subject)+len(claims))
	buf = append(buf, '{')
	if inner := bytes.TrimSpace(claims); len(inner) > 2 {
		if inner = bytes.TrimSpace(inner[1 : len(inner)-1]); len(inner) > 0 {
			buf = append(buf, inner...)
			buf = append(buf, ',')
		}
	}
	buf = append(buf, s.prefixJSON...) // "iss":…,["aud":…,]
	buf = append(buf, `"sub":`...)
	buf = appendJSONString(buf, subject)
	buf = append(buf, `,"sid":`...)
	buf = appendJSONString(buf, sessionID)
	buf = append(buf, `,"jti":"`...)
	buf = base64.RawURLEncoding.AppendEncode(buf, jti[:])
	buf = append(buf, `","iat":`...)
	buf = strconv.AppendInt(buf, from, 10)
	buf = append(buf, `,"nbf":`...)
	buf = strconv.AppendInt(buf, from, 10)
	buf = append(buf, `,"exp":`...)
	buf = strconv.AppendInt(buf, expSec, 10)
	if jkt != "" { // 43 base64url characters: no escaping
		buf = append(buf, `,"cnf":{"jkt":"`...)
		buf = append(buf, jkt...)
		buf = append(buf, `"}`...)
	}
	buf = append(buf, '}')
	tok, err := s.keys.SignJSON(AccessTokenType, buf)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("jwtrefresh: signing the access token: %w", err)
	}
	return tok, time.Unix(expSec, 0), nil
}

// registeredPrefix encodes the claims that are the same in every token.
func registeredPrefix(issuer string, audience []string) []byte {
	b := append([]byte(`"iss":`), mustJSON(issuer)...)
	b = append(b, ',')
	switch len(audience) {
	case 0:
	case 1:
		b = append(b, `"aud":`...)
		b = append(b, mustJSON(audience[0])...)
		b = append(b, ',')
	default:
		b = append(b, `"aud":`...)
		b = append(b, mustJSON(audience)...)
		b = append(b, ',')
	}
	return b
}

// mustJSON encodes strings and string slices, which cannot fail (invalid
// UTF-8 is replaced, not refused).
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// appendJSONString appends s as a JSON string. Session ids are base64url
// and need no escaping; subjects rarely do, so the common case is a copy.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			return append(dst, mustJSON(s)...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
