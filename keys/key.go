package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"hash"
	"math/big"
	"sync"
	"sync/atomic"

	"github.com/golang-jwt/jwt/v5"
)

// JWS algorithm names (RFC 7518 §3.1, RFC 8037 §3.1) a [Key] can be bound to.
const (
	HS256 = "HS256"
	EdDSA = "EdDSA"
	ES256 = "ES256"
	RS256 = "RS256"
)

// Limits enforced by the constructors.
const (
	// minHMACSecret is the shortest HMAC secret accepted: RFC 7518 §3.2
	// requires a key at least as long as the hash output.
	minHMACSecret = 32
	// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
	minRSABits = 2048
	// maxRSABits bounds the cost of one verification an attacker can cause
	// through a published key.
	maxRSABits = 16384
	// maxKIDLen keeps key ids out of the way of the token size cap.
	maxKIDLen = 256
)

// Key is one signing or verification key bound to one algorithm and one key
// id. It is immutable and safe for concurrent use: the constructors copy the
// key material they are given, so a caller that wipes or reuses its key
// afterwards changes nothing here. Build it with [NewHS256], [NewEdDSA],
// [NewES256], [NewRS256] or [ParsePEM]; the zero Key is not usable.
type Key struct {
	kid    string
	method jwt.SigningMethod
	// sign is nil for a verification-only key.
	sign any
	// verify is what jwt's SigningMethod.Verify expects for method.
	verify any
	// header caches SignJSON's encoded protected header for the last typ
	// asked for (one, in practice).
	header atomic.Pointer[encodedHeader]
	// macs pools keyed HMAC states of an HS256 key for SignJSON and
	// Verify, which would otherwise key a new one per token (five
	// allocations; see verifyMAC).
	macs *sync.Pool
}

// NewHS256 returns an HMAC-SHA256 key. The secret is copied; it must be at
// least 32 bytes, because a short secret can be brute-forced offline from
// any token, and not one byte repeated (all zeros, an unset buffer): both
// are [ErrInvalidKey]. Use bytes from crypto/rand. An HMAC key both signs
// and verifies, so every verifier holding it can mint tokens: prefer an
// asymmetric key when several services verify.
func NewHS256(kid string, secret []byte) (*Key, error) {
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	if len(secret) < minHMACSecret {
		return nil, invalidKey("HMAC secret of %d bytes, need at least %d", len(secret), minHMACSecret)
	}
	// All zeros (an unset buffer) or one byte repeated is a placeholder, not
	// a secret. Nothing subtler can be told from the bytes: a password or
	// forgotten base64 text passes this check and is still weak.
	if bytes.Count(secret, secret[:1]) == len(secret) {
		return nil, invalidKey("HMAC secret is one byte repeated %d times, not a random secret", len(secret))
	}
	s := append([]byte(nil), secret...)
	macs := &sync.Pool{New: func() any { return hmac.New(sha256.New, s) }}
	return &Key{kid: kid, method: jwt.SigningMethodHS256, sign: s, verify: s, macs: macs}, nil
}

// NewEdDSA returns an Ed25519 key (RFC 8037). key is an ed25519.PrivateKey
// (signs and verifies) or an ed25519.PublicKey (verifies only); it is
// copied.
func NewEdDSA(kid string, key any) (*Key, error) {
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, invalidKey("Ed25519 private key of %d bytes", len(k))
		}
		priv := append(ed25519.PrivateKey(nil), k...)
		// A key whose public half does not match its seed would sign tokens
		// nobody can verify.
		if !ed25519.NewKeyFromSeed(priv.Seed()).Equal(priv) {
			return nil, invalidKey("Ed25519 private key does not match its public half")
		}
		return &Key{kid: kid, method: jwt.SigningMethodEdDSA, sign: priv, verify: priv.Public().(ed25519.PublicKey)}, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, invalidKey("Ed25519 public key of %d bytes", len(k))
		}
		return &Key{kid: kid, method: jwt.SigningMethodEdDSA, verify: append(ed25519.PublicKey(nil), k...)}, nil
	}
	return nil, invalidKey("EdDSA needs an ed25519.PrivateKey or ed25519.PublicKey, got %T", key)
}

