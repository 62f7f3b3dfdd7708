package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestConstructorsRefuseBadInput(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	mismatched := append(ed25519.PrivateKey(nil), edKey()...)
	mismatched[40] ^= 1
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecMismatched := &ecdsa.PrivateKey{PublicKey: other.PublicKey, D: ecKey().D}
	offCurve := &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}
	evenE := &rsa.PublicKey{N: rsaKey().N, E: 65536}
	tests := []struct {
		name string
		new  func() (*Key, error)
		want error
	}{
		{"hmac 31 bytes", func() (*Key, error) { return NewHS256("k", secret32[:31]) }, ErrInvalidKey},
		{"hmac nil", func() (*Key, error) { return NewHS256("k", nil) }, ErrInvalidKey},
		{"hmac all zeros", func() (*Key, error) { return NewHS256("k", make([]byte, 32)) }, ErrInvalidKey},
		{"hmac one byte repeated", func() (*Key, error) { return NewHS256("k", bytes.Repeat([]byte{'a'}, 64)) }, ErrInvalidKey},
		{"empty kid", func() (*Key, error) { return NewHS256("", secret32) }, ErrInvalidKey},
		{"huge kid", func() (*Key, error) { return NewHS256(strings.Repeat("k", 257), secret32) }, ErrInvalidKey},
		{"eddsa wrong type", func() (*Key, error) { return NewEdDSA("k", ecKey()) }, ErrInvalidKey},
		{"eddsa short public", func() (*Key, error) { return NewEdDSA("k", ed25519.PublicKey{1, 2}) }, ErrInvalidKey},
		{"eddsa short private", func() (*Key, error) { return NewEdDSA("k", ed25519.PrivateKey{1, 2}) }, ErrInvalidKey},
		{"eddsa mismatched halves", func() (*Key, error) { return NewEdDSA("k", mismatched) }, ErrInvalidKey},
		{"es256 P-384", func() (*Key, error) { return NewES256("k", p384) }, ErrInvalidKey},
		{"es256 P-384 public", func() (*Key, error) { return NewES256("k", &p384.PublicKey) }, ErrInvalidKey},
		{"es256 mismatched halves", func() (*Key, error) { return NewES256("k", ecMismatched) }, ErrInvalidKey},
		{"es256 off curve", func() (*Key, error) { return NewES256("k", offCurve) }, ErrInvalidKey},
		{"es256 nil", func() (*Key, error) { return NewES256("k", (*ecdsa.PrivateKey)(nil)) }, ErrInvalidKey},
		{"es256 rsa key", func() (*Key, error) { return NewES256("k", rsaKey()) }, ErrInvalidKey},
		{"rs256 1024 bits", func() (*Key, error) { return NewRS256("k", small) }, ErrInvalidKey},
		{"rs256 1024 bits public", func() (*Key, error) { return NewRS256("k", &small.PublicKey) }, ErrInvalidKey},
		{"rs256 even exponent", func() (*Key, error) { return NewRS256("k", evenE) }, ErrInvalidKey},
		{"rs256 nil", func() (*Key, error) { return NewRS256("k", (*rsa.PublicKey)(nil)) }, ErrInvalidKey},
		{"rs256 empty public", func() (*Key, error) { return NewRS256("k", &rsa.PublicKey{}) }, ErrInvalidKey},
		{"rs256 string", func() (*Key, error) { return NewRS256("k", "secret") }, ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := tt.new()
			if !errors.Is(err, tt.want) || k != nil {
				t.Fatalf("got (%v, %v), want error %v", k, err, tt.want)
			}
			// ErrInvalidKey is golang-jwt's, not another value of that name.
			if !errors.Is(err, jwt.ErrInvalidKey) {
				t.Fatalf("%v does not match jwt.ErrInvalidKey", err)
			}
		})
	}
}

func TestKeysSignAndVerifyEachAlgorithm(t *testing.T) {
	for _, priv := range privateKeys() {
		t.Run(priv.Algorithm(), func(t *testing.T) {
			if !priv.CanSign() {
				t.Fatal("private key cannot sign")
			}
			tok := must(priv.signClaims(claims()))
			verifier := priv
			if pub, ok := priv.Public(); ok {
				if pub.CanSign() || pub.KID() != priv.KID() || pub.Algorithm() != priv.Algorithm() {
					t.Fatalf("public view: CanSign=%v kid=%q alg=%q", pub.CanSign(), pub.KID(), pub.Algorithm())
				}
				if _, err := pub.signClaims(claims()); !errors.Is(err, ErrCannotSign) {
					t.Fatalf("public key signed: %v", err)
				}
				verifier = pub
			} else if !priv.symmetric() {
				t.Fatal("asymmetric key has no public view")
			}
			if err := parse(must(NewSet(verifier)), tok); err != nil {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}

func TestHMACSecretIsCopied(t *testing.T) {
	sec := append([]byte(nil), secret32...)
	k := must(NewHS256("k", sec))
	tok := must(k.signClaims(claims()))
	sec[0] ^= 1
	if err := parse(must(NewSet(k)), tok); err != nil {
		t.Fatalf("caller's later change to the secret affected the key: %v", err)
	}
}

// TestHS256Verify: the pooled MAC accepts exactly the right signature,
// for inputs shorter and longer than its copy buffer, from many
// goroutines at once.
func TestHS256Verify(t *testing.T) {
	k := must(NewHS256("hs", secret32))
	other := must(NewHS256("hs", []byte("another-secret-another-secret-32")))
	for _, n := range []int{0, 1, 511, 512, 513, 5000} {
		in := strings.Repeat("a", n)
		mac := hmac.New(sha256.New, secret32)
		mac.Write([]byte(in))
		sig := mac.Sum(nil)
		if err := k.Verify(in, sig); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		bad := append([]byte(nil), sig...)
		bad[len(bad)-1] ^= 1
		for name, err := range map[string]error{
			"changed signature": k.Verify(in, bad),
			"short signature":   k.Verify(in, sig[:31]),
			"no signature":      k.Verify(in, nil),
			"changed input":     k.Verify(in+"b", sig),
			"other secret":      other.Verify(in, sig),
		} {
			if !errors.Is(err, jwt.ErrSignatureInvalid) {
				t.Fatalf("%d bytes, %s: %v", n, name, err)
			}
		}
	}
	tok := must(k.signClaims(claims()))
	sig := must(b64decode(tok))
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				in, want := signingInput(tok), true
				if i%2 == 1 {
					in, want = in+"x", false
				}
				if (k.Verify(in, sig) == nil) != want {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d wrong verdicts under concurrency", n)
	}
}
