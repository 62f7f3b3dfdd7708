package middleware

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/keys"
)

func TestWithTokenType(t *testing.T) {
	payload := must(json.Marshal(claimsAt()))
	set := must(keys.NewSet(hsKey))
	signTyp := func(typ string) string { return must(set.SignJSON(typ, payload)) }
	strict := newMW(t, set, nil, WithTokenType("at+jwt"))
	lax := newMW(t, set, nil)

	for _, tc := range []struct {
		name string
		tok  string
		ok   bool
	}{
		{"at+jwt", signTyp("at+jwt"), true},
		{"application/at+jwt", signTyp("application/at+jwt"), true},
		{"upper case", signTyp("AT+JWT"), true},
		{"APPLICATION/at+jwt", signTyp("APPLICATION/at+jwt"), true},
		{"JWT", signTyp("JWT"), false},
		{"none", signTyp(""), false},
		{"application/", signTyp("application/"), false},
		{"prefix only once", signTyp("application/application/at+jwt"), false},
		{"golang-jwt default typ", sign(hsKey, claimsAt()), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []*Middleware{strict} {
				_, err := m.Verify(t.Context(), tc.tok)
				if tc.ok != (err == nil) {
					t.Fatalf("Verify: %v, want ok=%v", err, tc.ok)
				}
				if err != nil && !errors.Is(err, ErrTokenInvalid) {
					t.Fatalf("error %v, want ErrTokenInvalid", err)
				}
				if !tc.ok {
					w := serve(m.Handler(okHandler), bearer(tc.tok))
					if w.Code != http.StatusUnauthorized || w.Body.String() != body("invalid_token", descInvalid) {
						t.Fatalf("response %d %s", w.Code, w.Body)
					}
				}
			}
			// Without the option, typ is not looked at.
			if _, err := lax.Verify(t.Context(), tc.tok); err != nil {
				t.Fatalf("without WithTokenType: %v", err)
			}
		})
	}
	for _, bad := range []string{"", "application/at+jwt"} {
		if _, err := New(set, WithTokenType(bad)); err == nil {
			t.Errorf("WithTokenType(%q) accepted", bad)
		}
	}
}
