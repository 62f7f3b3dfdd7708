package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The example proof of RFC 9449 §4.1 (Figure 4), its key's thumbprint
// (§6.1) and the access token hash example (§7.1).
const (
	rfcProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik" +
		"VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR" +
		"nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE" +
		"QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj" +
		"oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia" +
		"WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4P" +
		"tFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	rfcThumbprint = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	rfcToken      = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	rfcATH        = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
)

func TestRFCExamples(t *testing.T) {
	p, err := Verify(rfcProof, Check{
		Method: "POST", URL: "https://server.example.com/token",
		Now: time.Unix(1562262616, 0),
	})
	if err != nil {
		t.Fatalf("RFC 9449 example proof: %v", err)
	}
	if p.Thumbprint != rfcThumbprint || p.JTI != "-BwC3ESc6acc2lTc" || p.IssuedAt.Unix() != 1562262616 {
		t.Errorf("got %+v", p)
	}
	if got := AccessTokenHash(rfcToken); got != rfcATH {
		t.Errorf("ath = %s, want %s", got, rfcATH)
	}
	_, err = Verify(rfcProof, Check{Method: "POST", URL: "https://server.example.com/token", Now: time.Unix(1562262616+60, 0)})
	if !errors.Is(err, ErrIssuedAt) {
		t.Errorf("a minute later: %v, want ErrIssuedAt", err)
	}
}

// TestRFC7638Thumbprint is the example of RFC 7638 §3.1.
func TestRFC7638Thumbprint(t *testing.T) {
	k := jwk{Kty: "RSA", E: "AQAB", N: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
	_, thumb, err := k.publicKey()
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; thumb != want {
		t.Errorf("thumbprint %s, want %s", thumb, want)
	}
}

func keysByAlg(t testing.TB) map[string]crypto.Signer {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]crypto.Signer{"ES256": ec, "EdDSA": ed, "PS256": rk}
}

func TestRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for alg, key := range keysByAlg(t) {
		t.Run(alg, func(t *testing.T) {
			if got, err := Algorithm(key); err != nil || got != alg {
				t.Fatalf("Algorithm = %q, %v", got, err)
			}
			proof, err := NewProof(key, Claims{Method: "GET", URL: "https://api.example.com/r?q=1#f", AccessToken: "tok", Nonce: "n1", IssuedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			p, err := Verify(proof, Check{Method: "GET", URL: "https://API.example.com:443/r", AccessToken: "tok", Now: now,
				Nonce: func(n string) bool { return n == "n1" }})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Thumbprint(key.Public())
			if p.Thumbprint != want || len(p.JTI) != 22 || !p.IssuedAt.Equal(now) {
				t.Errorf("got %+v, want thumbprint %s", p, want)
			}
			if strings.Contains(proof, "?") {
				t.Error("query in proof")
			}
		})
	}
}

// TestEd25519Alg: RFC 9864's fully-specified "Ed25519" is accepted as
// EdDSA with an Ed25519 key (openid-client 6 sends it).
func TestEd25519Alg(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Unix(1_800_000_000, 0)
	jwkMap := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(priv.Public().(ed25519.PublicKey))}
	p := forge(t, "EdDSA", priv, map[string]any{"typ": Type, "alg": "Ed25519", "jwk": jwkMap},
		map[string]any{"jti": "j", "htm": "GET", "htu": "https://a.example/", "iat": now.Unix()})
	if _, err := Verify(p, Check{Method: "GET", URL: "https://a.example/", Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(p, Check{Method: "GET", URL: "https://a.example/", Now: now, Algorithms: []string{"EdDSA"}}); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("Ed25519 outside the allowlist: %v", err)
	}
}

func TestUnsupportedKeys(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, k := range map[string]crypto.Signer{"P-384": p384, "RSA-1024": small} {
		if _, err := NewProof(k, Claims{Method: "GET", URL: "https://a/", IssuedAt: time.Now()}); !errors.Is(err, ErrUnsupportedKey) {
			t.Errorf("%s: %v, want ErrUnsupportedKey", name, err)
		}
	}
	if _, err := Thumbprint("not a key"); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("Thumbprint(string): %v", err)
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://server.example.com/token":        "https://server.example.com/token",
		"HTTPS://Server.Example.COM:443/token":    "https://server.example.com/token",
		"http://example.com:80":                   "http://example.com/",
		"http://example.com:8080/a/b?x=1#frag":    "http://example.com:8080/a/b",
		"https://user:pw@example.com/p":           "https://example.com/p",
		"https://[::1]:443/p":                     "https://[::1]/p",
		"https://[::1]:8443/p":                    "https://[::1]:8443/p",
		"https://example.com/A%2Fb/../c":          "https://example.com/A%2Fb/../c",
		"https://example.com:8443/Path/With/Case": "https://example.com:8443/Path/With/Case",
	} {
		got, err := NormalizeURL(in)
		if err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "/token", "ftp://example.com/", "https:///p", "mailto:a@b", "https://exa mple.com/"} {
		if got, err := NormalizeURL(bad); !errors.Is(err, ErrURL) {
			t.Errorf("NormalizeURL(%q) = %q, %v; want ErrURL", bad, got, err)
		}
	}
}

