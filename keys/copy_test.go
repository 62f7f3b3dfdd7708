package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"math/big"
	"testing"
)

// TestKeyMaterialIsCopied: a caller that wipes or reuses its key after
// building a Key (as careful code does with secrets) must not change what
// the Key signs, verifies or publishes.
func TestKeyMaterialIsCopied(t *testing.T) {
	zero := func(xs ...*big.Int) {
		for _, x := range xs {
			x.SetInt64(0)
		}
	}
	edSigner := must(NewEdDSA("ed", edKey()))
	esSigner := must(NewES256("es", ecKey()))
	rsSigner := must(NewRS256("rs", rsaKey()))
	tests := []struct {
		name string
		// build returns the caller's key material and a function that
		// wipes it in place.
		build  func() (any, func())
		new    func(kid string, key any) (*Key, error)
		signer *Key // signs the tokens of a verification-only key
	}{
		{"Ed25519 private", func() (any, func()) {
			k := append(ed25519.PrivateKey(nil), edKey()...)
			return k, func() { clear(k) }
		}, NewEdDSA, nil},
		{"Ed25519 public", func() (any, func()) {
			k := append(ed25519.PublicKey(nil), edKey().Public().(ed25519.PublicKey)...)
			return k, func() { clear(k) }
		}, NewEdDSA, edSigner},
		{"ECDSA private", func() (any, func()) {
			src := ecKey()
			k := &ecdsa.PrivateKey{D: new(big.Int).Set(src.D), PublicKey: ecdsa.PublicKey{
				Curve: elliptic.P256(), X: new(big.Int).Set(src.X), Y: new(big.Int).Set(src.Y)}}
			return k, func() { zero(k.D, k.X, k.Y) }
		}, NewES256, nil},
		{"ECDSA public", func() (any, func()) {
			src := ecKey()
			k := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).Set(src.X), Y: new(big.Int).Set(src.Y)}
			return k, func() { zero(k.X, k.Y) }
		}, NewES256, esSigner},
		{"RSA private", func() (any, func()) {
			src := rsaKey()
			k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: new(big.Int).Set(src.N), E: src.E}, D: new(big.Int).Set(src.D)}
			for _, p := range src.Primes {
				k.Primes = append(k.Primes, new(big.Int).Set(p))
			}
			k.Precompute()
			return k, func() {
				zero(k.N, k.D, k.Precomputed.Dp, k.Precomputed.Dq, k.Precomputed.Qinv)
				zero(k.Primes...)
			}
		}, NewRS256, nil},
		{"RSA public", func() (any, func()) {
			src := rsaKey()
			k := &rsa.PublicKey{N: new(big.Int).Set(src.N), E: src.E}
			return k, func() { zero(k.N) }
		}, NewRS256, rsSigner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			material, wipe := tt.build()
			k, err := tt.new("k", material)
			if err != nil {
				t.Fatal(err)
			}
			jwksBefore := must(must(NewSet(k)).JWKS())
			wipe()
			signer := tt.signer
			if signer == nil {
				signer = k
			}
			tok, err := signer.signClaims(claims())
			if err != nil {
				t.Fatalf("Sign after the caller wiped its key: %v", err)
			}
			verifier := k
			if pub, ok := k.Public(); ok {
				verifier = pub
			}
			sig := must(b64decode(tok))
			if err := verifier.Verify(signingInput(tok), sig); err != nil {
				t.Fatalf("token does not verify after the caller wiped its key: %v", err)
			}
			if jwksAfter := must(must(NewSet(k)).JWKS()); !bytes.Equal(jwksBefore, jwksAfter) {
				t.Fatalf("published key changed:\n%s\n%s", jwksBefore, jwksAfter)
			}
		})
	}
}
