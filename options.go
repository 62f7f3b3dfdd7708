package jwtrefresh

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jwtrefresh/jwtrefresh/middleware"
)

// Option configures a [Service]. Options report bad values as errors
// wrapping [ErrInvalidConfig], returned by [NewService]; a nil Option is
// such an error too.
type Option func(*config) error

type config struct {
	audience   []string
	accessTTL  time.Duration
	skew       time.Duration
	loader     ClaimsLoader
	retryAfter time.Duration
	maxBody    int64
	cookie     *refreshCookie
	cacheTTL   time.Duration
	cacheSize  int
	logger     *slog.Logger
	now        func() time.Time
	mwOpts     []middleware.Option
}

// Defaults of the service configuration.
const (
	// DefaultAccessTokenTTL is the lifetime of access tokens.
	DefaultAccessTokenTTL = 5 * time.Minute
	// DefaultClockSkew is how far `iat` and `nbf` are backdated.
	DefaultClockSkew = 10 * time.Second
	// DefaultRetryAfter is the Retry-After of a 503 answer.
	DefaultRetryAfter = time.Second
	// DefaultMaxBodySize bounds the body of a token or revocation request.
	DefaultMaxBodySize = 4 << 10
	// DefaultSessionCacheTTL is how long the session check trusts an
	// answer of the store that a session is active.
	DefaultSessionCacheTTL = 5 * time.Second
	// DefaultSessionCacheSize bounds the session check's cache, in sessions.
	DefaultSessionCacheSize = 10000
)

// minMaxBodySize fits a refresh request with a generous client_id.
const minMaxBodySize = 512

// AccessTokenType is the `typ` header of every access token the service
// issues (RFC 9068 §2.1). Resource servers require it with
// middleware.WithTokenType(AccessTokenType).
const AccessTokenType = "at+jwt"

func defaultConfig() config {
	return config{
		accessTTL:  DefaultAccessTokenTTL,
		skew:       DefaultClockSkew,
		retryAfter: DefaultRetryAfter,
		maxBody:    DefaultMaxBodySize,
		cacheTTL:   DefaultSessionCacheTTL,
		cacheSize:  DefaultSessionCacheSize,
		now:        time.Now,
	}
}

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// ClaimsLoader reloads the application's claims of a subject at each
// refresh, so that access tokens follow changes (roles, plan) made since
// the login, and so that a disabled user stops getting them.
//
// It receives the subject, the session id and the snapshot of claims given
// at login, and returns the claims for the new access token: a JSON object,
// or nil for none. It must not set the registered claims the service owns
// (iss, sub, aud, exp, nbf, iat, jti, sid). The snapshot itself is not
// changed.
//
// To refuse, return an error wrapping [ErrSubjectRefused]: the session is
// revoked and the client gets invalid_grant, so it asks the user to log in
// again. Any other error counts as temporary (the user database is down):
// the client gets 503 temporarily_unavailable and retries
// ([ErrClaimsUnavailable]).
//
// It runs before the refresh token is used up: the service first looks the
// session up ([Store.Lookup], one more store read per refresh), so a
// failed load leaves the token current and any retry, with or without an
// Idempotency-Key, refreshes normally. It is also called for a used token
// whose session is still active, just before reuse detection ends it.
//
// It runs on the request goroutine and must be safe for concurrent use.
type ClaimsLoader func(ctx context.Context, subject, sessionID string, snapshot json.RawMessage) (json.RawMessage, error)

// WithAudience sets the `aud` claim of access tokens (a string for one
// audience, an array for several) and makes the service's own endpoints
// require it. Default: no `aud`.
//
// Security: with an audience, a resource server that checks it
// (middleware.WithAudience) refuses tokens minted for other services that
// trust the same keys.
func WithAudience(aud ...string) Option {
	return func(c *config) error {
		if len(aud) == 0 {
			return configError("WithAudience: no audience given")
		}
		for _, a := range aud {
			if a == "" {
				return configError("WithAudience: empty audience")
			}
		}
		c.audience = append([]string(nil), aud...)
		return nil
	}
}

// WithAccessTokenTTL sets the lifetime of access tokens (default
// [DefaultAccessTokenTTL], 5 minutes): a whole number of seconds, at least
// one, since `exp` and `expires_in` count seconds.
//
// Security: an access token cannot be revoked before it expires (unless
// resource servers run the session check), so keep it short; clients
// refresh without the user noticing.
func WithAccessTokenTTL(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second || d%time.Second != 0 {
			return configError("WithAccessTokenTTL(%v): want a whole number of seconds, at least 1s", d)
		}
		c.accessTTL = d
		return nil
	}
}

