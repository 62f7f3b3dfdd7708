package dpop

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// NormalizeURL returns raw as a proof's `htu` is compared (RFC 9449 §4.3,
// RFC 3986 §6.2.2–6.2.3): scheme and host in lower case, the scheme's
// default port dropped, an empty path made "/", query, fragment and user
// information removed; the path is kept as sent. raw must be an absolute
// http or https URL; otherwise the error wraps [ErrURL].
func NormalizeURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrURL, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%w: not an absolute http(s) URL", ErrURL)
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	if port != "" {
		host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, nil
}

// RequestURL is the URL a client addressed r to, as htu is compared: base
// (an operator-configured external URL such as "https://api.example.com",
// maybe with a path prefix a proxy strips; no trailing slash) followed by
// the path of r's request target, as received. Neither the Host header
// nor the connection's TLS state is trusted: a proof made for another
// origin that shares the key cannot be replayed here by naming that origin.
func RequestURL(base string, r *http.Request) string {
	p := r.RequestURI
	if p == "" { // a request made in-process, not read from a connection
		p = r.URL.EscapedPath()
	}
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") { // absolute form, or "*"
		if u, err := url.Parse(p); err == nil && u.Host != "" {
			p = u.EscapedPath()
		}
	}
	return base + p
}

// CheckBaseURL returns base without a trailing slash if it is an absolute
// http(s) URL without query, fragment or user information, as
// [RequestURL] needs it.
func CheckBaseURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" || strings.HasSuffix(base, "?") {
		return "", fmt.Errorf("DPoP base URL %q: want an absolute http or https URL without query, fragment or user", base)
	}
	return strings.TrimRight(base, "/"), nil
}
