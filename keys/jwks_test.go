package keys

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestJWKSRoundTrip(t *testing.T) {
	ks := privateKeys() // hs, ed, es, rs
	s := must(NewSet(ks[1], ks[0], ks[2], ks[3]))
	data, err := s.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"oct"`) || strings.Contains(string(data), `"hs"`) {
		t.Fatalf("HMAC key published: %s", data)
	}
	for _, private := range []string{`"d"`, `"p"`, `"q"`} {
		if strings.Contains(string(data), private) {
			t.Fatalf("private member %s published: %s", private, data)
		}
	}
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "alg": "EdDSA", "use": "sig"},
		{"kty": "EC", "crv": "P-256", "kid": "es", "alg": "ES256", "use": "sig"},
		{"kty": "RSA", "kid": "rs", "alg": "RS256", "use": "sig", "e": "AQAB"},
	}
	if len(doc.Keys) != len(want) {
		t.Fatalf("%d keys published, want %d: %s", len(doc.Keys), len(want), data)
	}
	for i, w := range want {
		for k, v := range w {
			if doc.Keys[i][k] != v {
				t.Errorf("key %d: %s = %q, want %q", i, k, doc.Keys[i][k], v)
			}
		}
	}

	parsed, err := ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	rs := must(NewSet(parsed...))
	for _, k := range ks[1:] {
		if err := parse(rs, must(k.signClaims(claims()))); err != nil {
			t.Errorf("token of %s does not verify with the parsed JWKS: %v", k.KID(), err)
		}
	}
	if err := parse(rs, must(ks[0].signClaims(claims()))); !errors.Is(err, ErrUnknownKID) {
		t.Errorf("HMAC token verified by a JWKS set: %v", err)
	}

	hmacOnly, err := must(NewSet(ks[0])).JWKS()
	if err != nil || string(hmacOnly) != `{"keys":[]}` {
		t.Fatalf("HMAC-only JWKS = %s, %v", hmacOnly, err)
	}
}

func TestParseJWKS(t *testing.T) {
	ed := `{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
	enc := `{"kty":"RSA","use":"enc","kid":"x","n":"AQ","e":"AQAB"}`
	oct := `{"kty":"oct","kid":"y","k":"c2VjcmV0"}`
	p384 := `{"kty":"EC","crv":"P-384","kid":"z","x":"AQ","y":"AQ"}`
	ps256 := `{"kty":"RSA","alg":"PS256","kid":"w","n":"AQ","e":"AQAB"}`
	tests := []struct {
		name string
		in   string
		n    int   // keys returned
		want error // nil: success
	}{
		{"one key without alg", `{"keys":[` + ed + `]}`, 1, nil},
		{"encryption key skipped", `{"keys":[` + enc + `,` + ed + `]}`, 1, nil},
		{"symmetric key skipped", `{"keys":[` + oct + `,` + ed + `]}`, 1, nil},
		{"P-384 skipped", `{"keys":[` + ed + `,` + p384 + `]}`, 1, nil},
		{"PS256 skipped", `{"keys":[` + ps256 + `,` + ed + `]}`, 1, nil},
		{"only unusable keys", `{"keys":[` + enc + `,` + oct + `,` + p384 + `,` + ps256 + `]}`, 0, ErrNoKeys},
		{"only an encryption key", `{"keys":[` + enc + `]}`, 0, ErrNoKeys},
		{"empty keys", `{"keys":[]}`, 0, ErrNoKeys},
		{"not JSON", `{"keys":`, 0, ErrInvalidKey},
		{"no keys member", `{}`, 0, ErrInvalidKey},
		{"duplicate kid", `{"keys":[` + ed + `,` + ed + `]}`, 0, ErrInvalidKey},
		{"missing kid", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, 0, ErrInvalidKey},
		{"bad base64", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"!!"}]}`, 0, ErrInvalidKey},
		{"short Ed25519", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"AQID"}]}`, 0, ErrInvalidKey},
		{"EC off curve", `{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"` + strings.Repeat("A", 43) + `","y":"` + strings.Repeat("A", 42) + `E"}]}`, 0, ErrInvalidKey},
		{"EC short coordinate", `{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"AQ","y":"AQ"}]}`, 0, ErrInvalidKey},
		{"weak RSA", `{"keys":[{"kty":"RSA","kid":"a","n":"` + strings.Repeat("_", 170) + `w","e":"AQAB"}]}`, 0, ErrInvalidKey},
		{"huge RSA exponent", `{"keys":[{"kty":"RSA","kid":"a","n":"AQ","e":"AQAAAAAB"}]}`, 0, ErrInvalidKey},
		{"oversized", `{"keys":[],"pad":"` + strings.Repeat("a", maxJWKS) + `"}`, 0, ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJWKS([]byte(tt.in))
			if tt.want != nil {
				if !errors.Is(err, tt.want) || got != nil {
					t.Fatalf("got (%d keys, %v), want %v", len(got), err, tt.want)
				}
				return
			}
			if err != nil || len(got) != tt.n {
				t.Fatalf("got (%d keys, %v), want %d keys", len(got), err, tt.n)
			}
			for _, k := range got {
				if k.CanSign() {
					t.Fatal("a JWKS key can sign")
				}
			}
		})
	}
}

func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"a","n":"AQ","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"AQ","y":"AQ"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseJWKS(data)
		if (err == nil) == (len(got) == 0) {
			t.Fatalf("%d keys and error %v: want keys or an error", len(got), err)
		}
		for _, k := range got {
			if k.CanSign() || k.KID() == "" {
				t.Fatalf("bad key from JWKS: kid %q", k.KID())
			}
		}
	})
}