// NewES256 returns an ECDSA P-256 key. key is an *ecdsa.PrivateKey (signs
// and verifies) or an *ecdsa.PublicKey (verifies only); it is copied. Other
// curves and points not on the curve are refused.
func NewES256(kid string, key any) (*Key, error) {
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	var priv *ecdsa.PrivateKey
	var pub *ecdsa.PublicKey
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k == nil || k.D == nil {
			break
		}
		priv = &ecdsa.PrivateKey{PublicKey: copyECDSA(&k.PublicKey), D: new(big.Int).Set(k.D)}
		pub = &priv.PublicKey
	case *ecdsa.PublicKey:
		if k != nil {
			p := copyECDSA(k)
			pub = &p
		}
	}
	if pub == nil || pub.X == nil || pub.Y == nil {
		return nil, invalidKey("ES256 needs an *ecdsa.PrivateKey or *ecdsa.PublicKey, got %T", key)
	}
	if pub.Curve != elliptic.P256() {
		return nil, invalidKey("ES256 needs curve P-256")
	}
	if _, err := pub.ECDH(); err != nil { // validates the point
		return nil, invalidKey("%v", err)
	}
	if priv != nil {
		sk, err := priv.ECDH()
		if err != nil {
			return nil, invalidKey("%v", err)
		}
		// A public half that does not match D would sign tokens that
		// verify nowhere, as for Ed25519.
		if pk, _ := pub.ECDH(); !sk.PublicKey().Equal(pk) {
			return nil, invalidKey("ES256 public key does not match the private key")
		}
		return &Key{kid: kid, method: jwt.SigningMethodES256, sign: priv, verify: pub}, nil
	}
	return &Key{kid: kid, method: jwt.SigningMethodES256, verify: pub}, nil
}

// NewRS256 returns an RSASSA-PKCS1-v1_5 SHA-256 key. key is an
// *rsa.PrivateKey (signs and verifies) or an *rsa.PublicKey (verifies
// only); it is copied. Moduli shorter than 2048 bits are refused as
// breakable.
func NewRS256(kid string, key any) (*Key, error) {
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	var priv *rsa.PrivateKey
	var pub *rsa.PublicKey
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k == nil {
			break
		}
		priv = &rsa.PrivateKey{PublicKey: copyRSA(&k.PublicKey), D: cloneInt(k.D), Primes: make([]*big.Int, len(k.Primes))}
		for i, p := range k.Primes {
			priv.Primes[i] = cloneInt(p)
		}
		// The copy gets its own CRT values; Validate checks them too.
		priv.Precompute()
		if err := priv.Validate(); err != nil {
			return nil, invalidKey("%v", err)
		}
		pub = &priv.PublicKey
	case *rsa.PublicKey:
		if k != nil {
			p := copyRSA(k)
			pub = &p
		}
	}
	if pub == nil || pub.N == nil {
		return nil, invalidKey("RS256 needs an *rsa.PrivateKey or *rsa.PublicKey, got %T", key)
	}
	if bits := pub.N.BitLen(); bits < minRSABits {
		return nil, invalidKey("RSA modulus of %d bits, need at least %d", bits, minRSABits)
	} else if bits > maxRSABits {
		return nil, invalidKey("RSA modulus of %d bits, at most %d", bits, maxRSABits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return nil, invalidKey("RSA public exponent %d", pub.E)
	}
	k := &Key{kid: kid, method: jwt.SigningMethodRS256, verify: pub}
	if priv != nil {
		k.sign = priv
	}
	return k, nil
}

// cloneInt copies a big.Int (nil stays nil, for the constructors to refuse).
func cloneInt(x *big.Int) *big.Int {
	if x == nil {
		return nil
	}
	return new(big.Int).Set(x)
}

func copyECDSA(k *ecdsa.PublicKey) ecdsa.PublicKey {
	return ecdsa.PublicKey{Curve: k.Curve, X: cloneInt(k.X), Y: cloneInt(k.Y)}
}

