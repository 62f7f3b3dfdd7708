package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// ParsePEM builds a key from the first PEM block of data: a private key
// ("PRIVATE KEY" PKCS #8, "RSA PRIVATE KEY" PKCS #1, "EC PRIVATE KEY" SEC 1)
// or a public key ("PUBLIC KEY" PKIX, "RSA PUBLIC KEY" PKCS #1). The
// algorithm follows from the key type: Ed25519 → EdDSA, ECDSA P-256 →
// ES256, RSA → RS256; the constructors' checks apply. Encrypted PEM is not
// supported. HMAC secrets are not PEM: use [NewHS256].
func ParsePEM(kid string, data []byte) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrInvalidKey)
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: unsupported PEM block %q", ErrInvalidKey, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey, ed25519.PublicKey:
		return NewEdDSA(kid, k)
	case *ecdsa.PrivateKey, *ecdsa.PublicKey:
		return NewES256(kid, k)
	case *rsa.PrivateKey, *rsa.PublicKey:
		return NewRS256(kid, k)
	}
	return nil, fmt.Errorf("%w: unsupported key type %T", ErrInvalidKey, key)
}
