package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/jwtrefresh/jwtrefresh/keys"
)

// Middleware verifies access tokens. Build it with [New]; it is immutable
// and safe for concurrent use (the key set it reads may rotate).
type Middleware struct {
	config
	set         *keys.Set
	cache       *cache // nil: off
	quotedRealm string
	t           templates
}

// templates are the precomputed refusals (see fail).
type templates struct {
	missing, duplicate, emptyBearer, badHeader, badCookie, twoMethods,
	tooLarge, malformed, invalid, expired, revoked, unavailable *Error
	// DPoP refusals
	badProof, useNonce, dpopDuplicate, replayUnavailable *Error
}

// New returns a middleware verifying tokens against set: the key named by
// a token's `kid` decides the algorithm (see [keys.Set.Resolve]), and
// rotating set takes effect on the next request, also dropping cached
// verdicts. Without options, `iss`, `aud` and `typ` are not checked and
// tokens are read from the Authorization header only; each option
// documents its default. Tokens over 8 KiB are refused unread. A nil set
// or option, or a bad option value, is an error wrapping
// [ErrInvalidConfig].
func New(set *keys.Set, opts ...Option) (*Middleware, error) {
	if set == nil {
		return nil, configError("nil key set")
	}
	m := &Middleware{config: defaultConfig(), set: set}
	for i, o := range opts {
		if o == nil {
			return nil, configError("option %d is nil", i)
		}
		if err := o(&m.config); err != nil {
			return nil, err
		}
	}
	if m.cacheEntries > 0 {
		m.cache = newCache(m.cacheEntries, m.cacheBytes)
	}
	m.quotedRealm = quote(m.realm)
	m.t = m.templates()
	return m, nil
}

func (m *Middleware) templates() templates {
	const s400, s401, s503 = http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable
	t := templates{
		missing:     m.template(s401, codeUnauthorized, descMissing, reasonMissing),
		duplicate:   m.template(s400, codeInvalidReq, descDuplicate, reasonInvalidRequest),
		emptyBearer: m.template(s400, codeInvalidReq, descEmptyBearer, reasonInvalidRequest),
		badHeader:   m.template(s400, codeInvalidReq, descBadHeader, reasonInvalidRequest),
		badCookie:   m.template(s400, codeInvalidReq, descBadCookie, reasonInvalidRequest),
		twoMethods:  m.template(s400, codeInvalidReq, descTwoMethods, reasonInvalidRequest),
		tooLarge:    m.template(s401, codeInvalidToken, descTooLarge, reasonTooLarge),
		malformed:   m.template(s401, codeInvalidToken, descMalformed, reasonMalformed),
		invalid:     m.template(s401, codeInvalidToken, descInvalid, reasonInvalid),
		expired:     m.template(s401, codeInvalidToken, descExpired, reasonExpired),
		revoked:     m.template(s401, codeInvalidToken, descRevoked, reasonRevoked),
		unavailable: m.template(s503, codeUnavailable, descUnavailable, reasonUnavailable),

		badProof:          m.template(s401, codeInvalidProof, descInvalidProof, reasonInvalidProof),
		useNonce:          m.template(s401, codeUseNonce, descUseNonce, reasonUseNonce),
		dpopDuplicate:     m.template(s400, codeInvalidReq, descDPoPDuplicate, reasonInvalidRequest),
		replayUnavailable: m.template(s503, codeUnavailable, descReplayUnavailable, reasonUnavailable),
	}
	// The two refusals verify gives for bad characters carry their cause.
	t.badHeader.Err, t.badCookie.Err = errBadHeader, errBadCookie
	return t
}

// Handler wraps next: a request with a valid token reaches next with its
// claims in the context ([ClaimsFrom], [ClaimsAs]); others are answered
// here (RFC 6750 §3), with a JSON body {"error","error_description"}
// unless an error handler is set:
//
//   - no token: 401, WWW-Authenticate: Bearer realm="<realm>";
//   - expired: 401, Bearer realm="<realm>", error="invalid_token",
//     error_description="the access token expired";
//   - any other bad token: 401 with error="invalid_token";
//   - malformed request: 400 with error="invalid_request";
//   - session check unavailable: 503 with Retry-After;
//   - with [WithDPoP]: a bad or replayed proof, 401 with
//     error="invalid_dpop_proof" in a DPoP challenge; a missing server
//     nonce, 401 use_dpop_nonce with DPoP-Nonce; a full replay cache, 503.
func (m *Middleware) Handler(next http.Handler) http.Handler { return m.handler(next, false) }

// Optional is [Middleware.Handler] for routes open to anonymous callers: a
// request without any token reaches next unauthenticated (ClaimsFrom
// reports false), while a present but bad token is still refused.
func (m *Middleware) Optional(next http.Handler) http.Handler { return m.handler(next, true) }

