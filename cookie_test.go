package jwtrefresh_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/session"
)

const appOrigin = "https://app.example.test"

// refreshCookie returns the refresh cookie a response set, or nil.
func refreshCookie(t *testing.T, r reply) *http.Cookie {
	t.Helper()
	var found *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "__Secure-refresh_token" {
			if found != nil {
				t.Fatal("two refresh cookies set")
			}
			found = c
		}
	}
	return found
}

// TestRefreshCookie: browser mode. The refresh token lives in an HttpOnly,
// Secure, SameSite=Strict cookie scoped to the endpoints' path, and a
// request using it must come from an allowed origin.
func TestRefreshCookie(t *testing.T) {
	e := newEnv(t, envConfig{storeOpts: strict, // "ReusedCookie" presents a cookie just used
		svcOpts: []jwtrefresh.Option{jwtrefresh.WithRefreshCookie(jwtrefresh.RefreshCookie{
			Path: "/auth", AllowedOrigins: []string{appOrigin, "http://localhost:5173"},
		})}})
	browser := func(c *http.Cookie, origin string) []string {
		h := []string{}
		if origin != "" {
			h = append(h, "Origin", origin)
		}
		if c != nil {
			h = append(h, "Cookie", c.Name+"="+c.Value)
		}
		return h
	}
	wantCookie := func(t *testing.T, r reply) *http.Cookie {
		t.Helper()
		c := refreshCookie(t, r)
		if c == nil || !strings.HasPrefix(c.Value, session.TokenPrefix) || c.Path != "/auth" || !c.HttpOnly ||
			!c.Secure || c.SameSite != http.SameSiteStrictMode || c.MaxAge < 29*24*3600 {
			t.Fatalf("refresh cookie %+v", c)
		}
		if tj := r.token(t); tj.RefreshToken != "" || tj.AccessToken == "" {
			t.Fatalf("body %s: the refresh token must stay out of reach of scripts", r.body)
		}
		return c
	}
	wantCleared := func(t *testing.T, r reply) {
		t.Helper()
		if c := refreshCookie(t, r); c == nil || c.MaxAge >= 0 || c.Value != "" {
			t.Fatalf("cookie %+v, want it cleared", c)
		}
	}
	refresh := func(h ...string) reply {
		return do(t, e.request(t, http.MethodPost, "/auth/refresh", formType, form("grant_type", "refresh_token"), h...))
	}
	login := func(origin string) reply {
		return do(t, e.request(t, http.MethodPost, "/login", formType, form("user", "alice"), browser(nil, origin)...))
	}

	c := wantCookie(t, login(appOrigin))
	c2 := wantCookie(t, refresh(browser(c, appOrigin)...))
	c3 := wantCookie(t, refresh(browser(c2, "http://LOCALHOST:5173")...)) // origins compare case-insensitively

	t.Run("OriginRequired", func(t *testing.T) {
		for _, origin := range []string{"", "https://evil.example", "null", appOrigin + "/"} {
			wantError(t, refresh(browser(c3, origin)...), 403, "access_denied")
		}
		r := refresh("Origin", appOrigin, "Origin", appOrigin, "Cookie", c3.Name+"="+c3.Value)
		wantError(t, r, 403, "access_denied")
	})
	t.Run("TwoCookies", func(t *testing.T) {
		r := refresh("Origin", appOrigin, "Cookie", c3.Name+"="+c3.Value, "Cookie", c3.Name+"=x")
		wantError(t, r, 400, "invalid_request")
	})
	t.Run("NoCookie", func(t *testing.T) {
		wantError(t, refresh(browser(nil, appOrigin)...), 400, "invalid_request")
	})
	t.Run("CLIWithoutOrigin", func(t *testing.T) {
		r := login("")
		if refreshCookie(t, r) != nil || r.token(t).RefreshToken == "" {
			t.Fatalf("a client without Origin gets its token in the body: %v %s", r.header, r.body)
		}
		r = e.refresh(t, r.token(t).RefreshToken)
		if refreshCookie(t, r) != nil || r.token(t).RefreshToken == "" {
			t.Fatalf("refresh without Origin: %v %s", r.header, r.body)
		}
	})
	t.Run("BodyTokenFromBrowser", func(t *testing.T) {
		rt := login("").token(t).RefreshToken
		wantCookie(t, e.refresh(t, rt, "Origin", appOrigin))
	})
	t.Run("Revoke", func(t *testing.T) {
		c := wantCookie(t, login(appOrigin))
		r := do(t, e.request(t, http.MethodPost, "/auth/revoke", formType, "", browser(c, appOrigin)...))
		if r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		wantCleared(t, r)
		r = refresh(browser(c, appOrigin)...)
		wantError(t, r, 400, "invalid_grant")
		wantCleared(t, r)
		wantError(t, do(t, e.request(t, http.MethodPost, "/auth/revoke", formType, "", browser(c, "https://evil.example")...)), 403, "access_denied")
	})
	t.Run("LogoutAllClears", func(t *testing.T) {
		at := login(appOrigin).token(t).AccessToken
		r := do(t, e.request(t, http.MethodPost, "/auth/logout-all", "", "", "Authorization", "Bearer "+at, "Origin", appOrigin))
		if r.status != 200 {
			t.Fatalf("logout-all: %d", r.status)
		}
		wantCleared(t, r)
	})
	t.Run("ReusedCookie", func(t *testing.T) {
		c := wantCookie(t, login(appOrigin))
		wantCookie(t, refresh(browser(c, appOrigin)...))
		r := refresh(browser(c, appOrigin)...)
		wantError(t, r, 400, "invalid_grant")
		wantCleared(t, r)
	})
}

