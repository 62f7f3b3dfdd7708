package middleware

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/mwclock"
)

// Option configures a [Middleware]. [New] fails with an error wrapping
// [ErrInvalidConfig] for a nil option or an option given a bad value.
type Option func(*config) error

type config struct {
	realm        string
	issuer       string
	audience     []string
	typ          string        // required `typ` header; "" for any
	leeway       time.Duration // past `exp`
	futureLeeway time.Duration // ahead of `nbf` and `iat`
	cookie       string
	session      func(context.Context, *Claims) error
	retryAfter   time.Duration
	errorHandler func(http.ResponseWriter, *http.Request, *Error)
	events       func(context.Context, Event)
	cacheEntries int
	cacheBytes   int
	dpop         *dpopConfig // nil: DPoP off

	// Not options: the clock is set by tests and, through
	// internal/mwclock, by the token service; parsed by tests.
	now    func() time.Time
	parsed func() // called for every token whose signature is checked
}

// Defaults.
const (
	defaultRealm        = "api"
	maxTokenLength      = 8 << 10 // what common proxies allow in one header
	defaultCacheEntries = 10000
	defaultCacheBytes   = 8 << 20
	defaultRetryAfter   = time.Second
	defaultFutureLeeway = time.Minute
)

func defaultConfig() config {
	return config{
		realm:        defaultRealm,
		futureLeeway: defaultFutureLeeway,
		retryAfter:   defaultRetryAfter,
		cacheEntries: defaultCacheEntries,
		cacheBytes:   defaultCacheBytes,
		now:          time.Now,
	}
}

// WithRealm sets the realm of the WWW-Authenticate challenge (default
// "api"). It is sent as an escaped quoted-string; control characters and
// realms over 256 bytes are refused.
func WithRealm(realm string) Option {
	return func(c *config) error {
		if err := checkRealm(realm); err != nil {
			return err
		}
		c.realm = realm
		return nil
	}
}

// WithIssuer requires the `iss` claim to equal iss. Set it whenever tokens
// from another issuer could be signed by a key this server trusts.
func WithIssuer(iss string) Option {
	return func(c *config) error {
		if iss == "" {
			return configError("WithIssuer: empty issuer")
		}
		c.issuer = iss
		return nil
	}
}

// WithAudience requires the `aud` claim (a string or a list) to contain at
// least one of aud. Set it so a token minted for another service is not
// accepted here.
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

// WithTokenType requires the JOSE header `typ` of every token to be typ,
// e.g. "at+jwt" (RFC 9068 §2.1), which jwtrefresh's token service issues.
// It is compared case-insensitively, and "application/at+jwt" equals
// "at+jwt" (RFC 7515 §4.1.9); a token without it, or of another type, is
// refused with 401 invalid_token. Default: not checked.
//
// Security: explicit typing (RFC 8725 §3.11) stops this server from taking
// another JWT signed by the same key (an ID token, an e-mail link) for an
// access token.
func WithTokenType(typ string) Option {
	return func(c *config) error {
		if typ == "" || strings.HasPrefix(strings.ToLower(typ), "application/") {
			return configError(`WithTokenType: want a type without the "application/" prefix, e.g. "at+jwt"`)
		}
		c.typ = typ
		return nil
	}
}

// WithLeeway sets the tolerance for clock skew between the issuer and this
// server: a token is accepted until `exp` + expiry (default 0), and its
// `nbf` and `iat` may lie up to future ahead of this server's clock
// (default one minute). See "Clock skew" in the package documentation.
//
// Security: every second of expiry leeway is a second longer that a stolen
// token works; future never extends a token's life.
func WithLeeway(expiry, future time.Duration) Option {
	return func(c *config) error {
		if expiry < 0 || future < 0 {
			return configError("WithLeeway: negative leeway")
		}
		c.leeway, c.futureLeeway = expiry, future
		return nil
	}
}

// WithCookie also reads the token from the named cookie, for browser
// clients. A token in both the header and the cookie, or a repeated
// cookie, is refused with 400 invalid_request. Default: header only.
//
// Security: browsers attach cookies to cross-site requests, so a
// cookie-authenticated API needs SameSite cookies and CSRF defences that a
// header-only API does not.
func WithCookie(name string) Option {
	return func(c *config) error {
		if name == "" {
			return configError("WithCookie: empty cookie name")
		}
		c.cookie = name
		return nil
	}
}

// WithSessionCheck calls check on every accepted request, cached or not,
// with the request context and the verified claims (read-only). check
// returns nil to accept, an error wrapping [ErrSessionRevoked] to refuse
// with 401 invalid_token, and any other error to answer 503 with
// Retry-After: retryAfter (0: one second). It must be safe for concurrent
// use. Default: none, so the accept path does no I/O.
//
// Security: a store outage must not look like a bad token, or every client
// would refresh at once.
func WithSessionCheck(check func(ctx context.Context, claims *Claims) error, retryAfter time.Duration) Option {
	return func(c *config) error {
		if check == nil {
			return configError("WithSessionCheck: nil check")
		}
		if retryAfter < 0 {
			return configError("WithSessionCheck: negative Retry-After")
		}
		if retryAfter == 0 {
			retryAfter = defaultRetryAfter
		}
		c.session, c.retryAfter = check, retryAfter
		return nil
	}
}

// WithErrorHandler replaces the writing of refusals: h receives each one as
// an [*Error] (test it with errors.Is) and may call [Error.Write] for the
// standard response. It runs on the request goroutine. nil restores the
// default, the standard response.
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err *Error)) Option {
	return func(c *config) error {
		c.errorHandler = h
		return nil
	}
}

// WithEvents calls hook synchronously for every decision (see [Event]), to
// count, trace or log them. It must be fast and safe for concurrent use.
// nil restores the default: no hook.
func WithEvents(hook func(ctx context.Context, e Event)) Option {
	return func(c *config) error {
		c.events = hook
		return nil
	}
}

// WithCache bounds the verified-token cache by entries and by bytes
// (default 10,000 tokens and 8 MiB; a token counts twice its length plus a
// fixed overhead). Zero for both turns the cache off: every request then
// verifies its token's signature.
func WithCache(maxEntries, maxBytes int) Option {
	return func(c *config) error {
		if maxEntries < 0 || maxBytes < 0 || (maxEntries == 0) != (maxBytes == 0) {
			return configError("WithCache: bounds must both be positive, or both zero")
		}
		c.cacheEntries, c.cacheBytes = maxEntries, maxBytes
		return nil
	}
}

// withClock sets the source of the current time (default time.Now).
func withClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return configError("nil clock")
		}
		c.now = now
		return nil
	}
}

func init() {
	mwclock.Option = func(now func() time.Time) any { return withClock(now) }
}
