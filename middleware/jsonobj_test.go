package middleware

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The claims and header decoders are checked against encoding/json, the
// decoder they replace: on every document that encoding/json decodes and
// whose member names are unambiguous they must give the same result, and
// every other document must be refused.

// refNames returns the top-level member names of doc as encoding/json
// reads them, and false if doc is not one valid JSON object.
func refNames(doc string) ([]string, bool) {
	if !json.Valid([]byte(doc)) {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var names []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		names = append(names, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, false
		}
	}
	return names, true
}

// refAmbiguous is the rule of checkNames, written plainly.
func refAmbiguous(names, known []string) bool {
	for i, a := range names {
		for _, b := range names[:i] {
			if strings.EqualFold(a, b) {
				return true
			}
		}
		for _, k := range known {
			if a != k && strings.EqualFold(a, k) {
				return true
			}
		}
	}
	return false
}

var jsonSeeds = []string{
	`{"iss":"https://issuer.example","sub":"alice","aud":["api","x"],"exp":1767323345,"nbf":1767323045,"iat":1767323045,"jti":"j","sid":"s","scope":"read write"}`,
	`{"sub":"alice","Sub":"admin","exp":1}`,
	`{"ſub":"admin"}`,
	`{"\u212aid":"k"}`,
	`{"s\u0075b":"alice","exp":1.5,"nbf":-0,"iat":1e3}`,
	`{"exp":"1700000000","nbf":"1e3","iat":" 1"}`,
	`{"exp":1e400}`,
	`{"exp":12345678901234567890}`,
	`{"exp":-1234567890123456}`,
	`{"exp":null,"aud":null,"sub":null,"scope":null}`,
	`{"aud":"api","scope":["a",null,"b"]}`,
	`{"aud":[],"scope":[]}`,
	`{"aud":["a",1]}`,
	`{"aud":{"a":1}}`,
	`{"scope":"  a\tb  "}`,
	`{"scope":"a\nb \u0063"}`,
	`{"sub":"caf\u00e9","iss":"\ud83d\ude00","jti":"\udc00"}`,
	"{\"sub\":\"\xff\xfe\",\"s\xffb\":1,\"s\xfeb\":2}",
	"{\"sub\":\"a\x01\"}",
	` { "sub" : "a" , "x" : [ 1 , { "y" : [ ] } , true , false , null ] } `,
	`{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":.5}`, `{"a":tru}`, `{"a":"\x"}`, `{"a":"\u12"}`,
	`{"a":1,}`, `{,}`, `{"a"}`, `{"a":1 "b":2}`, `{}`, `[]`, `null`, `"x"`, `{"a":1}x`, `{"a":1}}`,
	`{"alg":"HS256","kid":"hs","typ":"at+jwt","crit":null}`,
	`{"ALG":"HS256","alg":"HS256"}`,
	`{"alg":"HS256","alg":"HS256"}`,
	`{"alg":5}`,
	`{"x":` + strings.Repeat(`[`, maxDepth) + strings.Repeat(`]`, maxDepth) + `}`,
	`{"x":` + strings.Repeat(`[`, maxDepth-1) + strings.Repeat(`]`, maxDepth-1) + `}`,
}

func FuzzDecodeClaims(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var got Claims
		var st claimStorage
		err := decodeClaimsJSON(doc, &got, &st)

		var want Claims
		names, ok := refNames(doc)
		ok = ok && !refAmbiguous(names, claimNames) && json.Unmarshal([]byte(doc), &want) == nil
		if ok != (err == nil) {
			t.Fatalf("decodeClaimsJSON: %v; encoding/json accepts: %v", err, ok)
		}
		if ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded\n%#v\nencoding/json\n%#v", got, want)
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var got joseHeader
		err := got.decode(doc)

		var want struct {
			Alg  string          `json:"alg"`
			Kid  string          `json:"kid"`
			Typ  string          `json:"typ"`
			Crit json.RawMessage `json:"crit"`
		}
		names, ok := refNames(doc)
		ok = ok && !refAmbiguous(names, headerNames) && json.Unmarshal([]byte(doc), &want) == nil
		if ok != (err == nil) {
			t.Fatalf("joseHeader.decode: %v; encoding/json accepts: %v", err, ok)
		}
		if ok && (got.alg != want.Alg || got.kid != want.Kid || got.typ != want.Typ || got.crit != (want.Crit != nil)) {
			t.Fatalf("decoded %+v, encoding/json %+v", got, want)
		}
	})
}
