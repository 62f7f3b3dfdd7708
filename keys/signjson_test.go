package keys

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestSignJSON(t *testing.T) {
	payload := []byte(`{"sub":"alice","exp":4102444800,"n":1}`)
	for _, k := range privateKeys() {
		t.Run(k.Algorithm(), func(t *testing.T) {
			set := must(NewSet(k))
			for _, typ := range []string{"at+jwt", ""} {
				tok, err := set.SignJSON(typ, payload)
				if err != nil {
					t.Fatal(err)
				}
				// A resource server using golang-jwt accepts it.
				if err := parse(set, tok); err != nil {
					t.Fatalf("typ %q: %v", typ, err)
				}
				parts := strings.Split(tok, ".")
				hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
				var h map[string]any
				if err := json.Unmarshal(hb, &h); err != nil {
					t.Fatal(err)
				}
				want := map[string]any{"alg": k.Algorithm(), "kid": k.KID()}
				if typ != "" {
					want["typ"] = typ
				}
				if len(h) != len(want) {
					t.Fatalf("header %v, want %v", h, want)
				}
				for name, v := range want {
					if h[name] != v {
						t.Fatalf("header %v, want %v", h, want)
					}
				}
				if pb, _ := base64.RawURLEncoding.DecodeString(parts[1]); string(pb) != string(payload) {
					t.Fatalf("payload %s", pb)
				}
			}
		})
	}
}

func TestSignJSONRefuses(t *testing.T) {
	var empty Set
	if _, err := empty.SignJSON("at+jwt", []byte(`{}`)); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("empty set: %v", err)
	}
	pub, _ := must(NewEdDSA("ed", edKey())).Public()
	if _, err := must(NewSet(pub)).SignJSON("at+jwt", []byte(`{}`)); !errors.Is(err, ErrCannotSign) {
		t.Fatalf("public key: %v", err)
	}
	// A kid needing JSON escapes stays one string in the header.
	k := must(NewHS256(`a"b\c`, secret32))
	tok, err := k.signJSON("", []byte(`{"exp":4102444800}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := parse(must(NewSet(k)), tok); err != nil {
		t.Fatal(err)
	}
}

// TestSignJSONRefusesNonObjects: a payload that is not a JSON object would
// make a token that every verifier refuses, far from the cause.
func TestSignJSONRefusesNonObjects(t *testing.T) {
	k := must(NewHS256("k", secret32))
	for _, p := range []string{"", "{", "null", "[]", `"x"`, "1"} {
		if tok, err := k.signJSON("at+jwt", []byte(p)); !errors.Is(err, ErrInvalidPayload) || tok != "" {
			t.Errorf("SignJSON(%q) = %q, %v; want ErrInvalidPayload", p, tok, err)
		}
	}
	if _, err := k.signJSON("at+jwt", []byte(`{}`)); err != nil {
		t.Errorf("SignJSON({}): %v", err)
	}
}