func (m *Middleware) handler(next http.Handler, optional bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, dpopScheme, badChars, e := m.extract(r)
		if e != nil {
			m.reject(w, r, e)
			return
		}
		ctx := r.Context()
		if tok == "" {
			if optional {
				m.observe(ctx, Event{})
				next.ServeHTTP(w, r)
				return
			}
			m.reject(w, r, fail(m.t.missing, ErrTokenMissing))
			return
		}
		v, cached, e := m.verify(ctx, tok, badChars)
		if e == nil {
			e = m.checkBinding(r, tok, dpopScheme, &v.claims)
		}
		if e != nil {
			if dpopScheme {
				e = m.asDPoP(e)
			}
			m.reject(w, r, e)
			return
		}
		if m.events != nil {
			m.events(ctx, Event{Cached: cached, Claims: &v.claims})
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxClaims{}, v)))
	})
}

// Verify checks a bare token exactly as Handler does (cache, claims,
// session check), for callers that receive tokens elsewhere than in a
// request header, such as a revocation endpoint or a WebSocket upgrade.
// It returns this call's own copy of the claims, or an [*Error]. There is
// no request, hence no DPoP proof to check: a bound token is accepted with
// Claims.KeyThumbprint set, and a caller that lets it act must verify a
// proof by that key itself.
func (m *Middleware) Verify(ctx context.Context, token string) (*Claims, error) {
	var (
		v      *verified
		cached bool
		e      *Error
	)
	if token == "" {
		e = fail(m.t.missing, ErrTokenMissing)
	} else {
		v, cached, e = m.verify(ctx, token, nil)
	}
	if e != nil {
		m.observe(ctx, Event{Err: e})
		return nil, e
	}
	m.observe(ctx, Event{Cached: cached, Claims: &v.claims})
	return &v.claims, nil
}

// verify checks tok. badChars, if not nil, is the refusal for a token
// with characters outside b64token (checked only on a cache miss);
// otherwise such a token is simply malformed.
func (m *Middleware) verify(ctx context.Context, tok string, badChars *Error) (v *verified, cached bool, e *Error) {
	if len(tok) > maxTokenLength {
		return nil, false, fail(m.t.tooLarge, errTooLarge)
	}
	now := m.now()
	var (
		hash tokenHash
		gen  uint64
		ent  *entry
	)
	if m.cache != nil {
		// Read the generation before verifying: an entry is then never
		// tagged newer than the keys that verified it.
		gen = m.set.Generation()
		hash = hashToken(m.cache.seed, tok)
		ent = m.cache.get(hash, tok, gen, now)
		cached = ent != nil
	}
	if ent == nil {
		if ent, e = m.verifyNew(tok, badChars); e != nil {
			return nil, false, e
		}
	}
	// Claims are validated here for both paths, so "expired" is only said
	// when nothing else is wrong with the token.
	if e := m.validate(&ent.claims, now); e != nil {
		return nil, false, e
	}
	if m.cache != nil && !cached {
		ent.token, ent.hash, ent.gen, ent.size = tok, hash, gen, entrySize(tok)
		ent.dropAt = ent.claims.ExpiresAt.Add(m.leeway)
		m.cache.put(ent)
	}
	v = &verified{token: tok}
	v.copyFrom(&ent.claims)
	if m.session != nil {
		if err := m.session(ctx, &v.claims); err != nil {
			if errors.Is(err, ErrSessionRevoked) {
				return nil, false, fail(m.t.revoked, err)
			}
			return nil, false, fail(m.t.unavailable, fmt.Errorf("%w: %w", ErrSessionUnavailable, err))
		}
	}
	return v, cached, nil
}

// verifyNew checks the signature of a token the cache does not hold and
// decodes its claims.
func (m *Middleware) verifyNew(tok string, badChars *Error) (*entry, *Error) {
	if badChars != nil && !isB64Token(tok) {
		return nil, fail(badChars, badChars.Err)
	}
	if m.parsed != nil {
		m.parsed()
	}
	ent := new(entry)
	if err := m.parse(tok, &ent.claims, &ent.claimStorage); err != nil {
		if errors.Is(err, ErrTokenMalformed) {
			return nil, fail(m.t.malformed, err)
		}
		return nil, fail(m.t.invalid, err)
	}
	return ent, nil
}

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
	case c.NotBefore != nil && now.Add(m.futureLeeway).Before(c.NotBefore.Time):
		cause = errNotBefore
	case c.IssuedAt != nil && now.Add(m.futureLeeway).Before(c.IssuedAt.Time):
		cause = errIssuedAt
	case !now.Before(c.ExpiresAt.Add(m.leeway)):
		return fail(m.t.expired, ErrTokenExpired)
	default:
		return nil
	}
	return fail(m.t.invalid, cause)
}
