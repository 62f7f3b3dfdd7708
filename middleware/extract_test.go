package middleware

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/keys"
)

func TestExtractBearer(t *testing.T) {
	tests := []struct {
		in   []string
		want string
		err  error
	}{
		{nil, "", nil},
		{a("Bearer abc.def.ghi"), "abc.def.ghi", nil},
		{a("bearer abc"), "abc", nil},
		{a("BeArEr   abc  "), "abc", nil},
		{a("  Bearer abc"), "abc", nil},
		{a("Bearer a+/b~c-d_e.f=="), "a+/b~c-d_e.f==", nil},
		{a("Basic abc"), "", nil},
		{a("Bearerabc"), "", nil},
		{a("DPoP abc"), "", nil},
		{a(""), "", nil},
		{a("Bearer"), "", ErrInvalidRequest},
		{a("Bearer "), "", ErrInvalidRequest},
		{a("Bearer a b"), "", ErrInvalidRequest},
		{a("Bearer a,b"), "", ErrInvalidRequest},
		{a("Bearer ==="), "", ErrInvalidRequest},
		{a("Bearer a=b"), "", ErrInvalidRequest},
		{a("Bearer \"abc\""), "", ErrInvalidRequest},
		{a("Bearer abc", "Bearer abc"), "", ErrInvalidRequest},
		{a("Basic x", "Bearer abc"), "", ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.in, "|"), func(t *testing.T) {
			got, err := extractBearer(tt.in)
			if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("got (%q, %v), want (%q, %v)", got, err, tt.want, tt.err)
			}
		})
	}
}

func FuzzExtractBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Basic x", "Bearer", "Bearer a b", "Bearer ==", " \tBearer  x=="} {
		f.Add(s, "")
	}
	f.Add("Bearer a", "Bearer b")
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		values := []string{v1}
		if v2 != "" {
			values = append(values, v2)
		}
		tok, err := extractBearer(values)
		if err != nil {
			if tok != "" || !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("(%q, %v)", tok, err)
			}
			return
		}
		if len(values) > 1 {
			t.Fatal("two headers accepted")
		}
		if tok != "" && (!isB64Token(tok) || !strings.Contains(v1, tok)) {
			t.Fatalf("token %q from %q", tok, v1)
		}
	})
}

// FuzzHandler feeds arbitrary Authorization headers and cookies to the
// whole middleware: it must never panic and only answer 200, 400 or 401.
func FuzzHandler(f *testing.F) {
	set := must(keys.NewSet(edKey, hsKey))
	good := sign(edKey, claimsAt())
	for _, s := range []string{"Bearer " + good, "bearer " + good + "x", "Bearer " + good[:40], "Bearer a.b.c", "Basic x", "Bearer", "Bearer ....", "Bearer " + strings.Repeat(".", 9000)} {
		f.Add(s, "", "")
	}
	f.Add("", "", good)
	f.Add("Bearer "+good, "Bearer "+good, "")
	f.Add("Bearer "+good, "", good)
	m, err := New(set, withClock(newClock().Now), WithCookie("at"), WithIssuer("https://issuer.example"))
	if err != nil {
		f.Fatal(err)
	}
	h := m.Handler(okHandler)
	f.Fuzz(func(t *testing.T, h1, h2, ck string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = []string{h1}
		if h2 != "" {
			r.Header["Authorization"] = append(r.Header["Authorization"], h2)
		}
		if ck != "" {
			r.Header["Cookie"] = []string{"at=" + ck}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 401:
		default:
			t.Fatalf("status %d", w.Code)
		}
		if w.Code != 200 && w.Header().Get("WWW-Authenticate") == "" {
			t.Fatal("refusal without a challenge")
		}
	})
}

// FuzzVerify feeds arbitrary strings to the token parser (through Verify,
// which skips the header's character check): no panic, and every refusal
// is a 401 invalid_token; nothing but the genuine seed can be accepted.
func FuzzVerify(f *testing.F) {
	set := must(keys.NewSet(edKey, hsKey))
	good := sign(edKey, claimsAt())
	for _, s := range []string{good, good + "x", "a.b.c", "..", "e30.e30.", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat("a.", 5000)} {
		f.Add(s)
	}
	m, err := New(set, withClock(newClock().Now))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := m.Verify(t.Context(), tok)
		if err == nil {
			if tok != good || c.Subject != "alice" {
				t.Fatalf("accepted %q", tok)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != 401 || c != nil {
			t.Fatalf("refusal %v", err)
		}
	})
}
