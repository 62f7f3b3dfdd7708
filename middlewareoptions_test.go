package jwtrefresh_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// TestEndpointMiddlewareNotConfigurable: nothing in the package's API can
// hand middleware options to the session endpoints, so no option can open
// them (a session check that accepts everything, a cookie) or make them
// refuse the service's own tokens (another issuer, audience or type): the
// only function taking middleware options is Service.Middleware, whose
// middleware serves the application's routes, not the endpoints.
func TestEndpointMiddlewareNotConfigurable(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var takers []string
	for _, f := range pkgs["jwtrefresh"].Files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || !fn.Name.IsExported() {
				continue
			}
			for _, p := range fn.Type.Params.List {
				if strings.Contains(types(p.Type), "middleware.Option") {
					takers = append(takers, fn.Name.Name)
				}
			}
		}
	}
	if len(takers) != 1 || takers[0] != "Middleware" {
		t.Fatalf("exported functions taking middleware options: %v, want only Service.Middleware", takers)
	}
}

// types renders a parameter type, enough to spot middleware.Option.
func types(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ellipsis:
		return "..." + types(e.Elt)
	case *ast.ArrayType:
		return "[]" + types(e.Elt)
	case *ast.SelectorExpr:
		return types(e.X) + "." + e.Sel.Name
	case *ast.Ident:
		return e.Name
	}
	return ""
}

// TestSessionEndpointsIgnoreAppMiddleware: the application's middleware,
// built with options that would open the session endpoints or break them
// (a session check that accepts everything, a token cookie, another
// issuer, audience and type), changes nothing there: the endpoints accept
// the service's tokens with the service's settings, refuse a token for
// another audience, refuse an ended session with the service's own check,
// and answer with the service's realm.
func TestSessionEndpointsIgnoreAppMiddleware(t *testing.T) {
	var otherChecks atomic.Int64
	e := newEnv(t, envConfig{svcOpts: []jwtrefresh.Option{jwtrefresh.WithAudience("auth")}})
	app := must(e.svc.Middleware(
		middleware.WithRealm("accounts"),
		middleware.WithCookie("access_token"),
		middleware.WithIssuer("https://other.example.test"),
		middleware.WithAudience("billing"),
		middleware.WithTokenType("JWT"),
		middleware.WithSessionCheck(func(context.Context, *middleware.Claims) error { otherChecks.Add(1); return nil }, 0),
	))
	_ = app // built, and unused by the service
	sessions := func(at string) reply {
		return do(t, e.request(t, http.MethodGet, "/auth/sessions", "", "", "Authorization", "Bearer "+at))
	}
	tj := e.login(t, "alice")
	if r := sessions(tj.AccessToken); r.status != 200 {
		t.Fatalf("sessions: %d %s", r.status, r.body)
	}
	if r := do(t, e.request(t, http.MethodGet, "/auth/sessions", "", "")); r.status != 401 ||
		r.header.Get("WWW-Authenticate") != `Bearer realm="api"` {
		t.Fatalf("without a token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	t.Run("AudienceNotWidened", func(t *testing.T) {
		// Same issuer and keys, audience "billing" only.
		other := must(jwtrefresh.NewService(e.store, e.secrets, e.keys, testIssuer, jwtrefresh.WithAudience("billing")))
		billing := must(other.Login(t.Context(), session.NewSession{Subject: "alice"}))
		if r := sessions(billing.AccessToken); r.status != 401 {
			t.Fatalf("a token for another audience: %d %s", r.status, r.body)
		}
	})
	t.Run("SessionCheckKept", func(t *testing.T) {
		if r := do(t, e.request(t, http.MethodPost, "/auth/logout-all", "", "", "Authorization", "Bearer "+tj.AccessToken)); r.status != 200 {
			t.Fatalf("logout-all: %d %s", r.status, r.body)
		}
		r := sessions(tj.AccessToken)
		if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("an ended session's token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
		if n := otherChecks.Load(); n != 0 {
			t.Fatalf("the application's session check ran %d times; the service's must be the one", n)
		}
	})
}

// TestCrossSiteLogoutAllWithCookie: an application whose own routes take
// the access token from a cookie (middleware.WithCookie) does not expose
// the session endpoints to cross-site requests: a browser attaches the
// cookie to a POST /auth/logout-all from any page, and that request is
// refused (401, nothing ended). The endpoints take the token from the
// Authorization header only, which another site's page cannot set.
func TestCrossSiteLogoutAllWithCookie(t *testing.T) {
	e := newEnv(t, envConfig{
		svcOpts: []jwtrefresh.Option{jwtrefresh.WithRefreshCookie(jwtrefresh.RefreshCookie{
			Path: "/auth", AllowedOrigins: []string{"https://app.example.test"}})},
		apiMWOpts: []middleware.Option{middleware.WithCookie("access_token")},
	})
	tj := e.login(t, "alice")
	other := e.login(t, "alice")
	cookie := "access_token=" + tj.AccessToken
	// The application's route takes the cookie: the setup is real.
	r := do(t, e.request(t, http.MethodGet, "/api/me", "", "", "Cookie", cookie))
	if r.status != 200 {
		t.Fatalf("/api/me with the cookie: %d %s", r.status, r.body)
	}
	for _, origin := range []string{"https://evil.example", "https://app.example.test", ""} {
		h := []string{"Cookie", cookie}
		if origin != "" {
			h = append(h, "Origin", origin)
		}
		r := do(t, e.request(t, http.MethodPost, "/auth/logout-all", "", "", h...))
		if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("logout-all with a cookie token from %q: %d %s, want 401", origin, r.status, r.body)
		}
	}
	if n := len(must(e.svc.Sessions(t.Context(), "alice"))); n != 2 {
		t.Fatalf("alice has %d sessions after the refused requests, want 2", n)
	}
	// With the token in the header, as the front end's own code sends it.
	r = do(t, e.request(t, http.MethodPost, "/auth/logout-all", "", "", "Authorization", "Bearer "+other.AccessToken))
	if r.status != 200 || r.body != `{"revoked":2}` {
		t.Fatalf("logout-all with the header: %d %s", r.status, r.body)
	}
}