// TestRefreshCookieHostPrefix: a "__Host-" name needs Path "/" (browsers
// drop the cookie otherwise), checked by NewService whatever the case of
// the prefix; with it, the cookie is set with Path=/, Secure and no Domain.
func TestRefreshCookieHostPrefix(t *testing.T) {
	e := newEnv(t, envConfig{})
	for _, tc := range []struct {
		name, path string
		ok         bool
	}{
		{"__Host-refresh_token", "/auth", false},
		{"__host-refresh_token", "/auth", false},
		{"__HOST-rt", "/auth/", false},
		{"__Host-refresh_token", "/", true},
		{"__Secure-refresh_token", "/auth", true},
		{"__Hostile-refresh", "/auth", true}, // not the prefix
	} {
		t.Run(tc.name+tc.path, func(t *testing.T) {
			_, err := jwtrefresh.NewService(e.store, e.secrets, e.keys, testIssuer, jwtrefresh.WithRefreshCookie(jwtrefresh.RefreshCookie{
				Name: tc.name, Path: tc.path, AllowedOrigins: []string{appOrigin}}))
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, jwtrefresh.ErrInvalidConfig)) {
				t.Fatalf("NewService: %v, want ok=%v", err, tc.ok)
			}
		})
	}

	const name = "__Host-refresh_token"
	h := newEnv(t, envConfig{svcOpts: []jwtrefresh.Option{jwtrefresh.WithRefreshCookie(jwtrefresh.RefreshCookie{
		Name: name, Path: "/", AllowedOrigins: []string{appOrigin}})}})
	cookie := func(r reply) *http.Cookie {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		raw := r.header.Values("Set-Cookie")
		cs := (&http.Response{Header: r.header}).Cookies()
		if len(cs) != 1 || cs[0].Name != name || cs[0].Path != "/" || !cs[0].Secure || cs[0].Domain != "" ||
			strings.Contains(strings.ToLower(raw[0]), "domain=") {
			t.Fatalf("Set-Cookie %q", raw)
		}
		return cs[0]
	}
	c := cookie(do(t, h.request(t, http.MethodPost, "/login", formType, form("user", "alice"), "Origin", appOrigin)))
	c = cookie(do(t, h.request(t, http.MethodPost, "/auth/refresh", formType, form("grant_type", "refresh_token"),
		"Origin", appOrigin, "Cookie", name+"="+c.Value)))
	if c.Value == "" {
		t.Fatal("no refresh token in the cookie")
	}
}

