package keys

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
)

func TestParsePEM(t *testing.T) {
	enc := func(typ string, der []byte) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	pkcs8 := func(k any) []byte { return must(x509.MarshalPKCS8PrivateKey(k)) }
	pkix := func(k any) []byte { return must(x509.MarshalPKIXPublicKey(k)) }
	tests := []struct {
		name    string
		pem     []byte
		alg     string
		canSign bool
	}{
		{"Ed25519 PKCS8", enc("PRIVATE KEY", pkcs8(edKey())), EdDSA, true},
		{"Ed25519 PKIX", enc("PUBLIC KEY", pkix(edKey().Public())), EdDSA, false},
		{"P-256 PKCS8", enc("PRIVATE KEY", pkcs8(ecKey())), ES256, true},
		{"P-256 SEC1", enc("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(ecKey()))), ES256, true},
		{"P-256 PKIX", enc("PUBLIC KEY", pkix(&ecKey().PublicKey)), ES256, false},
		{"RSA PKCS8", enc("PRIVATE KEY", pkcs8(rsaKey())), RS256, true},
		{"RSA PKCS1", enc("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey())), RS256, true},
		{"RSA PKCS1 public", enc("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey)), RS256, false},
		{"RSA PKIX", enc("PUBLIC KEY", pkix(&rsaKey().PublicKey)), RS256, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePEM("k1", tt.pem)
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm() != tt.alg || k.CanSign() != tt.canSign || k.KID() != "k1" {
				t.Fatalf("got alg %s canSign %v kid %q", k.Algorithm(), k.CanSign(), k.KID())
			}
		})
	}

	bad := map[string][]byte{
		"not PEM":        []byte("hello"),
		"unknown type":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}),
		"garbage DER":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"garbage public": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}),
	}
	for name, in := range bad {
		t.Run(name, func(t *testing.T) {
			if k, err := ParsePEM("k1", in); !errors.Is(err, ErrInvalidKey) || k != nil {
				t.Fatalf("got (%v, %v)", k, err)
			}
		})
	}
	if _, err := ParsePEM("", enc("PUBLIC KEY", pkix(edKey().Public()))); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("empty kid: %v", err)
	}
}

func FuzzParsePEM(f *testing.F) {
	der, err := x509.MarshalPKIXPublicKey(edKey().Public())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	f.Add([]byte("-----BEGIN RSA PUBLIC KEY-----\nAQAB\n-----END RSA PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePEM("k", data)
		if (err == nil) == (k == nil) {
			t.Fatalf("key %v with error %v", k, err)
		}
	})
}
