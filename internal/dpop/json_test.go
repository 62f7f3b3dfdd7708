package dpop

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeClaims checks the claims reader against encoding/json: what it
// accepts is valid JSON, and the members it reads hold the values
// encoding/json finds under the same exact names.
func FuzzDecodeClaims(f *testing.F) {
	for _, s := range []string{
		`{"jti":"a","htm":"GET","htu":"https://a/","iat":1562262616}`,
		`{"jti":"a\u0041","iat":1.5e3,"x":[1,{"y":null},true],"ath":"h","nonce":""}`,
		`{"jti":"a","jti":"b"}`, `{"iat":"1"}`, `{}`, ` {"a":-0.0e+1} `, `{"a":01}`, `{"a":"\x01"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var c rawClaims
		if c.decode(doc) != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", doc, err)
		}
		for name, got := range map[string]string{"jti": c.JTI, "htm": c.HTM, "htu": c.HTU, "ath": c.ATH, "nonce": c.Nonce} {
			if v, ok := m[name]; ok && v != got {
				t.Fatalf("%s: %q, encoding/json %q", name, got, v)
			}
		}
		if v, ok := m["iat"]; ok && v != c.IAT {
			t.Fatalf("iat: %v, encoding/json %v", c.IAT, v)
		}
	})
}