// TestRefreshCookieTossing: a request carrying the refresh cookie more than
// once (a cookie tossed from another host of the site next to the real
// one) is refused with 400 invalid_request, whichever comes first and
// however the Cookie headers are split, and neither token is spent or
// revoked.
func TestRefreshCookieTossing(t *testing.T) {
	e := newEnv(t, envConfig{svcOpts: []jwtrefresh.Option{jwtrefresh.WithRefreshCookie(jwtrefresh.RefreshCookie{
		Path: "/auth", AllowedOrigins: []string{appOrigin}})}})
	name := "__Secure-refresh_token"
	login := func(user string) string {
		c := refreshCookie(t, do(t, e.request(t, http.MethodPost, "/login", formType, form("user", user), "Origin", appOrigin)))
		if c == nil {
			t.Fatal("no refresh cookie")
		}
		return c.Value
	}
	victim, attacker := login("alice"), login("mallory")
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"TossedFirst", []string{"Cookie", name + "=" + attacker + "; " + name + "=" + victim}},
		{"TossedLast", []string{"Cookie", name + "=" + victim + "; " + name + "=" + attacker}},
		{"TwoHeaders", []string{"Cookie", name + "=" + attacker, "Cookie", name + "=" + victim}},
		{"SameValueTwice", []string{"Cookie", name + "=" + victim + "; " + name + "=" + victim}},
		{"TossedEmpty", []string{"Cookie", name + "=; " + name + "=" + victim}},
		{"AmongOthers", []string{"Cookie", "theme=dark; " + name + "=" + victim + "; lang=en; " + name + "=" + attacker}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := append([]string{"Origin", appOrigin}, tc.header...)
			for _, path := range []string{"/auth/refresh", "/auth/revoke"} {
				r := do(t, e.request(t, http.MethodPost, path, formType, "", h...))
				wantError(t, r, 400, "invalid_request")
				if len(r.header.Values("Set-Cookie")) != 0 {
					t.Fatalf("%s set a cookie: %q", path, r.header.Values("Set-Cookie"))
				}
			}
		})
	}
	// Nothing was rotated or revoked: each token refreshes once, alone.
	for who, rt := range map[string]string{"victim": victim, "attacker": attacker} {
		r := do(t, e.request(t, http.MethodPost, "/auth/refresh", formType, form("grant_type", "refresh_token"),
			"Origin", appOrigin, "Cookie", name+"="+rt))
		if r.status != 200 || refreshCookie(t, r) == nil {
			t.Fatalf("the %s's token after the refused requests: %d %s", who, r.status, r.body)
		}
	}
}

// TestRefreshCookieUnknownExpiry: a TokenResponse the application built
// without RefreshExpiry still hands its refresh token over, as a session
// cookie: a Max-Age of a second would lose it, since it is not in the body.
func TestRefreshCookieUnknownExpiry(t *testing.T) {
	e := newEnv(t, envConfig{svcOpts: []jwtrefresh.Option{jwtrefresh.WithRefreshCookie(jwtrefresh.RefreshCookie{
		Path: "/auth", AllowedOrigins: []string{appOrigin},
	})}})
	req := httptest.NewRequest(http.MethodPost, "/login", nil)
	req.Header.Set("Origin", appOrigin)
	rec := httptest.NewRecorder()
	e.svc.WriteTokenResponse(rec, req, &jwtrefresh.TokenResponse{AccessToken: "at", TokenType: "Bearer", RefreshToken: "rt"})
	c := refreshCookie(t, reply{header: rec.Header()})
	if c == nil || c.Value != "rt" || c.MaxAge != 0 || !c.Expires.IsZero() || strings.Contains(rec.Header().Get("Set-Cookie"), "Max-Age") {
		t.Fatalf("Set-Cookie %q; want the token in a session cookie (no Max-Age, no Expires)", rec.Header().Get("Set-Cookie"))
	}
}
