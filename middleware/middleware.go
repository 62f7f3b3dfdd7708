package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

// Middleware verifies access tokens. Build it with [New]; it is immutable
// and safe for concurrent use (the key set it reads may rotate).
type Middleware struct {
	set          *keys.Set     // nil with WithKeyfunc
	keyfunc      jwt.Keyfunc   // WithKeyfunc only
	algs         []string      // WithKeyfunc only
	generation   func() uint64 // nil: no cache
	cache        *cache        // nil: off
	issuer       string
	audience     []string
	leeway       time.Duration // for exp
	nbfLeeway    time.Duration // for nbf and iat: the larger of leeway and WithFutureLeeway
	maxLen       int
	cookie       string
	optional     bool
	now          func() time.Time
	session      SessionCheck
	retryAfter   time.Duration
	errorHandler func(http.ResponseWriter, *http.Request, *Error)
	events       func(context.Context, Event)
	logger       *slog.Logger
	quotedRealm  string
	typ          string // required `typ` header; "" for any

	// Precomputed responses.
	tmplMissing, tmplDuplicate, tmplEmptyBearer, tmplBadHeader, tmplBadCookie, tmplTwoMethods,
	tmplTooLarge, tmplMalformed, tmplInvalid, tmplExpired, tmplRevoked, tmplUnavailable *Error
}

// New returns a middleware verifying tokens against set: the key named by
// a token's `kid` decides the algorithm (see [keys.Set.Keyfunc]), and
// rotating set takes effect on the next request, also dropping cached
// verdicts. set may be nil only with [WithKeyfunc]. Options default to:
// realm "api", no iss/aud check, no leeway on `exp`, `nbf` and `iat` up to
// one minute in the future, 8 KiB token limit, header-only, token
// required, any `typ`, no session check, a cache of 10,000 tokens / 8 MiB.
func New(set *keys.Set, opts ...Option) (*Middleware, error) {
	c := config{
		realm:        DefaultRealm,
		maxLen:       DefaultMaxTokenLength,
		now:          time.Now,
		cacheEntries: DefaultCacheEntries,
		cacheBytes:   DefaultCacheBytes,
		retryAfter:   DefaultRetryAfter,
		futureLeeway: DefaultFutureLeeway,
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	switch {
	case set != nil && c.keyfunc != nil:
		return nil, errors.New("middleware: both a key set and WithKeyfunc given")
	case set != nil:
		c.generation = set.Generation
	case c.keyfunc == nil:
		return nil, errors.New("middleware: no key set and no WithKeyfunc")
	}
	m := &Middleware{
		set:          set,
		keyfunc:      c.keyfunc,
		algs:         c.algs,
		issuer:       c.issuer,
		audience:     c.audience,
		leeway:       c.leeway,
		nbfLeeway:    max(c.leeway, c.futureLeeway),
		maxLen:       c.maxLen,
		cookie:       c.cookie,
		optional:     c.optional,
		now:          c.now,
		session:      c.session,
		retryAfter:   c.retryAfter,
		errorHandler: c.errorHandler,
		events:       c.events,
		logger:       c.logger,
		quotedRealm:  quote(c.realm),
		typ:          c.typ,
	}
	if c.generation != nil && c.cacheEntries > 0 {
		m.generation = c.generation
		m.cache = newCache(c.cacheEntries, c.cacheBytes)
	}
	const (
		s400, s401, s503 = http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable
	)
	m.tmplMissing = m.template(s401, codeUnauthorized, descMissing, ReasonMissing)
	m.tmplDuplicate = m.template(s400, codeInvalidReq, descDuplicate, ReasonInvalidRequest)
	m.tmplEmptyBearer = m.template(s400, codeInvalidReq, descEmptyBearer, ReasonInvalidRequest)
	m.tmplBadHeader = m.template(s400, codeInvalidReq, descBadHeader, ReasonInvalidRequest)
	m.tmplBadCookie = m.template(s400, codeInvalidReq, descBadCookie, ReasonInvalidRequest)
	// The two refusals verify gives for bad characters carry their cause.
	m.tmplBadHeader.Err, m.tmplBadCookie.Err = errBadHeader, errBadCookie
	m.tmplTwoMethods = m.template(s400, codeInvalidReq, descTwoMethods, ReasonInvalidRequest)
	m.tmplTooLarge = m.template(s401, codeInvalidToken, descTooLarge, ReasonTooLarge)
	m.tmplMalformed = m.template(s401, codeInvalidToken, descMalformed, ReasonMalformed)
	m.tmplInvalid = m.template(s401, codeInvalidToken, descInvalid, ReasonInvalid)
	m.tmplExpired = m.template(s401, codeInvalidToken, descExpired, ReasonExpired)
	m.tmplRevoked = m.template(s401, codeInvalidToken, descRevoked, ReasonRevoked)
	m.tmplUnavailable = m.template(s503, codeUnavailable, descUnavailable, ReasonUnavailable)
	return m, nil
}

// Handler wraps next: a request with a valid token reaches next with its
// claims in the context ([ClaimsFrom], [ClaimsAs]); others are answered
// here, following RFC 6750 §3:
//
//   - no token: 401, WWW-Authenticate: Bearer realm="<realm>" (in optional
//     mode the request reaches next unauthenticated instead);
//   - expired: 401, Bearer realm="<realm>", error="invalid_token",
//     error_description="the access token expired";
//   - any other bad token: 401 with error="invalid_token";
//   - malformed request: 400 with error="invalid_request";
//   - session check unavailable: 503 with Retry-After.
//
// Bodies are JSON {"error","error_description"} with Content-Type
// application/json, unless an error handler is set.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, badChars, e := m.extract(r)
		if e != nil {
			m.reject(w, r, e)
			return
		}
		ctx := r.Context()
		if tok == "" {
			if m.optional {
				m.observe(ctx, Event{Outcome: OutcomeAnonymous})
				next.ServeHTTP(w, r)
				return
			}
			m.reject(w, r, fail(m.tmplMissing, ErrTokenMissing))
			return
		}
		v, cached, e := m.verify(ctx, tok, badChars)
		if e != nil {
			m.reject(w, r, e)
			return
		}
		if m.events != nil {
			m.events(ctx, Event{Outcome: OutcomeAccepted, Cached: cached, Claims: &v.claims})
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, v)))
	})
}

