package transport

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// origin is an RFC 6454 origin: scheme, host and port. A token is attached
// to a request only when the request's URL has exactly one of the
// configured origins.
type origin struct {
	scheme, host, port string
}

// parseOrigin parses an absolute http(s) URL into its origin. Without
// allowHTTP, plain http is accepted only for loopback hosts: RFC 6750 §5.3
// requires TLS for bearer tokens, and a development server on localhost is
// the one place where it is not needed. Its errors show raw with any
// password masked (or not at all when it does not parse), and have no
// "transport:" prefix: the caller says which URL it was.
func parseOrigin(raw string, allowHTTP bool) (origin, *url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			// Parse errors quote the URL, and some quote a piece of
			// it: either may be a password.
			return origin{}, nil, errors.New("not a valid URL (not shown: it may carry credentials)")
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, quoted below
		}
		return origin{}, nil, fmt.Errorf("%q is not a valid URL: %w", raw, err)
	}
	shown := u.Redacted()
	scheme := strings.ToLower(u.Scheme)
	host := u.Hostname()
	switch {
	case scheme != "http" && scheme != "https":
		return origin{}, nil, fmt.Errorf("%q is not an absolute http or https URL", shown)
	case host == "":
		return origin{}, nil, fmt.Errorf("%q has no host", shown)
	case u.User != nil:
		return origin{}, nil, fmt.Errorf("%q carries credentials in the URL; the token endpoint's client authentication belongs in the Transport of WithEndpoint", shown)
	case strings.Contains(host, "*") || strings.HasPrefix(host, "."):
		// A pattern would match nothing (hosts are compared exactly), and
		// silently sending no token is worse than refusing.
		return origin{}, nil, fmt.Errorf("%q is a pattern, not an origin; wildcards are not supported: list each origin", shown)
	case scheme == "http" && !allowHTTP && !isLoopback(host):
		return origin{}, nil, fmt.Errorf("%q uses plain http for a non-loopback host; bearer tokens need TLS (see WithInsecureHTTP)", shown)
	}
	return origin{scheme: scheme, host: strings.ToLower(host), port: portOf(scheme, u.Port())}, u, nil
}

// matches reports whether u has this origin. It allocates nothing: it runs
// on every request.
func (o *origin) matches(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, o.scheme) &&
		strings.EqualFold(u.Hostname(), o.host) &&
		portOf(o.scheme, u.Port()) == o.port
}

func portOf(scheme, port string) string {
	if port != "" {
		return port
	}
	if scheme == "https" {
		return "443"
	}
	return "80"
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// canonicalURL is u as Token.RefreshURL records it: scheme and host in lower
// case, the scheme's default port left out, an empty path as "/", the query
// kept and a fragment dropped. Spellings of one endpoint that differ only in
// these compare equal; any other difference (a path's case, a trailing
// slash) makes another endpoint, which fails closed.
func canonicalURL(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	// Hostname is unescaped; a "%" in it (an IPv6 zone, an escaped
	// reg-name) is escaped again, so that the result parses as itself.
	host := strings.ReplaceAll(strings.ToLower(u.Hostname()), "%", "%25")
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" && port != portOf(scheme, "") {
		host += ":" + port
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	s := scheme + "://" + host + path
	if u.RawQuery != "" {
		s += "?" + u.RawQuery
	}
	return s
}
