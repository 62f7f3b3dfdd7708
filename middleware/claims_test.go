package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

func TestScopesJSON(t *testing.T) {
	tests := []struct {
		in   string
		want Scopes
		err  bool
	}{
		{`"read write  admin"`, Scopes{"read", "write", "admin"}, false},
		{`["read","write"]`, Scopes{"read", "write"}, false},
		{`""`, Scopes{}, false},
		{`null`, nil, false},
		{`7`, nil, true},
		{`[1]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var s Scopes
			err := json.Unmarshal([]byte(tt.in), &s)
			if (err != nil) != tt.err || len(s) != len(tt.want) {
				t.Fatalf("got %q, %v", s, err)
			}
			for i := range s {
				if s[i] != tt.want[i] {
					t.Fatalf("got %q", s)
				}
			}
		})
	}
	out, _ := json.Marshal(Claims{Scope: Scopes{"a", "b"}, SessionID: "s"})
	if string(out) != `{"sid":"s","scope":"a b"}` {
		t.Fatalf("marshal: %s", out)
	}
}

// appClaims is an application's own claims type: registered claims plus
// its own, at the top level of the JWT.
type appClaims struct {
	Claims
	Tenant string   `json:"tenant"`
	Roles  []string `json:"roles"`
}

func TestClaimsAccessors(t *testing.T) {
	set := must(keys.NewSet(edKey))
	m := newMW(t, set, nil)
	c := appClaims{Claims: *claimsAt(), Tenant: "acme", Roles: []string{"owner"}}
	c.Scope = nil
	raw := map[string]any{}
	b, _ := json.Marshal(c)
	_ = json.Unmarshal(b, &raw)
	raw["scope"] = []string{"read", "write"} // the array form
	tok := sign(edKey, jwt.MapClaims(raw))

	var seen bool
	h := m.Optional(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		cl, ok := ClaimsFrom(ctx)
		if !ok {
			_, err := ClaimsAs[appClaims](ctx)
			if !errors.Is(err, ErrTokenMissing) {
				t.Errorf("ClaimsAs without a token: %v", err)
			}
			return
		}
		seen = true
		if cl.Subject != "alice" || cl.SessionID != "sid-1" || cl.ID != "jti-1" ||
			!cl.ExpiresAt.Equal(t0.Add(5*time.Minute)) || !cl.HasScope("write") || cl.HasScope("admin") {
			t.Errorf("claims %+v", cl)
		}
		app, err := ClaimsAs[appClaims](ctx)
		if err != nil || app.Tenant != "acme" || len(app.Roles) != 1 || app.Subject != "alice" || !app.HasScope("read") {
			t.Errorf("ClaimsAs: %+v, %v", app, err)
		}
		if _, err := ClaimsAs[struct{ Tenant int }](ctx); err == nil {
			t.Error("ClaimsAs into a mismatched type succeeded")
		}
	}))
	serve(h, bearer(tok))
	serve(h)
	if !seen {
		t.Fatal("handler not reached with a token")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	set := must(keys.NewSet(edKey))
	tests := []struct {
		name string
		set  *keys.Set
		opts []Option
	}{
		{"no keys", nil, nil},
		{"nil option", set, a[Option](nil)},
		{"nil option after a good one", set, a(WithIssuer("x"), nil)},
		{"realm with newline", set, a(WithRealm("a\nb"))},
		{"realm too long", set, a(WithRealm(string(make([]byte, 300))))},
		{"empty issuer", set, a(WithIssuer(""))},
		{"no audience", set, a(WithAudience())},
		{"empty audience", set, a(WithAudience(""))},
		{"negative leeway", set, a(WithLeeway(-time.Second, 0))},
		{"negative future leeway", set, a(WithLeeway(0, -time.Second))},
		{"empty cookie", set, a(WithCookie(""))},
		{"nil clock", set, a(withClock(nil))},
		{"nil session check", set, a(WithSessionCheck(nil, 0))},
		{"negative retry", set, a(WithSessionCheck(func(context.Context, *Claims) error { return nil }, -1))},
		{"half cache bound", set, a(WithCache(10, 0))},
		{"negative cache", set, a(WithCache(-1, -1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := New(tt.set, tt.opts...); !errors.Is(err, ErrInvalidConfig) || m != nil {
				t.Fatalf("got (%v, %v), want ErrInvalidConfig", m, err)
			}
		})
	}
	m := newMW(t, set, nil)
	for _, bad := range [][]string{nil, {""}, {"a b"}, {`"x"`}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RequireScope(%q) did not panic", bad)
				}
			}()
			m.RequireScope(bad...)
		}()
	}
}
