package transport

import (
	"log/slog"
	"net/http"
	"time"
)

// Option configures a Transport in New.
type Option func(*Transport)

// WithBase sets the RoundTripper that sends requests, and refresh requests
// unless WithRefreshTransport says otherwise. nil (the default) means
// http.DefaultTransport.
func WithBase(rt http.RoundTripper) Option {
	return func(t *Transport) { t.base = rt }
}

// WithRefreshTransport sets the RoundTripper for refresh requests only, for
// example one that adds client authentication for a confidential client.
// Refresh requests never pass through the Transport itself, so a 401 from
// the token endpoint cannot start another refresh. nil means the base.
func WithRefreshTransport(rt http.RoundTripper) Option {
	return func(t *Transport) { t.refreshBase = rt }
}

// WithOrigins sets the origins (scheme, host and port, given as URLs whose
// path is ignored) that receive the access token. The list replaces the
// default, the refresh endpoint's origin, rather than adding to it: list
// that origin too when requests to it need the token, such as jwtrefresh's
// GET /auth/sessions, POST /auth/logout-all or an API served beside the
// token endpoint. Refreshes never need it: they carry the refresh token in
// their body and go out without an access token, whatever the list says.
// Requests to any other origin pass through untouched, and a redirect to
// one is sent without the token. If given more than once, the last list
// counts.
//
// Each origin is checked like the refresh URL: an absolute https URL (http
// only on loopback, or with WithInsecureHTTP) without credentials. New
// fails on an empty list and on a pattern such as "https://*.example.com",
// which would match nothing: hosts are compared exactly.
//
// Security: every listed origin can replay the token for as long as it lives
// and, if it answers 401, make the Transport refresh. List the resource
// servers, not "everywhere"; a wildcard is deliberately not supported.
func WithOrigins(origins ...string) Option {
	return func(t *Transport) { t.originURLs, t.originsSet = origins, true }
}

// WithInsecureHTTP allows plain-http refresh endpoints and origins on hosts
// other than loopback.
//
// Security: RFC 6750 §5.3 requires TLS for bearer tokens; over plain http
// anyone on the path can read and replay both tokens. Use it only on a
// network you trust completely, such as a test container network.
func WithInsecureHTTP() Option {
	return func(t *Transport) { t.insecureHTTP = true }
}

// WithAnyUnauthorized makes every 401 from an authorized origin start the
// refresh logic, also one without a Bearer challenge, for servers that send
// no WWW-Authenticate. By default only a 401 whose Bearer challenge is
// missing its error code or says invalid_token does (RFC 6750 §3.1); a
// challenge saying insufficient_scope or invalid_request never does.
func WithAnyUnauthorized() Option {
	return func(t *Transport) { t.anyUnauthorized = true }
}

// WithAnonymous lets requests to the origins go out without an
// Authorization header while the store holds no token, for public endpoints
// on the API's origin such as a sign-up form or a status page. A 401 to
// such a request is returned as is. Once a login is saved in the store,
// requests carry its token again (at once with a MemoryStore or FileStore,
// which tell the Transport they changed; with a Store of your own, call
// Transport.Reset).
//
// By default a request to an origin fails with ErrLoginRequired before it
// is sent when the store is empty, so that code expecting a session learns
// at once that there is none, rather than from a server's 401. A session
// that ends (invalid_grant, or a refresh token the server no longer knows)
// still fails the request that found out with ErrLoginRequired.
func WithAnonymous() Option {
	return func(t *Transport) { t.anonymous = true }
}

// WithExpirySkew sets how long before its expiry an access token is
// refreshed proactively, before a request is sent (default 30s). The skew
// is capped at a quarter of the token's lifetime, so short-lived tokens are
// still used for most of their life. With 0, only a token already past its
// expiry is refreshed before sending.
func WithExpirySkew(d time.Duration) Option {
	return func(t *Transport) { t.skew = d }
}

// WithRefreshTimeout bounds one refresh: waiting for the store's lock, every
// attempt and the backoff between them (default 30s). Each attempt gets an
// equal share of it. The refresh runs detached from the requests that wait
// for it, so this, not their contexts, is what stops it. Saving the new
// tokens afterwards, and every other call into the Store, is bounded by the
// same duration: a Store that does not answer in time is reported as
// failed (Hooks.SaveFailed), and the new tokens are used from memory.
func WithRefreshTimeout(d time.Duration) Option {
	return func(t *Transport) { t.timeout = d }
}

// WithRefreshRetries sets how often a refresh is attempted when the outcome
// is unknown or temporary (a network error, a timeout, 5xx, 408, 429), and
// the backoff between attempts: equal jitter (a random wait between half the
// bound and the bound), the bound doubling from minBackoff up to
// maxBackoff. Every attempt carries the same refresh token and idempotency
// key. A Retry-After longer than maxBackoff ends the attempts, and no
// refresh is tried again before it has passed. Default: 4 attempts, 100ms,
// 3s.
func WithRefreshRetries(attempts int, minBackoff, maxBackoff time.Duration) Option {
	return func(t *Transport) {
		t.attempts, t.minBackoff, t.maxBackoff = attempts, minBackoff, maxBackoff
	}
}

// WithClientID adds client_id to refresh requests, for servers that want a
// public client to identify itself (RFC 6749 §3.2.1). Ours does not.
func WithClientID(id string) Option {
	return func(t *Transport) { t.clientID = id }
}

// WithLogger sets the logger for refresh events (debug: refreshed, adopted,
// retrying; info: login required; warn: refresh failed, freshly refreshed
// tokens refused; error: tokens could not be saved). No token, refresh
// token or idempotency key is ever logged, nor a token endpoint's
// error_description (the server's text; the status and error code are
// logged). nil (the default) logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(t *Transport) { t.log = l }
}

// WithHooks sets the observability hooks.
func WithHooks(h Hooks) Option {
	return func(t *Transport) { t.hooks = h }
}

// WithClock sets the clock used for expiry and Retry-After decisions
// (default time.Now), for tests that move time instead of sleeping.
func WithClock(now func() time.Time) Option {
	return func(t *Transport) { t.now = now }
}

// Hooks are called on refresh events, for metrics. Every field may be nil.
// They are called synchronously, possibly from many goroutines at once, so
// they must be quick and safe for concurrent use. They are never called
// while the Transport holds the store's lock, so they may use the store.
// None of them receives a token.
type Hooks struct {
	// Unauthorized is called for each 401 from an authorized origin that
	// the Transport acts on (see WithAnyUnauthorized), before it acts. A
	// 401 returned at once because the tokens were refused right after
	// their refresh (see Transport) does not call it.
	Unauthorized func(req *http.Request)
	// Refreshed is called once per refresh that produced tokens: redeemed
	// at the token endpoint or adopted from the store after a peer
	// redeemed them. Requests that waited for it do not call it again.
	Refreshed func(RefreshInfo)
	// Retried is called each time a request is sent again after a 401.
	Retried func(RetryInfo)
	// LoginRequired is called once per refresh or load that ended in
	// ErrLoginRequired, with that error.
	LoginRequired func(err error)
	// SaveFailed is called when the store could not save tokens the
	// Transport goes on using from memory (see Transport).
	SaveFailed func(err error)
}

// RefreshInfo describes a completed refresh.
type RefreshInfo struct {
	// Adopted is true when no request was sent: another process or
	// Transport sharing the store had already rotated the tokens.
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

// RetryInfo describes a request sent again after a 401.
type RetryInfo struct {
	// Request is the caller's request; do not modify it.
	Request *http.Request
	// Stale is true when no refresh was needed because the 401 answered a
	// token that had already been replaced.
	Stale bool
}
