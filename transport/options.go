package transport

import (
	"log/slog"
	"net/http"
	"time"
)

// Option configures a Transport in New. An option given a value it cannot
// use makes New fail; so does a nil Option.
type Option func(*config) error

// config is what the options set; New turns it into a Transport.
type config struct {
	base            http.RoundTripper
	endpoint        Endpoint
	origins         []string
	originsSet      bool
	insecureHTTP    bool
	anyUnauthorized bool
	anonymous       bool
	hooks           Hooks
	dpop            *DPoP // nil: off
	now             func() time.Time

	// Only tests change these (see export_test.go).
	skew    time.Duration // how long before expiry to refresh proactively
	timeout time.Duration // bound of one refresh, and of every store call
	retry   retryPolicy
}

// Defaults of the configuration.
const (
	defaultSkew       = 30 * time.Second
	defaultTimeout    = 30 * time.Second
	defaultAttempts   = 4
	defaultMinBackoff = 100 * time.Millisecond
	defaultMaxBackoff = 3 * time.Second
)

func defaultConfig() config {
	return config{
		now:     time.Now,
		skew:    defaultSkew,
		timeout: defaultTimeout,
		retry:   retryPolicy{attempts: defaultAttempts, minBackoff: defaultMinBackoff, maxBackoff: defaultMaxBackoff},
	}
}

// WithBase sets the RoundTripper that sends requests, and refresh requests
// unless WithEndpoint names another. nil (the default) means
// http.DefaultTransport.
func WithBase(rt http.RoundTripper) Option {
	return func(c *config) error { c.base = rt; return nil }
}

// WithEndpoint sets how refresh requests are sent: through e.Transport (for
// example one that adds client authentication for a confidential client),
// with e.ClientID. e.URL may be left empty; if set, it must name the refresh
// URL given to New. Refresh requests never pass through the Transport
// itself, so a 401 from the token endpoint cannot start another refresh.
func WithEndpoint(e Endpoint) Option {
	return func(c *config) error { c.endpoint = e; return nil }
}

// WithOrigins sets the origins (scheme, host and port, given as URLs whose
// path is ignored) that receive the access token, replacing the default:
// the refresh endpoint's origin. List that origin too when requests to it
// need the token (jwtrefresh's /auth/sessions, an API beside it); refreshes
// carry their refresh token in the body and never need it. Requests to any
// other origin, and redirects to one, go out without the token. Each origin
// is checked like the refresh URL, and hosts are compared exactly.
//
// Security: every listed origin can replay the token while it lives and,
// by answering 401, make the Transport refresh: list the resource servers,
// not "everywhere". A wildcard such as https://*.example.com is refused.
func WithOrigins(origins ...string) Option {
	return func(c *config) error {
		if len(origins) == 0 {
			return configError("WithOrigins lists no origin")
		}
		c.origins, c.originsSet = origins, true
		return nil
	}
}

// WithInsecureHTTP allows plain-http refresh endpoints and origins on hosts
// other than loopback.
//
// Security: RFC 6750 §5.3 requires TLS for bearer tokens; over plain http
// anyone on the path can read and replay both tokens. Use it only on a
// network you trust completely, such as a test container network.
func WithInsecureHTTP() Option {
	return func(c *config) error { c.insecureHTTP = true; return nil }
}

// WithAnyUnauthorized makes every 401 from an origin start the refresh
// logic, also one without a Bearer challenge, for servers that send no
// WWW-Authenticate. By default only a 401 whose Bearer challenge has no
// error code or says invalid_token does (RFC 6750 §3.1).
func WithAnyUnauthorized() Option {
	return func(c *config) error { c.anyUnauthorized = true; return nil }
}

// WithAnonymous lets requests to the origins go out without an
// Authorization header while the store holds no token, for public endpoints
// such as a sign-up form; a 401 to such a request is returned as is. By
// default they fail with ErrLoginRequired before they are sent. A session
// that ends still fails the request that found out with ErrLoginRequired.
func WithAnonymous() Option {
	return func(c *config) error { c.anonymous = true; return nil }
}

// WithHooks sets the logger and the callbacks for refresh events.
func WithHooks(h Hooks) Option {
	return func(c *config) error { c.hooks = h; return nil }
}

// WithClock sets the clock used for expiry and Retry-After decisions
// (default time.Now), for tests that move time instead of sleeping.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return configError("WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// Hooks report what the Transport does, for logs and metrics. Every field
// may be nil. The functions are called synchronously, possibly from many
// goroutines at once, never while the Transport holds the store's lock,
// and none of them receives a token.
type Hooks struct {
	// Logger receives refresh events (debug: refreshed, adopted, retrying;
	// info: login required; warn: refresh failed; error: tokens not saved).
	// No token, idempotency key or server error_description is logged.
	Logger *slog.Logger
	// Unauthorized is called for each 401 from an origin that the
	// Transport acts on (see WithAnyUnauthorized), before it acts.
	Unauthorized func(req *http.Request)
	// Refreshed is called once per refresh that produced tokens, redeemed
	// or adopted from the store; the requests that waited do not call it.
	Refreshed func(RefreshInfo)
	// Retried is called each time a request is sent again after a 401
	// that made it refresh (not after a DPoP use_dpop_nonce answer);
	// stale says no refresh was needed, the 401 answered replaced tokens.
	// req is the caller's request: do not modify it.
	Retried func(req *http.Request, stale bool)
	// LoginRequired is called once per refresh or load that ended in
	// ErrLoginRequired, with that error.
	LoginRequired func(err error)
	// SaveFailed is called when the store could not save tokens that the
	// Transport goes on using from memory.
	SaveFailed func(err error)
}

// RefreshInfo describes a completed refresh.
type RefreshInfo struct {
	// Adopted is true when the tokens came from the store: another process
	// or Transport sharing it had rotated them already.
	Adopted bool
	// Resumed is true when the refresh repeated one that an earlier attempt
	// or process had started (same refresh token, same idempotency key).
	Resumed bool
	// Attempts is the number of requests sent to the token endpoint.
	Attempts int
	// Proactive is true when the access token was near its expiry, false
	// when a 401 started the refresh.
	Proactive bool
}
