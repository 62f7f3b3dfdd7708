package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerifyRefuses(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pub, _ := publicJWK(&key.PublicKey)
	jwkMap := map[string]any{"kty": pub.Kty, "crv": pub.Crv, "x": pub.X, "y": pub.Y}
	hdr := func(mod func(map[string]any)) map[string]any {
		h := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwkMap}
		if mod != nil {
			mod(h)
		}
		return h
	}
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"jti": "j1", "htm": "GET", "htu": "https://api.example.com/r", "iat": now.Unix(), "ath": AccessTokenHash("tok")}
		if mod != nil {
			mod(c)
		}
		return c
	}
	check := Check{Method: "GET", URL: "https://api.example.com/r", AccessToken: "tok", Now: now}
	withPrivate := map[string]any{"kty": pub.Kty, "crv": pub.Crv, "x": pub.X, "y": pub.Y, "d": b64.EncodeToString(key.D.Bytes())}
	cases := []struct {
		name  string
		proof string
		check func(*Check)
		want  error
	}{
		{"valid", forge(t, "ES256", key, hdr(nil), claims(nil)), nil, nil},
		{"htu differing only in case, port, query", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["htu"] = "HTTPS://api.EXAMPLE.com:443/r?x=1" })), nil, nil},
		{"wrong htm", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["htm"] = "POST" })), nil, ErrMethod},
		{"htm case", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["htm"] = "get" })), nil, ErrMethod},
		{"another URL", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["htu"] = "https://api.example.com/other" })), nil, ErrURL},
		{"another host", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["htu"] = "https://evil.example.com/r" })), nil, ErrURL},
		{"path case", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["htu"] = "https://api.example.com/R" })), nil, ErrURL},
		{"http for https", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["htu"] = "http://api.example.com/r" })), nil, ErrURL},
		{"relative htu", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["htu"] = "/r" })), nil, ErrURL},
		{"stale iat", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["iat"] = now.Unix() - 11 })), nil, ErrIssuedAt},
		{"future iat", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["iat"] = now.Unix() + 11 })), nil, ErrIssuedAt},
		{"iat at window edge", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["iat"] = now.Unix() - 10 })), nil, nil},
		{"wider window", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["iat"] = now.Unix() - 50 })), func(c *Check) { c.Window = time.Minute }, nil},
		{"negative iat", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["iat"] = -5 })), nil, ErrMalformed},
		{"string iat", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["iat"] = "1800000000" })), nil, ErrMalformed},
		{"missing ath", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { delete(c, "ath") })), nil, ErrAccessTokenHash},
		{"wrong ath", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["ath"] = AccessTokenHash("other") })), nil, ErrAccessTokenHash},
		{"ath ignored without token", forge(t, "ES256", key, hdr(nil), claims(nil)), func(c *Check) { c.AccessToken = "" }, nil},
		{"missing jti", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { delete(c, "jti") })), nil, ErrMalformed},
		{"empty jti", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["jti"] = "" })), nil, ErrMalformed},
		{"long jti", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["jti"] = strings.Repeat("j", 257) })), nil, ErrMalformed},
		{"missing htu", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { delete(c, "htu") })), nil, ErrMalformed},
		{"wrong key", forge(t, "ES256", other, hdr(nil), claims(nil)), nil, ErrSignature},
		{"alg none", forge(t, "none", nil, hdr(func(h map[string]any) { h["alg"] = "none" }), claims(nil)), nil, ErrAlgorithm},
		{"HS256", forge(t, "HS256", []byte("secret"), hdr(func(h map[string]any) { h["alg"] = "HS256" }), claims(nil)), nil, ErrAlgorithm},
		{"alg not allowed", forge(t, "ES256", key, hdr(nil), claims(nil)), func(c *Check) { c.Algorithms = []string{"EdDSA"} }, ErrAlgorithm},
		{"alg unknown to package", forge(t, "ES384", p384, hdr(func(h map[string]any) { h["alg"] = "ES384" }), claims(nil)), func(c *Check) { c.Algorithms = []string{"ES384"} }, ErrAlgorithm},
		{"alg Ed25519 with an EC key", forge(t, "ES256", key, hdr(func(h map[string]any) { h["alg"] = "Ed25519" }), claims(nil)), nil, ErrAlgorithm},
		{"alg for another key type", forge(t, "ES256", key, hdr(func(h map[string]any) { h["alg"] = "EdDSA" }), claims(nil)), nil, ErrAlgorithm},
		{"private key in jwk", forge(t, "ES256", key, hdr(func(h map[string]any) { h["jwk"] = withPrivate }), claims(nil)), nil, ErrKey},
		{"symmetric jwk", forge(t, "ES256", key, hdr(func(h map[string]any) { h["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0"} }), claims(nil)), nil, ErrKey},
		{"no jwk", forge(t, "ES256", key, hdr(func(h map[string]any) { delete(h, "jwk") }), claims(nil)), nil, ErrKey},
		{"point off the curve", forge(t, "ES256", key, hdr(func(h map[string]any) {
			h["jwk"] = map[string]any{"kty": "EC", "crv": "P-256", "x": pub.X, "y": pub.X}
		}), claims(nil)), nil, ErrKey},
		{"typ JWT", forge(t, "ES256", key, hdr(func(h map[string]any) { h["typ"] = "JWT" }), claims(nil)), nil, ErrType},
		{"no typ", forge(t, "ES256", key, hdr(func(h map[string]any) { delete(h, "typ") }), claims(nil)), nil, ErrType},
		{"crit", forge(t, "ES256", key, hdr(func(h map[string]any) { h["crit"] = []string{"x"} }), claims(nil)), nil, ErrType},
		{"oversized", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["pad"] = strings.Repeat("p", MaxLength) })), nil, ErrTooLong},
		{"two parts", "a.b", nil, ErrMalformed},
		{"not base64", "!!.!!.!!", nil, ErrMalformed},
		{"nonce required, none", forge(t, "ES256", key, hdr(nil), claims(nil)), func(c *Check) { c.Nonce = func(string) bool { return true } }, ErrNonce},
		{"nonce required, stale", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["nonce"] = "old" })), func(c *Check) { c.Nonce = func(n string) bool { return n == "new" } }, ErrNonce},
		{"nonce required, supplied", forge(t, "ES256", key, hdr(nil), claims(func(c map[string]any) { c["nonce"] = "new" })), func(c *Check) { c.Nonce = func(n string) bool { return n == "new" } }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := check
			if tc.check != nil {
				tc.check(&c)
			}
			_, err := Verify(tc.proof, c)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzParseProof feeds arbitrary proofs to the parser and the verifier:
// neither may panic, and what verifies must have a thumbprint and a jti.
func FuzzParseProof(f *testing.F) {
	f.Add(rfcProof)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p, _ := NewProof(key, Claims{Method: "POST", URL: "https://server.example.com/token", IssuedAt: time.Unix(1562262616, 0)})
	f.Add(p)
	f.Add("e30.e30.")
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6Im5vbmUifQ.e30.")
	check := Check{Method: "POST", URL: "https://server.example.com/token", Now: time.Unix(1562262616, 0)}
	f.Fuzz(func(t *testing.T, proof string) {
		_, _, _ = parse(proof, nil)
		got, err := Verify(proof, check)
		if err == nil && (got.Thumbprint == "" || got.JTI == "") {
			t.Fatalf("verified without thumbprint or jti: %+v", got)
		}
	})
}
