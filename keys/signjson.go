package keys

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
)

// SignJSON returns the compact serialisation (RFC 7515 §7.1) of a JWT whose
// claims are payload, signed by the current key, with the protected header
// {"alg","kid","typ"} (`typ` left out when typ is ""). Errors: [ErrNoKeys],
// [ErrCannotSign], [ErrInvalidPayload].
//
// It is for issuers that encode their claims themselves, such as the token
// service, which merges the application's claims into each access token
// without a round trip through maps. payload must be a JSON object; only
// its braces are checked. typ names the token's media type (RFC 7515 §4.1.9), e.g.
// "at+jwt" for OAuth access tokens (RFC 9068 §2.1): explicit typing stops a
// verifier from taking another kind of JWT signed by the same key for an
// access token (RFC 8725 §3.11).
func (s *Set) SignJSON(typ string, payload []byte) (string, error) {
	k := s.Current()
	if k == nil {
		return "", ErrNoKeys
	}
	return k.signJSON(typ, payload)
}

// signJSON is [Set.SignJSON] with this key.
func (k *Key) signJSON(typ string, payload []byte) (string, error) {
	if k.sign == nil {
		return "", fmt.Errorf("%w: key %q is verification-only", ErrCannotSign, k.kid)
	}
	// Not a full JSON check (the caller encoded it), but a payload that is
	// not even an object would make a token every verifier refuses.
	if len(payload) < 2 || payload[0] != '{' || payload[len(payload)-1] != '}' {
		return "", ErrInvalidPayload
	}
	enc := base64.RawURLEncoding
	h := k.encodedHeader(typ)
	pl := enc.EncodedLen(len(payload))
	// Room for the signature too: 512 bytes covers RS256 with a 3072-bit
	// modulus without growing; larger keys append past it.
	buf := make([]byte, len(h)+1+pl, len(h)+1+pl+1+512)
	copy(buf, h)
	buf[len(h)] = '.'
	enc.Encode(buf[len(h)+1:], payload)
	var sig []byte
	if k.macs != nil { // HS256, RFC 7518 §3.2: the same MAC, from a pool
		m := k.macs.Get().(hash.Hash)
		m.Write(buf)
		var sum [sha256.Size]byte
		sig = m.Sum(sum[:0])
		m.Reset()
		k.macs.Put(m)
	} else {
		var err error
		if sig, err = k.method.Sign(string(buf), k.sign); err != nil {
			return "", fmt.Errorf("keys: signing with %q: %w", k.kid, err)
		}
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

type encodedHeader struct {
	typ string
	b64 string // base64url of {"alg","kid","typ"}
}

// encodedHeader returns the base64url protected header for typ, built once
// per key and type: it only depends on them.
func (k *Key) encodedHeader(typ string) string {
	if h := k.header.Load(); h != nil && h.typ == typ {
		return h.b64
	}
	// Strings always marshal.
	j, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ,omitempty"`
	}{k.method.Alg(), k.kid, typ})
	h := &encodedHeader{typ: typ, b64: base64.RawURLEncoding.EncodeToString(j)}
	k.header.Store(h)
	return h.b64
}
