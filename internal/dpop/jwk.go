package dpop

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
)

// RSA moduli accepted in a proof's jwk, in bits.
const (
	minRSABits = 2048
	maxRSABits = 4096
)

var b64 = base64.RawURLEncoding

// strict decodes the members of a received jwk: only the canonical
// encoding of each value is accepted (no stray bits after the last
// byte), so the received strings are the ones RFC 7638 hashes.
var strict = base64.RawURLEncoding.Strict()

// jwk is a proof's `jwk` header as received. Private members are noted
// only to be refused: a client that sends them has leaked its key.
type jwk struct {
	Kty, Crv, X, Y, N, E string
	private              bool
}

func (k *jwk) hasPrivate() bool { return k.private }

// decode reads the object at p: the public members as strings; a private
// member (d, p, q, dp, dq, qi, oth, k) of any value sets private.
func (k *jwk) decode(p *scanner) error {
	var seen uint8
	return p.object(func(name string) error {
		var dst *string
		var bit uint8
		switch name {
		case "kty":
			dst, bit = &k.Kty, 1
		case "crv":
			dst, bit = &k.Crv, 2
		case "x":
			dst, bit = &k.X, 4
		case "y":
			dst, bit = &k.Y, 8
		case "n":
			dst, bit = &k.N, 16
		case "e":
			dst, bit = &k.E, 32
		case "d", "p", "q", "dp", "dq", "qi", "oth", "k":
			k.private = true
			return p.skip(0)
		default:
			return p.skip(0)
		}
		if seen&bit != 0 {
			return errRepeated
		}
		seen |= bit
		var err error
		*dst, err = p.str()
		return err
	})
}

// publicKey decodes k into an ECDSA P-256, Ed25519 or RSA public key and
// returns it with its thumbprint. Errors wrap [ErrKey].
func (k *jwk) publicKey() (crypto.PublicKey, string, error) {
	if k.hasPrivate() {
		return nil, "", fmt.Errorf("%w: private key members", ErrKey)
	}
	var pub crypto.PublicKey
	var err error
	switch {
	case k.Kty == "EC" && k.Crv == "P-256":
		pub, err = ecKey(k.X, k.Y)
	case k.Kty == "OKP" && k.Crv == "Ed25519":
		pub, err = edKey(k.X)
	case k.Kty == "RSA":
		pub, err = rsaKey(k.N, k.E)
	default:
		return nil, "", fmt.Errorf("%w: unsupported kty %q crv %q", ErrKey, k.Kty, k.Crv)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrKey, err)
	}
	// The members decoded strictly, without leading zeros, are canonical:
	// hash them as received rather than encode them again.
	return pub, thumbprint(pubJWK{Kty: k.Kty, Crv: k.Crv, X: k.X, Y: k.Y, N: k.N, E: k.E}), nil
}

func ecKey(x, y string) (*ecdsa.PublicKey, error) {
	xb, err1 := strict.DecodeString(x)
	yb, err2 := strict.DecodeString(y)
	if err1 != nil || err2 != nil || len(xb) != 32 || len(yb) != 32 {
		return nil, fmt.Errorf("bad P-256 coordinates")
	}
	point := append(append([]byte{4}, xb...), yb...)
	if _, err := ecdh.P256().NewPublicKey(point); err != nil { // on the curve, not infinity
		return nil, err
	}
	return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(xb), Y: new(big.Int).SetBytes(yb)}, nil
}

func edKey(x string) (ed25519.PublicKey, error) {
	xb, err := strict.DecodeString(x)
	if err != nil || len(xb) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("bad Ed25519 key")
	}
	return ed25519.PublicKey(xb), nil
}

func rsaKey(n, e string) (*rsa.PublicKey, error) {
	nb, err1 := strict.DecodeString(n)
	eb, err2 := strict.DecodeString(e)
	if err1 != nil || err2 != nil || len(eb) == 0 || len(eb) > 4 || eb[0] == 0 || len(nb) == 0 || nb[0] == 0 {
		return nil, fmt.Errorf("bad RSA key encoding")
	}
	mod := new(big.Int).SetBytes(nb)
	exp := new(big.Int).SetBytes(eb)
	if bits := mod.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("RSA modulus of %d bits", bits)
	}
	if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31-1 || exp.Bit(0) == 0 {
		return nil, fmt.Errorf("bad RSA exponent")
	}
	return &rsa.PublicKey{N: mod, E: int(exp.Int64())}, nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint of pub: the base64url
// SHA-256 of its required members in lexicographic order. It is what a
// bound token's `cnf.jkt` holds. pub is an *ecdsa.PublicKey on P-256, an
// ed25519.PublicKey or an *rsa.PublicKey; other keys wrap
// [ErrUnsupportedKey].
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k, err := publicJWK(pub)
	if err != nil {
		return "", err
	}
	return thumbprint(k), nil
}

// thumbprint hashes the RFC 7638 form of k's required members, which
// must be canonical base64url.
func thumbprint(k pubJWK) string {
	var buf [128]byte
	b := buf[:0]
	switch k.Kty {
	case "EC":
		b = append(append(append(append(append(append(append(b, `{"crv":"`...), k.Crv...), `","kty":"EC","x":"`...), k.X...), `","y":"`...), k.Y...), `"}`...)
	case "OKP":
		b = append(append(append(append(append(b, `{"crv":"`...), k.Crv...), `","kty":"OKP","x":"`...), k.X...), `"}`...)
	default:
		b = append(append(append(append(append(b, `{"e":"`...), k.E...), `","kty":"RSA","n":"`...), k.N...), `"}`...)
	}
	sum := sha256.Sum256(b)
	return b64.EncodeToString(sum[:])
}

// pubJWK is the public members of a JWK, in the order RFC 7638 sorts
// them, as [NewProof] writes them. Every value is base64url or a fixed
// name, so none needs JSON escaping.
type pubJWK struct {
	Crv string `json:"crv,omitempty"`
	E   string `json:"e,omitempty"`
	Kty string `json:"kty"`
	N   string `json:"n,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

func publicJWK(pub crypto.PublicKey) (pubJWK, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() || k.X == nil || k.Y == nil {
			return pubJWK{}, fmt.Errorf("%w: ECDSA key not on P-256", ErrUnsupportedKey)
		}
		var x, y [32]byte
		k.X.FillBytes(x[:])
		k.Y.FillBytes(y[:])
		return pubJWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(x[:]), Y: b64.EncodeToString(y[:])}, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return pubJWK{}, fmt.Errorf("%w: Ed25519 key of %d bytes", ErrUnsupportedKey, len(k))
		}
		return pubJWK{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(k)}, nil
	case *rsa.PublicKey:
		e := big.NewInt(int64(k.E)).Bytes()
		return pubJWK{Kty: "RSA", N: b64.EncodeToString(k.N.Bytes()), E: b64.EncodeToString(e)}, nil
	}
	return pubJWK{}, fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
}