func TestNonces(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	n, err := NewNonces(key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewNonces([]byte(strings.Repeat("o", 32)), time.Minute)
	t0 := time.Unix(1_800_000_000, 0).Truncate(time.Minute)
	cur := n.Current(t0)
	cases := []struct {
		name  string
		nonce string
		at    time.Time
		want  bool
	}{
		{"same slot", cur, t0.Add(59 * time.Second), true},
		{"next slot", cur, t0.Add(time.Minute + 30*time.Second), true},
		{"two slots later", cur, t0.Add(2 * time.Minute), false},
		{"earlier slot", cur, t0.Add(-time.Second), false},
		{"other key", other.Current(t0), t0, false},
		{"empty", "", t0, false},
	}
	for _, c := range cases {
		if got := n.Valid(c.nonce, c.at); got != c.want {
			t.Errorf("%s: Valid = %v, want %v", c.name, got, c.want)
		}
	}
	if _, err := NewNonces(key[:31], time.Minute); err == nil {
		t.Error("short key accepted")
	}
	if _, err := NewNonces(key, time.Millisecond); err == nil {
		t.Error("sub-second slot accepted")
	}
}

// forge signs arbitrary header and claims with key under alg, for proofs
// NewProof would never make.
func forge(t testing.TB, alg string, key any, header, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	if alg == "none" {
		return input + "."
	}
	sig, err := jwt.GetSigningMethod(alg).Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// TestHeaderCache: a header is decoded once and served from the cache
// after; the cache never holds more than its bound.
func TestHeaderCache(t *testing.T) {
	c := &headerCache{m: make(map[string]*proofHeader)}
	for i := range headerCacheSize + 10 {
		c.put(strings.Repeat("h", i+1), &proofHeader{alg: "ES256"})
		if len(c.m) > headerCacheSize {
			t.Fatalf("%d entries, bound %d", len(c.m), headerCacheSize)
		}
	}
	if c.get(strings.Repeat("h", headerCacheSize+10)) == nil {
		t.Fatal("the last header put is not cached")
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Unix(1_800_000_000, 0)
	p, _ := NewProof(key, Claims{Method: "GET", URL: "https://a.example/", IssuedAt: now})
	part := strings.Split(p, ".")[0]
	if _, err := Verify(p, Check{Method: "GET", URL: "https://a.example/", Now: now}); err != nil || headers.get(part) == nil {
		t.Fatalf("a verified proof's header is not cached: %v", err)
	}
	// A cached header does not stand in for the signature.
	bad := p[:strings.LastIndexByte(p, '.')+1] + strings.Repeat("A", 86)
	if _, err := Verify(bad, Check{Method: "GET", URL: "https://a.example/", Now: now}); !errors.Is(err, ErrSignature) {
		t.Fatalf("a bad signature under a cached header: %v", err)
	}
}

// TestNewProofCachedHeader: proofs by several keys, each made twice (the
// second from the header cache), carry each its own key; claims needing
// JSON escapes survive the hand-written encoding.
func TestNewProofCachedHeader(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for round := 0; round < 2; round++ {
		for alg, key := range keysByAlg(t) {
			want, _ := Thumbprint(key.Public())
			for i := 0; i < 2; i++ {
				p, err := NewProof(key, Claims{Method: `G"E\T`, URL: "https://a.example/é", Nonce: "n\u00e9", IssuedAt: now})
				if err != nil {
					t.Fatal(err)
				}
				got, err := Verify(p, Check{Method: `G"E\T`, URL: "https://a.example/é", Now: now, Nonce: func(n string) bool { return n == "n\u00e9" }})
				if err != nil || got.Thumbprint != want {
					t.Fatalf("%s proof %d: %+v, %v; want thumbprint %s", alg, i, got, err, want)
				}
			}
		}
	}
}
