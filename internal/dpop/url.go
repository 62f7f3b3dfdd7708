package dpop

import (
	"fmt"
	"net"
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
