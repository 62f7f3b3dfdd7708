package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Option configures a [Middleware].
type Option func(*config) error

type config struct {
	keyfunc      jwt.Keyfunc
	generation   func() uint64
	algs         []string
	realm        string
	issuer       string
	audience     []string
	leeway       time.Duration
	futureLeeway time.Duration
	maxLen       int
	cookie       string
	optional     bool
	now          func() time.Time
	session      SessionCheck
	retryAfter   time.Duration
	errorHandler func(http.ResponseWriter, *http.Request, *Error)
	events       func(context.Context, Event)
	logger       *slog.Logger
	cacheEntries int
	cacheBytes   int
	typ          string
}

// Defaults.
const (
	// DefaultRealm is the realm of the WWW-Authenticate challenge.
	DefaultRealm = "api"
	// DefaultMaxTokenLength is the longest token parsed (8 KiB).
	DefaultMaxTokenLength = 8 << 10
	// DefaultCacheEntries and DefaultCacheBytes bound the verified-token cache.
	DefaultCacheEntries = 10000
	DefaultCacheBytes   = 8 << 20
	// DefaultRetryAfter is the Retry-After of a 503 from the session check.
	DefaultRetryAfter = retryAfterDefault * time.Second
	// DefaultFutureLeeway is how far in this server's future `nbf` and
	// `iat` may lie (see [WithFutureLeeway]).
	DefaultFutureLeeway = time.Minute
)

// WithKeyfunc replaces the key set with a jwt.Keyfunc, e.g. from a JWKS
// client. algs lists the accepted algorithms and is required ("none" is
// refused), because a Keyfunc cannot be trusted to pin them. generation,
// if not nil, must change whenever the keys behind kf change; without it
// the verified-token cache is off, since the middleware could not tell
// when a cached verdict went stale. Pass a nil key set to [New] with it.
func WithKeyfunc(kf jwt.Keyfunc, generation func() uint64, algs ...string) Option {
	return func(c *config) error {
		if kf == nil {
			return errors.New("middleware: WithKeyfunc: nil Keyfunc")
		}
		if len(algs) == 0 {
			return errors.New("middleware: WithKeyfunc: no algorithms given")
		}
		for _, a := range algs {
			if a == "none" || jwt.GetSigningMethod(a) == nil {
				return fmt.Errorf("middleware: WithKeyfunc: algorithm %q refused", a)
			}
		}
		c.keyfunc, c.generation, c.algs = kf, generation, append([]string(nil), algs...)
		return nil
	}
}

// WithRealm sets the realm of the WWW-Authenticate challenge (default
// [DefaultRealm], "api"). It is sent as an escaped quoted-string; control
// characters and realms over 256 bytes are refused.
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
			return errors.New("middleware: WithIssuer: empty issuer")
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
			return errors.New("middleware: WithAudience: no audience given")
		}
		for _, a := range aud {
			if a == "" {
				return errors.New("middleware: WithAudience: empty audience")
			}
		}
		c.audience = append([]string(nil), aud...)
		return nil
	}
}

// WithLeeway tolerates clock skew between issuer and this server when
// checking `exp` (default 0): a token is accepted until exp + d. Every
// second of leeway is a second longer that a stolen token works, so keep
// it to a few seconds, and only if this server's clock may run ahead of
// the issuer's. d also applies to `nbf` and `iat` when it is larger than
// the [WithFutureLeeway] tolerance.
func WithLeeway(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errors.New("middleware: WithLeeway: negative leeway")
		}
		c.leeway = d
		return nil
	}
}

// WithFutureLeeway sets how far in this server's future the `nbf` (not
// before) and `iat` (issued at) claims may lie (default
// [DefaultFutureLeeway], one minute). A token whose nbf or iat is later
// than now + d is refused with 401 invalid_token.
//
// Why a default above zero: an issuer whose clock runs a second ahead of
// this server's mints tokens that look "not yet valid" here. Refusing them
// is no protection (they are genuine, and their life still ends at `exp`),
// but it is an outage: the client refreshes, gets another such token, and
// is refused again until the clocks agree. jwtrefresh's token service
// backdates nbf and iat by its own clock-skew setting (10 s), so this
// matters most for tokens of other issuers. Set 0 for the strict reading
// of RFC 7519 §4.1.5; a larger d only if clocks are known to drift more.
// It never extends a token's life: `exp` is governed by [WithLeeway].
func WithFutureLeeway(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errors.New("middleware: WithFutureLeeway: negative leeway")
		}
		c.futureLeeway = d
		return nil
	}
}

