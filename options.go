package jwtrefresh

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/dpop"
)

// Option configures a [Service]. Options report bad values as errors
// wrapping [ErrInvalidConfig], returned by [NewService]; a nil Option is
// such an error too.
type Option func(*config) error

type config struct {
	audience     []string
	accessTTL    time.Duration
	skew         time.Duration // how far nbf and iat are backdated
	loader       claimsLoader
	retryAfter   time.Duration // of 503 answers
	maxBody      int64         // of token and revocation requests
	cookie       *refreshCookie
	cacheTTL     time.Duration // -1: by the store (see WithSessionCache)
	cacheSize    int
	maxStale     time.Duration // -1: the access-token lifetime; 0: fail closed
	logger       *slog.Logger
	events       func(context.Context, Event)
	dpopBase     string       // WithDPoP; "" without
	dpopNonces   *dpop.Nonces // nil: no server nonces
	dpopNonceKey []byte
	now          func() time.Time
}

type claimsLoader func(ctx context.Context, subject, sessionID string, snapshot json.RawMessage) (json.RawMessage, error)

// Defaults of the configuration.
const (
	defaultAccessTTL  = 5 * time.Minute
	defaultSkew       = 10 * time.Second
	defaultRetryAfter = time.Second
	defaultMaxBody    = 4 << 10
	defaultCacheSize  = 10000
	// defaultPushedCacheTTL trusts "active" with a store that pushes ends
	// (session.Watcher), defaultCacheTTL with one that does not; see
	// docs/protocol.md, "Why active is cached for 1 minute".
	defaultPushedCacheTTL = time.Minute
	defaultCacheTTL       = 5 * time.Second
)

// AccessTokenType is the `typ` header of every access token the service
// issues (RFC 9068 §2.1). Resource servers require it with
// middleware.WithTokenType(AccessTokenType).
const AccessTokenType = "at+jwt"

func defaultConfig() config {
	return config{
		accessTTL:  defaultAccessTTL,
		skew:       defaultSkew,
		retryAfter: defaultRetryAfter,
		maxBody:    defaultMaxBody,
		cacheTTL:   -1,
		cacheSize:  defaultCacheSize,
		maxStale:   -1,
		now:        time.Now,
	}
}

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// WithAudience sets the `aud` claim of access tokens (a string for one
// audience, an array for several) and makes the service's own endpoints
// require it. Default: no `aud`. Security: resource servers that check it
// (middleware.WithAudience) refuse tokens minted for other services that
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

// WithAccessTokenTTL sets the lifetime of access tokens (default 5
// minutes): a whole number of seconds, at least one, since `exp` and
// `expires_in` count seconds. Security: an access token cannot be revoked
// before it expires unless resource servers run the session check, so
// keep it short; clients refresh without the user noticing.
func WithAccessTokenTTL(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second || d%time.Second != 0 {
			return configError("WithAccessTokenTTL(%v): want a whole number of seconds, at least 1s", d)
		}
		c.accessTTL = d
		return nil
	}
}

// WithClaimsLoader reloads the application's claims at each refresh, so
// that access tokens follow changes made since the login (roles, plan)
// and a disabled user stops getting them. Default: every access token of
// a session carries the claims given at login.
//
// load gets the subject, the session id and the claims given at login,
// and returns the claims for the new access token: a JSON object without
// the registered names the service sets, or nil. To refuse the user,
// return an error wrapping [ErrSubjectRefused] (the session is revoked,
// the client gets invalid_grant); any other error is temporary
// ([ErrClaimsUnavailable], 503). It runs before the token is used up, so a
// failed load costs the client nothing; the package documentation's
// "Claims loader" section says more. It must be safe for concurrent use.
func WithClaimsLoader(load func(ctx context.Context, subject, sessionID string, snapshot json.RawMessage) (json.RawMessage, error)) Option {
	return func(c *config) error {
		if load == nil {
			return configError("WithClaimsLoader: nil loader")
		}
		c.loader = load
		return nil
	}
}

// WithSessionCache sets the local cache of the session check
// ([Service.SessionCheck], [NewSessionCheck]): an answer that a session is
// active is trusted for ttl, never past the session's own deadline, and
// at most size sessions are remembered. Defaults: 1 minute with a store
// that pushes ends (a session.Watcher, as redisstore's), 5 s with one that
// does not, and 10,000 sessions. ttl 0 asks the store on every request.
// Security: with push, a session ended through any instance is refused
// everywhere within milliseconds; ttl bounds only what push cannot tell
// (a record deleted in the store by hand). Without push, ttl is how long
// a session ended through another instance keeps working here.
func WithSessionCache(ttl time.Duration, size int) Option {
	return func(c *config) error {
		if ttl < 0 || size < 1 {
			return configError("WithSessionCache(%v, %d): want ttl >= 0 and size >= 1", ttl, size)
		}
		c.cacheTTL, c.cacheSize = ttl, size
		return nil
	}
}

// WithMaxStale bounds the session check's answers while the store cannot
// answer (stale-if-error): a session known ended is refused (401), one
// known active or covered by the push accepted, as long as what this
// instance knows is at most d old; anything else is 503 with Retry-After.
// Default: the access-token lifetime. 0 fails closed: 503 whenever the
// store must answer and cannot. See docs/operations.md, "During an
// outage". Security: d is how long a session ended through
// another instance that can still reach the store (a network partition)
// may keep working here.
func WithMaxStale(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return configError("WithMaxStale(%v): negative", d)
		}
		c.maxStale = d
		return nil
	}
}

// WithLogger logs on l every session event (reuse and tampering at Warn,
// rotations and replays at Debug, the rest at Info) and every refused
// request (at Debug; 503s at Warn, 500s at Error). Never a token, a
// secret or an idempotency key. Default: no logging.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return configError("WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithEvents calls hook with every session event (login, rotation,
// replay, reuse, tampering, revocation, eviction) once the store has
// recorded it, on the goroutine of the operation: for metrics and alerts.
// It must be quick and safe for concurrent use; it cannot change the
// outcome. Default: none.
func WithEvents(hook func(ctx context.Context, e Event)) Option {
	return func(c *config) error {
		if hook == nil {
			return configError("WithEvents: nil hook")
		}
		c.events = hook
		return nil
	}
}