func copyRSA(k *rsa.PublicKey) rsa.PublicKey {
	return rsa.PublicKey{N: cloneInt(k.N), E: k.E}
}

func checkKID(kid string) error {
	if kid == "" || len(kid) > maxKIDLen {
		return invalidKey("%d bytes (want 1 to %d)", len(kid), maxKIDLen)
	}
	return nil
}

// KID returns the key id written to and matched against the `kid` header.
func (k *Key) KID() string { return k.kid }

// Algorithm returns the one JWS algorithm this key signs and verifies
// ([HS256], [EdDSA], [ES256] or [RS256]).
func (k *Key) Algorithm() string { return k.method.Alg() }

// CanSign reports whether the key holds private (or secret) material.
func (k *Key) CanSign() bool { return k.sign != nil }

// symmetric reports whether the key is an HMAC secret, which never appears
// in a public view or a JWKS.
func (k *Key) symmetric() bool { return k.method == jwt.SigningMethodHS256 }

// Public returns the verification-only form of an asymmetric key, and false
// for an HMAC key, which has no public form (nor a place in a JWKS).
func (k *Key) Public() (*Key, bool) {
	if k.symmetric() {
		return nil, false
	}
	if k.sign == nil {
		return k, true
	}
	return &Key{kid: k.kid, method: k.method, verify: k.verify}, true
}

// Verify checks sig, the decoded signature of a JWS, over signingInput
// (the "header.payload" part of the compact form) with this key's
// algorithm. The error wraps jwt's verification error
// (jwt.ErrSignatureInvalid for a wrong HMAC).
func (k *Key) Verify(signingInput string, sig []byte) error {
	if k.macs != nil {
		return k.verifyMAC(signingInput, sig)
	}
	return k.method.Verify(signingInput, sig, k.verify)
}

// verifyMAC is what jwt's HS256 Verify does, with a pooled keyed MAC and
// no copy of the input: keying a new MAC costs five allocations, which
// was a third of a middleware's first sight of an HS256 token.
func (k *Key) verifyMAC(signingInput string, sig []byte) error {
	m := k.macs.Get().(hash.Hash)
	var chunk [512]byte
	for in := signingInput; len(in) > 0; {
		n := copy(chunk[:], in)
		m.Write(chunk[:n])
		in = in[n:]
	}
	var sum [sha256.Size]byte
	ok := hmac.Equal(sig, m.Sum(sum[:0]))
	m.Reset()
	k.macs.Put(m)
	if !ok {
		return jwt.ErrSignatureInvalid
	}
	return nil
}

// signClaims is [Set.Sign] with this key.
func (k *Key) signClaims(claims jwt.Claims) (string, error) {
	if k.sign == nil {
		return "", fmt.Errorf("%w: key %q is verification-only", ErrCannotSign, k.kid)
	}
	t := jwt.NewWithClaims(k.method, claims)
	t.Header["kid"] = k.kid
	s, err := t.SignedString(k.sign)
	if err != nil {
		return "", fmt.Errorf("keys: signing with %q: %w", k.kid, err)
	}
	return s, nil
}

// same reports whether k and o are interchangeable: the same key id,
// algorithm and key material, and both or neither able to sign.
func (k *Key) same(o *Key) bool {
	if k == o {
		return true
	}
	if k.kid != o.kid || k.method != o.method || (k.sign == nil) != (o.sign == nil) {
		return false
	}
	return sameMaterial(k.verify, o.verify) && (k.sign == nil || sameMaterial(k.sign, o.sign))
}

func sameMaterial(a, b any) bool {
	switch a := a.(type) {
	case []byte: // an HMAC secret
		b, ok := b.([]byte)
		return ok && hmac.Equal(a, b)
	case ed25519.PublicKey:
		return a.Equal(b)
	case ed25519.PrivateKey:
		return a.Equal(b)
	case *ecdsa.PublicKey:
		return a.Equal(b)
	case *ecdsa.PrivateKey:
		return a.Equal(b)
	case *rsa.PublicKey:
		return a.Equal(b)
	case *rsa.PrivateKey:
		return a.Equal(b)
	}
	return false
}
