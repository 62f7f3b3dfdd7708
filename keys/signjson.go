package keys

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// SignJSON returns the compact serialisation (RFC 7515 §7.1) of a JWT whose
// claims are payload, signed by the current key, with the protected header
// {"alg","kid","typ"} (`typ` left out when typ is ""). Errors: [ErrNoKeys],
// [ErrCannotSign].
//
// It is for issuers that encode their claims themselves, such as the token
// service, which merges the application's claims into each access token
// without a round trip through maps. payload must be a JSON object; it is
// not checked. typ names the token's media type (RFC 7515 §4.1.9), e.g.
// "at+jwt" for OAuth access tokens (RFC 9068 §2.1): explicit typing stops a
// verifier from taking another kind of JWT signed by the same key for an
// access token (RFC 8725 §3.11).
func (s *Set) SignJSON(typ string, payload []byte) (string, error) {
	k := s.Current()
	if k == nil {
		return "", ErrNoKeys
	}
	return k.SignJSON(typ, payload)
}

// SignJSON is [Set.SignJSON] with this key.
func (k *Key) SignJSON(typ string, payload []byte) (string, error) {
	if k.sign == nil {
		return "", fmt.Errorf("%w: key %q is verification-only", ErrCannotSign, k.kid)
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ,omitempty"`
	}{k.method.Alg(), k.kid, typ})
	if err != nil { // strings always marshal; unreachable
		return "", fmt.Errorf("keys: header: %w", err)
	}
	enc := base64.RawURLEncoding
	hl, pl := enc.EncodedLen(len(header)), enc.EncodedLen(len(payload))
	// Room for the signature too: 512 bytes covers RS256 with a 3072-bit
	// modulus without growing; larger keys append past it.
	buf := make([]byte, hl+1+pl, hl+1+pl+1+512)
	enc.Encode(buf, header)
	buf[hl] = '.'
	enc.Encode(buf[hl+1:], payload)
	sig, err := k.method.Sign(string(buf), k.sign)
	if err != nil {
		return "", fmt.Errorf("keys: signing with %q: %w", k.kid, err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}