// WithClockSkew sets how far before the issuing time the `nbf` and `iat`
// claims are dated (default [DefaultClockSkew], 10 s; 0 dates them now).
// A resource server whose clock runs behind the issuer's by less than d
// accepts a token the moment it is issued, even one that tolerates no
// `nbf` or `iat` in its future (middleware.WithFutureLeeway(0); the
// middleware's default tolerance is one minute). `exp` is not moved: a
// token still lives the configured TTL from the true issuing time.
//
// Resource servers whose clocks run ahead see tokens expire early; give
// them middleware.WithLeeway of a few seconds.
func WithClockSkew(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return configError("WithClockSkew(%v): negative", d)
		}
		c.skew = d
		return nil
	}
}

// WithClaimsLoader reloads the application's claims at every refresh (see
// [ClaimsLoader]). Default: every access token of a session carries the
// claims given at login.
func WithClaimsLoader(f ClaimsLoader) Option {
	return func(c *config) error {
		if f == nil {
			return configError("WithClaimsLoader: nil loader")
		}
		c.loader = f
		return nil
	}
}

// WithRetryAfter sets the Retry-After of 503 answers, given when the store
// or the claims loader is unavailable (default [DefaultRetryAfter], 1 s;
// rounded up to whole seconds).
func WithRetryAfter(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return configError("WithRetryAfter(%v): want a positive duration", d)
		}
		c.retryAfter = d
		return nil
	}
}

// WithMaxBodySize bounds the body of refresh and revocation requests
// (default [DefaultMaxBodySize], 4 KiB; at least 512 bytes). Larger bodies
// get 413 without being read further.
func WithMaxBodySize(n int64) Option {
	return func(c *config) error {
		if n < minMaxBodySize {
			return configError("WithMaxBodySize(%d): at least %d bytes", n, minMaxBodySize)
		}
		c.maxBody = n
		return nil
	}
}

// WithSessionCache sets the local cache of [Service.SessionCheck]: an
// answer that a session is active is trusted for ttl, and at most size
// sessions are remembered (defaults [DefaultSessionCacheTTL], 5 s, and
// [DefaultSessionCacheSize]). ttl 0 turns the cache off: one store read per
// checked request.
//
// Security: ttl is how long a session revoked through another instance
// (or directly in the store) keeps working on this one. Revocations made
// through this Service take effect here at once.
func WithSessionCache(ttl time.Duration, size int) Option {
	return func(c *config) error {
		if ttl < 0 || size < 1 {
			return configError("WithSessionCache(%v, %d): want ttl >= 0 and size >= 1", ttl, size)
		}
		c.cacheTTL, c.cacheSize = ttl, size
		return nil
	}
}

// WithMiddlewareOptions adds options to the middleware that authenticates
// the session endpoints (logout everywhere, list and revoke sessions), e.g.
// middleware.WithRealm, WithLogger, WithEvents, WithLeeway or WithCache.
//
// The service's own settings (issuer, audience, token type, its session
// check and clock) are applied after opts: an option setting one of them
// is overridden. [NewService] refuses, with [ErrInvalidConfig], options
// that would leave the endpoints unusable: middleware.WithOptional (the
// endpoints act on the caller's subject, so a request without an access
// token must not reach them), and options under which the service's own
// access tokens are refused (another issuer, audience or type, a token
// length limit below their size, middleware.WithKeyfunc). It finds them by
// trying the options on a copy of the middleware, with their hooks,
// logger, error handler and session check off.
//
// Security: middleware.WithCookie makes these endpoints accept an access
// token from a cookie, which browsers attach to cross-site requests; use
// it only with a SameSite cookie.
func WithMiddlewareOptions(opts ...middleware.Option) Option {
	return func(c *config) error {
		for i, o := range opts {
			if o == nil {
				return configError("WithMiddlewareOptions: option %d is nil", i)
			}
		}
		c.mwOpts = append(c.mwOpts, opts...)
		return nil
	}
}

// WithLogger logs refused and failed requests on l: refusals at Debug,
// unavailability at Warn, internal errors at Error. Never a token, a
// secret or an idempotency key. Session events (login, rotation, reuse)
// are the store's to log: see redisstore.WithLogger. Default: no logging.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger = l
		return nil
	}
}

// WithClock sets the time source of access-token dates and of the session
// cache (default time.Now). Tests use it to move time without sleeping.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return configError("WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}