// Verify checks a bare token exactly as Handler does (cache, claims,
// session check), for callers that receive tokens elsewhere than in a
// request header, such as a revocation endpoint or a WebSocket upgrade.
// It returns this call's own copy of the claims, or an [*Error].
func (m *Middleware) Verify(ctx context.Context, token string) (*Claims, error) {
	var (
		v      *verified
		cached bool
		e      *Error
	)
	if token == "" {
		e = fail(m.tmplMissing, ErrTokenMissing)
	} else {
		v, cached, e = m.verify(ctx, token, nil)
	}
	if e != nil {
		m.observe(ctx, Event{Outcome: OutcomeRejected, Reason: e.Reason, Err: e})
		return nil, e
	}
	m.observe(ctx, Event{Outcome: OutcomeAccepted, Cached: cached, Claims: &v.claims})
	return &v.claims, nil
}

// CacheStats reports the verified-token cache (zero when it is off).
func (m *Middleware) CacheStats() CacheStats {
	if m.cache == nil {
		return CacheStats{}
	}
	return m.cache.stats()
}

// verify checks tok. badChars, if not nil, is the refusal for a token
// with characters outside b64token (checked only on a cache miss);
// otherwise such a token is simply malformed.
func (m *Middleware) verify(ctx context.Context, tok string, badChars *Error) (v *verified, cached bool, e *Error) {
	if len(tok) > m.maxLen {
		return nil, false, fail(m.tmplTooLarge, ErrTokenTooLarge)
	}
	now := m.now()
	var (
		key cacheKey
		gen uint64
		ent *entry
	)
	if m.cache != nil {
		// Read the generation before verifying: an entry is then never
		// tagged newer than the keys that verified it.
		gen = m.generation()
		key = hashToken(m.cache.seed, tok)
		ent = m.cache.get(key, tok, gen, now)
		cached = ent != nil
	}
	if ent == nil {
		if badChars != nil && !isB64Token(tok) {
			return nil, false, fail(badChars, badChars.Err)
		}
		ent = new(entry)
		if err := m.parse(tok, &ent.claims, &ent.dates); err != nil {
			if errors.Is(err, ErrTokenMalformed) {
				return nil, false, fail(m.tmplMalformed, err)
			}
			return nil, false, fail(m.tmplInvalid, err)
		}
	}
	// Claims are validated here for both paths, so "expired" is only said
	// when nothing else is wrong with the token.
	if e := m.validate(&ent.claims, now); e != nil {
		return nil, false, e
	}
	if m.cache != nil && !cached {
		ent.token, ent.key, ent.gen, ent.size = tok, key, gen, entrySize(tok)
		ent.dropAt = ent.claims.ExpiresAt.Add(m.leeway)
		m.cache.put(ent)
	}
	v = &verified{token: tok}
	v.copyFrom(&ent.claims)
	if m.session != nil {
		if err := m.session(ctx, &v.claims); err != nil {
			if errors.Is(err, ErrSessionRevoked) {
				return nil, false, fail(m.tmplRevoked, err)
			}
			return nil, false, fail(m.tmplUnavailable, fmt.Errorf("%w: %w", ErrSessionUnavailable, err))
		}
	}
	return v, cached, nil
}

// Claim failures that are not expiry.
var (
	errNoExp     = errors.New("exp claim missing")
	errIssuer    = errors.New("iss claim not accepted")
	errAudience  = errors.New("aud claim not accepted")
	errNotBefore = errors.New("token not valid yet (nbf)")
	errIssuedAt  = errors.New("token issued in the future (iat)")
)

// validate checks the claims of a token whose signature verified, on
// every request. Permanent faults are checked first, so a token is only
// called expired when expiry is all that is wrong with it.
func (m *Middleware) validate(c *Claims, now time.Time) *Error {
	var cause error
	switch {
	case c.ExpiresAt == nil:
		cause = errNoExp
	case m.issuer != "" && c.Issuer != m.issuer:
		cause = errIssuer
	case m.audience != nil && !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(m.audience, a) }):
		cause = errAudience
	case c.NotBefore != nil && now.Add(m.nbfLeeway).Before(c.NotBefore.Time):
		cause = errNotBefore
	case c.IssuedAt != nil && now.Add(m.nbfLeeway).Before(c.IssuedAt.Time):
		cause = errIssuedAt
	case !now.Before(c.ExpiresAt.Add(m.leeway)):
		return fail(m.tmplExpired, ErrTokenExpired)
	default:
		return nil
	}
	return fail(m.tmplInvalid, fmt.Errorf("%w: %w", ErrTokenInvalid, cause))
}
