package dpop

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerify is Verify of an EdDSA proof with an access token against
// its floor, golang-jwt's bare signature check with the key decoded.
func BenchmarkVerify(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(nil)
	now := time.Unix(1_800_000_000, 0)
	p, err := NewProof(priv, Claims{Method: "GET", URL: "https://api.example.com/r", AccessToken: "token", IssuedAt: now})
	if err != nil {
		b.Fatal(err)
	}
	check := Check{Method: "GET", URL: "https://api.example.com/r", AccessToken: "token", Now: now}
	b.Run("impl=verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Verify(p, check); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=signature", func(b *testing.B) {
		i := strings.LastIndexByte(p, '.')
		sig, _ := b64.DecodeString(p[i+1:])
		pub := priv.Public()
		b.ReportAllocs()
		for b.Loop() {
			if err := jwt.SigningMethodEdDSA.Verify(p[:i], sig, pub); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkNewProof is a proof's creation against its floor, the bare
// signature of the same input.
func BenchmarkNewProof(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(nil)
	c := Claims{Method: "GET", URL: "https://api.example.com/r", AccessToken: "token", IssuedAt: time.Unix(1_800_000_000, 0)}
	b.Run("impl=proof", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := NewProof(priv, c); err != nil {
				b.Fatal(err)
			}
		}
	})
	p, _ := NewProof(priv, c)
	input := p[:strings.LastIndexByte(p, '.')]
	b.Run("impl=sign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ed25519.Sign(priv, []byte(input))
		}
	})
}