// WithTokenType requires the JOSE header `typ` of every token to be typ,
// e.g. "at+jwt", the type of OAuth 2.0 access tokens (RFC 9068 §2.1), which
// jwtrefresh's token service issues. It is compared case-insensitively, and
// "application/at+jwt" equals "at+jwt" (RFC 7515 §4.1.9). A token without
// the header, or of another type, is refused with 401 invalid_token.
// Default: `typ` is not checked.
//
// Security: explicit typing (RFC 8725 §3.11) stops this server from taking
// another JWT signed by the same key (an ID token, an e-mail confirmation
// link) for an access token.
func WithTokenType(typ string) Option {
	return func(c *config) error {
		if typ == "" || strings.HasPrefix(strings.ToLower(typ), "application/") {
			return errors.New(`middleware: WithTokenType: want a type without the "application/" prefix, e.g. "at+jwt"`)
		}
		c.typ = typ
		return nil
	}
}

// WithMaxTokenLength sets the longest token accepted (default
// [DefaultMaxTokenLength], 8 KiB). Longer tokens are refused before any
// decoding, so an oversized header costs nothing to reject.
func WithMaxTokenLength(n int) Option {
	return func(c *config) error {
		if n < 16 {
			return errors.New("middleware: WithMaxTokenLength: too small")
		}
		c.maxLen = n
		return nil
	}
}

// WithCookie also reads the token from the named cookie, for browser
// clients. Off by default: browsers attach cookies to cross-site requests,
// so a cookie-authenticated API needs SameSite cookies and CSRF defences
// that a header-only API does not. A token in both the header and the
// cookie, or a repeated cookie, is refused with 400 invalid_request.
func WithCookie(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("middleware: WithCookie: empty cookie name")
		}
		c.cookie = name
		return nil
	}
}

// WithOptional lets requests without any token through unauthenticated
// (the handler sees no claims); a present but bad token is still refused.
func WithOptional() Option {
	return func(c *config) error {
		c.optional = true
		return nil
	}
}

// WithClock sets the source of the current time (default time.Now), for
// tests and for servers with a better clock.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("middleware: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// SessionCheck is called on every accepted request, cached or not, with
// the request context and the verified claims (read-only). It returns nil
// to accept, an error wrapping [ErrSessionRevoked] to refuse with 401
// invalid_token, and any other error to answer 503 with Retry-After: a
// store outage must not look like a bad token, or every client would try
// to refresh at once. It must be safe for concurrent use.
type SessionCheck func(ctx context.Context, claims *Claims) error

// WithSessionCheck installs a per-request session check (off by default,
// so the accept path does no I/O). retryAfter is the Retry-After of its
// 503s (0: [DefaultRetryAfter]).
func WithSessionCheck(check SessionCheck, retryAfter time.Duration) Option {
	return func(c *config) error {
		if check == nil {
			return errors.New("middleware: WithSessionCheck: nil check")
		}
		if retryAfter < 0 {
			return errors.New("middleware: WithSessionCheck: negative Retry-After")
		}
		if retryAfter == 0 {
			retryAfter = DefaultRetryAfter
		}
		c.session, c.retryAfter = check, retryAfter
		return nil
	}
}

// WithErrorHandler replaces the writing of refusals. h receives every
// refusal as an [*Error] (test it with errors.Is, e.g. against
// [ErrTokenExpired]); it may call [Error.Write] for the standard response.
// It runs on the request goroutine.
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err *Error)) Option {
	return func(c *config) error {
		c.errorHandler = h
		return nil
	}
}

// WithEvents calls hook synchronously for every decision (accepted,
// anonymous, rejected with a reason), e.g. to count them. It must be fast
// and safe for concurrent use.
func WithEvents(hook func(ctx context.Context, e Event)) Option {
	return func(c *config) error {
		c.events = hook
		return nil
	}
}

// WithLogger logs refusals to l: at Debug level, and at Warn for session
// checks that failed. Tokens are never logged. Default: no logging.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger = l
		return nil
	}
}

// WithCache bounds the verified-token cache by entries and by bytes
// (default [DefaultCacheEntries], [DefaultCacheBytes]). A byte is counted
// for each byte of token plus a fixed overhead per entry. Zero for both
// turns the cache off (as does [WithoutCache]).
func WithCache(maxEntries, maxBytes int) Option {
	return func(c *config) error {
		if maxEntries < 0 || maxBytes < 0 || (maxEntries == 0) != (maxBytes == 0) {
			return errors.New("middleware: WithCache: bounds must both be positive, or both zero")
		}
		c.cacheEntries, c.cacheBytes = maxEntries, maxBytes
		return nil
	}
}

// WithoutCache turns the verified-token cache off: every request verifies
// its token's signature.
func WithoutCache() Option { return WithCache(0, 0) }
