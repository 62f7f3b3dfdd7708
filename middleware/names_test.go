package middleware

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/keys"
)

// rawHS256 signs a header and a claims set given as raw JSON with hsKey,
// the way an issuer with its own JSON encoder (or an attacker holding a
// key, to test what the verifier makes of it) would.
func rawHS256(header, claims string) string {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, hsSecret)
	mac.Write([]byte(in))
	return in + "." + enc.EncodeToString(mac.Sum(nil))
}

// TestMemberNamesAreCaseSensitive: JOSE header parameter names and claim
// names are case-sensitive (RFC 7515 §4, RFC 7519 §4), and names that only
// a case-insensitive decoder would confuse are refused, as are repeated
// names (RFC 7515 §4 lets a parser reject them; a verifier should).
func TestMemberNamesAreCaseSensitive(t *testing.T) {
	exp := fmt.Sprint(t0.Add(time.Minute).Unix())
	hdr := `{"alg":"HS256","kid":"hs"}`
	cl := func(members string) string { return `{` + members + `,"exp":` + exp + `}` }
	// More members than checkNames compares pair by pair.
	var wide strings.Builder
	for i := range smallObject + 4 {
		fmt.Fprintf(&wide, `"p%d":%d,`, i, i)
	}
	many := wide.String()
	tests := []struct {
		name    string
		header  string
		claims  string
		typ     string // WithTokenType, if set
		wantSub string // accepted with this subject; "" means refused
		wantErr error
		wantWhy error
		hide    string // must not appear in the error text
	}{
		{name: "exact names", header: hdr, claims: cl(`"sub":"alice"`), wantSub: "alice"},
		{name: "escaped name is the same name", header: `{"\u0061lg":"HS256","kid":"hs"}`, claims: cl(`"s\u0075b":"alice"`), wantSub: "alice"},
		{name: "names that merely start alike", header: hdr, claims: cl(`"sub":"alice","subject":"x","Subs":"y","iss2":"z"`), wantSub: "alice"},
		{name: "application names differing in more than case", header: hdr, claims: cl(`"sub":"alice","role":"a","roles":"b"`), wantSub: "alice"},

		{name: "upper-case header names", header: `{"ALG":"HS256","KID":"hs"}`, claims: cl(`"sub":"alice"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "alg and ALG", header: `{"alg":"HS256","kid":"hs","ALG":"none"}`, claims: cl(`"sub":"alice"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "alg twice", header: `{"alg":"HS256","alg":"HS256","kid":"hs"}`, claims: cl(`"sub":"alice"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "alg twice, once escaped", header: `{"alg":"HS256","kid":"hs","\u0061lg":"HS256"}`, claims: cl(`"sub":"alice"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "TYP is not typ", header: `{"alg":"HS256","kid":"hs","TYP":"at+jwt"}`, claims: cl(`"sub":"alice"`), typ: "at+jwt",
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "Typ without a type requirement", header: `{"alg":"HS256","kid":"hs","Typ":"JWT"}`, claims: cl(`"sub":"alice"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "CRIT", header: `{"alg":"HS256","kid":"hs","CRIT":["exp"]}`, claims: cl(`"sub":"alice"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "a wide header with a repeated name", header: `{` + many + `"alg":"HS256","kid":"hs","p7":0}`, claims: cl(`"sub":"alice"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "a wide header with a case variant", header: `{` + many + `"alg":"HS256","kid":"hs","Kid":"hs"}`, claims: cl(`"sub":"alice"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "a wide header", header: `{` + many + `"alg":"HS256","kid":"hs"}`, claims: cl(`"sub":"alice"`), wantSub: "alice"},

		{name: "Sub does not override sub", header: hdr, claims: cl(`"sub":"alice","Sub":"admin"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "Sub does not stand in for sub", header: hdr, claims: cl(`"Sub":"admin"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "long s does not stand in for s", header: hdr, claims: cl(`"ſub":"admin"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "Kelvin sign does not stand in for k", header: `{"alg":"HS256","\u212aid":"hs"}`, claims: cl(`"sub":"alice"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "sub twice", header: hdr, claims: cl(`"sub":"alice","sub":"admin"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "EXP next to exp", header: hdr, claims: cl(`"sub":"alice","EXP":99999999999`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "Scope does not grant scopes", header: hdr, claims: cl(`"sub":"alice","Scope":"admin"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "application names differing only in case", header: hdr, claims: cl(`"sub":"alice","role":"user","Role":"admin"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "a wide claims set with a repeated name", header: hdr, claims: cl(many + `"sub":"alice","p19":0`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "a wide claims set with Sub", header: hdr, claims: cl(many + `"Sub":"admin"`),
			wantErr: ErrTokenMalformed, wantWhy: errAmbiguous},
		{name: "a wide claims set", header: hdr, claims: cl(many + `"sub":"alice"`), wantSub: "alice"},

		{name: "not an object", header: hdr, claims: `null`, wantErr: ErrTokenMalformed, wantWhy: errJSONSyntax},
		{name: "trailing data", header: hdr, claims: cl(`"sub":"alice"`) + `{}`, wantErr: ErrTokenMalformed, wantWhy: errJSONSyntax},
		{name: "sub of the wrong type", header: hdr, claims: cl(`"sub":7`), wantErr: ErrTokenMalformed, wantWhy: errJSONType},
		{name: "alg of the wrong type", header: `{"alg":["HS256"],"kid":"hs"}`, claims: cl(`"sub":"alice"`), wantErr: ErrTokenMalformed, wantWhy: errJSONType},
		{name: "nbf out of range", header: hdr, claims: cl(`"sub":"alice","nbf":1e400`), wantErr: ErrTokenMalformed, wantWhy: errJSONType, hide: "1e400"},
	}
	set := must(keys.NewSet(hsKey))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.typ != "" {
				opts = append(opts, WithTokenType(tt.typ))
			}
			m := newMW(t, set, nil, opts...)
			tok := rawHS256(tt.header, tt.claims)
			c, err := m.Verify(t.Context(), tok)
			if tt.wantSub != "" {
				if err != nil || c.Subject != tt.wantSub {
					t.Fatalf("Verify = (%v, %v), want subject %q", c, err, tt.wantSub)
				}
				// ClaimsAs (encoding/json) must read the same subject.
				var seen string
				h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					ac, err := ClaimsAs[struct {
						Claims
						Role string `json:"role"`
					}](r.Context())
					if err != nil {
						t.Error(err)
					}
					seen = ac.Subject
				}))
				serve(h, bearer(tok))
				if seen != tt.wantSub {
					t.Fatalf("ClaimsAs saw subject %q, Verify %q", seen, tt.wantSub)
				}
				return
			}
			if c != nil || !errors.Is(err, tt.wantErr) || !errors.Is(err, tt.wantWhy) {
				t.Fatalf("Verify = (%v, %v), want %v (%v)", c, err, tt.wantErr, tt.wantWhy)
			}
			if tt.hide != "" && strings.Contains(err.Error(), tt.hide) {
				t.Fatalf("error %q quotes the token", err)
			}
			w := serve(m.Handler(okHandler), bearer(tok))
			if w.Code != http.StatusUnauthorized || w.Body.String() != body("invalid_token", descMalformed) {
				t.Fatalf("response %d %s", w.Code, w.Body)
			}
		})
	}
}
