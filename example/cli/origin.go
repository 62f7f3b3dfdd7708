package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jwtrefresh/jwtrefresh/transport"
)

// A session is sent only to the server it came from. Login stores it with
// transport.Transport.Login, which records the refresh endpoint in the
// token file (its "refresh_url"), and the Transport of any later command
// refuses a session recorded for another endpoint (transport.ErrForeignToken)
// before it sends anything. The CLI refuses a session without a record
// too: every login it makes has one, so a file without is older than that,
// or was written by hand, and it cannot tell where it belongs.

// refreshPath is the demo server's token endpoint, under -server.
const refreshPath = "/auth/refresh"

// errUnbound: the session has no record of its server.
var errUnbound = errors.New("the session does not record which server it belongs to")

// otherServerError: -server is not the server the session belongs to.
type otherServerError struct {
	file, recorded, given string
}

func (e *otherServerError) Error() string {
	return fmt.Sprintf("the session in %s belongs to %s, not %s; nothing was sent. Use -server %s, or log in to %s to replace the session",
		e.file, e.recorded, e.given, e.recorded, e.given)
}

// transport returns the Transport of -server on the token file. It does not
// read the file. With DPoP, a login binds the session to a key pair that
// the file store keeps in its own 0600 file beside the token file; a bound
// session is used with its key also with -dpop=false.
func (c *cli) transport() (*transport.Transport, error) {
	var opts []transport.Option
	if c.dpop {
		opts = append(opts, transport.WithDPoP(transport.DPoP{}))
	}
	return transport.New(c.server+refreshPath, c.store, opts...)
}

// session returns the Transport of -server and the stored session, if it
// belongs to -server. Otherwise the error is errNotLoggedIn, an
// *otherServerError, or wraps errUnbound; nothing has been sent.
func (c *cli) session(ctx context.Context) (*transport.Transport, *transport.Token, error) {
	rt, err := c.transport()
	if err != nil {
		return nil, nil, err
	}
	tok, err := rt.Session(ctx)
	switch {
	case errors.Is(err, transport.ErrNoToken):
		return nil, nil, errNotLoggedIn
	case errors.Is(err, transport.ErrForeignToken):
		return nil, nil, c.otherServer(ctx)
	case err != nil:
		return nil, nil, err
	case tok.RefreshURL == "":
		return nil, nil, fmt.Errorf("%s: %w", c.file, errUnbound)
	}
	return rt, tok, nil
}

// otherServer describes the refusal of a session recorded for another
// server, naming it as the user would give it to -server.
func (c *cli) otherServer(ctx context.Context) error {
	recorded := "another server"
	if tok, err := c.store.Load(ctx); err == nil {
		if u, err := url.Parse(tok.RefreshURL); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			recorded = serverOf(u)
		}
	}
	return &otherServerError{file: c.file, recorded: recorded, given: serverOf(c.url)}
}

// serverOf is the base URL of the server whose URL (base or token
// endpoint) u is: its origin and path, without the token endpoint's path
// or a trailing slash.
func serverOf(u *url.URL) string {
	return origin(u) + strings.TrimSuffix(strings.TrimSuffix(u.EscapedPath(), refreshPath), "/")
}

// origin is the RFC 6454 origin of u, lower case, without the scheme's
// default port: http://Example.com:80/x and http://example.com are one.
func origin(u *url.URL) string {
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host
}
