package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
)

// jwk is the subset of RFC 7517 §4 / RFC 7518 §6 / RFC 8037 §2 members this
// package reads and writes. Private members are never written.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Kid string `json:"kid,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

// maxJWKS bounds what ParseJWKS reads, so a hostile or broken key endpoint
// cannot make a resource server decode megabytes.
const maxJWKS = 1 << 20

// JWKS returns the public keys of the current snapshot as a JSON Web Key
// Set (RFC 7517 §5), each with `kid`, `alg` and `use: "sig"`, the current
// key first. HMAC secrets never appear; a set holding only HMAC keys yields
// `{"keys":[]}`. Serve it with `Content-Type: application/jwk-set+json`.
func (s *Set) JWKS() ([]byte, error) {
	set := jwkSet{Keys: []jwk{}}
	for _, k := range s.load().keys {
		j, ok := k.jwk()
		if ok {
			set.Keys = append(set.Keys, j)
		}
	}
	return json.Marshal(set)
}

func (k *Key) jwk() (jwk, bool) {
	b64 := base64.RawURLEncoding.EncodeToString
	j := jwk{Use: "sig", Alg: k.Algorithm(), Kid: k.kid}
	switch pub := k.verify.(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(pub)
	case *ecdsa.PublicKey:
		e, err := pub.ECDH()
		if err != nil { // refused by NewES256; unreachable
			return jwk{}, false
		}
		raw := e.Bytes() // 0x04 || X || Y, fixed width (RFC 7518 §6.2.1.2)
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64(raw[1:33]), b64(raw[33:])
	case *rsa.PublicKey:
		j.Kty, j.N, j.E = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	default:
		return jwk{}, false
	}
	return j, true
}

// ParseJWKS reads a JSON Web Key Set (RFC 7517 §5) into verification-only
// keys, in document order, for a resource server that fetches its issuer's
// keys: pass them to [Set.Replace] or [NewSet]. Keys meant for encryption
// (`use` other than "sig"), symmetric keys, and key types or algorithms
// this package does not support are skipped; a supported key that is
// malformed, lacks a `kid`, repeats one, or is too weak fails the whole set
// with [ErrInvalidKey]. A set with no usable key left fails with
// [ErrNoKeys]: on success there is at least one key. A key without `alg`
// gets the algorithm its type implies (RS256 for RSA).
func ParseJWKS(data []byte) ([]*Key, error) {
	if len(data) > maxJWKS {
		return nil, invalidKey("JWKS: %d bytes, at most %d", len(data), maxJWKS)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, invalidKey("JWKS: %v", err)
	}
	if set.Keys == nil {
		return nil, invalidKey("JWKS: no \"keys\" member")
	}
	var out []*Key
	seen := make(map[string]bool)
	for i, j := range set.Keys {
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		k, err := j.key()
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, j.Kid, err)
		}
		if k == nil {
			continue
		}
		if seen[k.kid] {
			return nil, invalidKey("JWKS: kid %q used twice", k.kid)
		}
		seen[k.kid] = true
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no supported signature key among the JWKS's %d", ErrNoKeys, len(set.Keys))
	}
	return out, nil
}

// key returns nil, nil for a key this package does not support.
func (j jwk) key() (*Key, error) {
	switch {
	case j.Kty == "OKP" && j.Crv == "Ed25519" && (j.Alg == "" || j.Alg == EdDSA):
		return j.ed25519()
	case j.Kty == "EC" && j.Crv == "P-256" && (j.Alg == "" || j.Alg == ES256):
		return j.p256()
	case j.Kty == "RSA" && (j.Alg == "" || j.Alg == RS256):
		return j.rsa()
	}
	return nil, nil
}

// jwkBytes decodes a base64url member of a JWK, which must not be empty.
func jwkBytes(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, invalidKey("JWKS: bad base64url member")
	}
	return b, nil
}

func (j jwk) ed25519() (*Key, error) {
	x, err := jwkBytes(j.X)
	if err != nil {
		return nil, err
	}
	return NewEdDSA(j.Kid, ed25519.PublicKey(x))
}

func (j jwk) p256() (*Key, error) {
	x, err := jwkBytes(j.X)
	if err != nil {
		return nil, err
	}
	y, err := jwkBytes(j.Y)
	if err != nil {
		return nil, err
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, invalidKey("JWKS: P-256 coordinates must be 32 bytes")
	}
	return NewES256(j.Kid, &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)})
}

func (j jwk) rsa() (*Key, error) {
	n, err := jwkBytes(j.N)
	if err != nil {
		return nil, err
	}
	e, err := jwkBytes(j.E)
	if err != nil {
		return nil, err
	}
	if len(e) > 4 {
		return nil, invalidKey("JWKS: RSA exponent too large")
	}
	return NewRS256(j.Kid, &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())})
}
