package jwtrefresh

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RefreshCookie configures the refresh-token cookie for browser front
// ends (see [WithRefreshCookie]).
type RefreshCookie struct {
	// Name of the cookie (default "__Secure-refresh_token"). The
	// "__Secure-" prefix makes browsers refuse it unless it is Secure
	// (it always is). The "__Host-" prefix also makes them refuse it with
	// a Domain attribute (never set) or a Path other than "/", so Path
	// must be "/" with it: see [WithRefreshCookie] for when to choose it.
	// Browsers match both prefixes without regard to case, and so does
	// the check of "__Host-".
	Name string
	// Path is the URL path the browser sends the cookie to: the public path
	// under which the service's Handler is mounted, such as "/auth", so
	// that both the refresh and the revocation endpoint receive it and no
	// other route does; "/" with a "__Host-" name. Required.
	Path string
	// AllowedOrigins lists the origins ("https://app.example.com": scheme,
	// host and port, no path) whose pages may use the cookie. Required.
	AllowedOrigins []string
}

// defaultRefreshCookieName is the name of the refresh cookie.
const defaultRefreshCookieName = "__Secure-refresh_token"

// WithRefreshCookie lets browser front ends keep the refresh token in an
// HttpOnly; Secure; SameSite=Strict cookie scoped to c.Path, out of reach
// of the page's scripts. Default: off; refresh tokens travel in bodies.
//
// A request whose Origin is in c.AllowedOrigins gets its new refresh token
// in the cookie, not in the JSON body (so does the login handler's
// [Service.WriteTokenResponse]); the refresh and revocation endpoints read
// the token from the cookie when the body has none. Security: a request
// whose token comes from the cookie must carry an allowed Origin, or it is
// refused with 403 (CSRF defence beside SameSite=Strict); a cookie sent
// twice (cookie tossing) is refused with 400. Prefer a "__Host-" name: the
// package documentation's "Refresh cookie" section says why.
func WithRefreshCookie(c RefreshCookie) Option {
	return func(cfg *config) error {
		rc, err := newRefreshCookie(c)
		if err != nil {
			return err
		}
		cfg.cookie = rc
		return nil
	}
}

// hostPrefix is the cookie-name prefix of RFC 6265bis §4.1.3.2: Secure,
// Path=/, no Domain.
const hostPrefix = "__Host-"

type refreshCookie struct {
	name    string
	path    string
	origins map[string]bool
}

func newRefreshCookie(c RefreshCookie) (*refreshCookie, error) {
	if c.Name == "" {
		c.Name = defaultRefreshCookieName
	}
	if (&http.Cookie{Name: c.Name, Value: "x"}).Valid() != nil {
		return nil, configError("WithRefreshCookie: invalid cookie name %q", c.Name)
	}
	if !strings.HasPrefix(c.Path, "/") || (&http.Cookie{Name: c.Name, Value: "x", Path: c.Path}).Valid() != nil {
		return nil, configError("WithRefreshCookie: path %q must be an absolute URL path", c.Path)
	}
	if len(c.Name) >= len(hostPrefix) && strings.EqualFold(c.Name[:len(hostPrefix)], hostPrefix) && c.Path != "/" {
		// Browsers would silently refuse to store the cookie.
		return nil, configError("WithRefreshCookie: a %s cookie (%q) must have Path \"/\", not %q", hostPrefix, c.Name, c.Path)
	}
	if len(c.AllowedOrigins) == 0 {
		return nil, configError("WithRefreshCookie: no allowed origins")
	}
	rc := &refreshCookie{name: c.Name, path: c.Path, origins: make(map[string]bool)}
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, configError("WithRefreshCookie: %q is not an origin such as https://app.example.com", o)
		}
		rc.origins[strings.ToLower(u.Scheme+"://"+u.Host)] = true
	}
	return rc, nil
}

// allowed reports whether r comes from a page of an allowed origin: exactly
// one Origin header, in the list (browsers send it on every POST). The
// answer to such a request carries its refresh token in the cookie.
func (c *refreshCookie) allowed(r *http.Request) bool {
	o := r.Header["Origin"]
	return len(o) == 1 && c.origins[strings.ToLower(o[0])]
}

// read returns the refresh token in r's cookie ("" for none), or the
// answer refusing the request: 400 invalid_request when the cookie comes
// more than once (cookie tossing, see WithRefreshCookie), 403 when the
// Origin is not allowed.
func (c *refreshCookie) read(r *http.Request) (string, *wireError) {
	cookies := r.CookiesNamed(c.name)
	switch {
	case len(cookies) == 0 || (len(cookies) == 1 && cookies[0].Value == ""):
		return "", nil
	case len(cookies) > 1:
		return "", respBadCookie
	case !c.allowed(r):
		return "", respOrigin
	}
	return cookies[0].Value, nil
}

func (c *refreshCookie) set(w http.ResponseWriter, token string, expires, now time.Time) {
	// An unknown expiry (a TokenResponse the application built without
	// RefreshExpiry) makes a session cookie: the token is not in the body,
	// so a Max-Age of 1 would lose it a second later.
	maxAge := 0
	if !expires.IsZero() {
		maxAge = max(1, int(expires.Sub(now)/time.Second))
	}
	http.SetCookie(w, &http.Cookie{
		Name: c.name, Value: token, Path: c.path, MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

func (c *refreshCookie) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: c.name, Path: c.path, MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}
