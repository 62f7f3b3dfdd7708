package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Key generation is slow for RSA; share one of each across the tests.
var (
	rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	ecKey = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
	edKey = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

var secret32 = []byte("0123456789abcdef0123456789abcdef")

// must is for test setup that cannot fail unless the test itself is wrong.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// privateKeys returns one signing key per algorithm.
func privateKeys() []*Key {
	return []*Key{
		must(NewHS256("hs", secret32)),
		must(NewEdDSA("ed", edKey())),
		must(NewES256("es", ecKey())),
		must(NewRS256("rs", rsaKey())),
	}
}

func claims() jwt.RegisteredClaims {
	return jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}
}

// parse verifies tok with s the way a resource server would.
func parse(s *Set, tok string) error {
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{HS256, EdDSA, ES256, RS256, "none"})).
		ParseWithClaims(tok, &jwt.RegisteredClaims{}, s.Keyfunc)
	return err
}

// signingInput and b64decode split a compact JWS into what Key.Verify takes.
func signingInput(tok string) string { return tok[:strings.LastIndexByte(tok, '.')] }

func b64decode(tok string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
}
