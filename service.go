package jwtrefresh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/middleware"
)

// Service is the token service: it starts sessions at login, rotates them
// at each refresh, revokes them, and serves the HTTP endpoints clients call
// ([Service.Handler]). It issues JWT access tokens signed with a key set
// that the middleware of every resource server verifies, and keeps refresh
// tokens in a [Store].
//
// Build it with [NewService]. It is safe for concurrent use, and any number
// of Services (processes) may share one store: what one issues, another
// refreshes or revokes.
type Service struct {
	store      Store
	keys       *keys.Set
	issuer     string
	cfg        config
	prefixJSON []byte // the registered claims common to every token
	retryAfter []string
	sessions   *sessionCache
	mw         *middleware.Middleware // authenticates the session endpoints
	handler    http.Handler
	jwks       jwksCache
}

// NewService returns a service keeping sessions in store and signing access
// tokens with the current key of signing, under the issuer name issuer (the
// `iss` claim, e.g. "https://auth.example.com"; required).
//
// signing is shared with the middleware of the resource servers: the same
// set in a single binary that both issues and verifies, its public half
// (signing.Public(), or the JWKS the handler publishes) elsewhere.
// Rotating it with signing.Replace takes effect on the next token; the new
// current key must be able to sign, or token requests fail with 500.
//
// The refresh-token key, the reuse grace window, the reuse policy and the
// session lifetimes belong to the store (see package redisstore): every
// instance sharing the store must configure them alike.
//
// Options default to: access tokens of 5 minutes, `nbf`/`iat` backdated by
// 10 s, no audience, claims fixed at login, Retry-After 1 s, request bodies
// up to 4 KiB, a session-check cache of 5 s / 10,000 sessions, no refresh
// cookie, no logging. A bad configuration is an error wrapping
// [ErrInvalidConfig]: among others a nil store (also a nil pointer of a
// Store type, such as a *redisstore.Store left nil after a failed
// redisstore.New) and a nil option.
func NewService(store Store, signing *keys.Set, issuer string, opts ...Option) (*Service, error) {
	cfg := defaultConfig()
	for i, o := range opts {
		if o == nil {
			return nil, configError("option %d is nil", i)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	var k *keys.Key
	if signing != nil {
		k = signing.Current()
	}
	switch {
	case isNil(store):
		// A nil *redisstore.Store in the interface is not == nil, and
		// would panic at the first login.
		return nil, configError("nil store (%T)", store)
	case k == nil:
		return nil, configError("no signing key")
	case !k.CanSign():
		return nil, configError("the current key %q cannot sign (a public key)", k.KID())
	case issuer == "":
		return nil, configError("empty issuer")
	}
	s := &Service{
		store:      store,
		keys:       signing,
		issuer:     issuer,
		cfg:        cfg,
		prefixJSON: registeredPrefix(issuer, cfg.audience),
		retryAfter: []string{strconv.FormatInt(int64((cfg.retryAfter+time.Second-1)/time.Second), 10)},
		sessions:   newSessionCache(store, cfg),
	}
	mw, err := s.sessionMiddleware()
	if err != nil {
		return nil, err
	}
	s.mw = mw
	s.handler = s.newHandler()
	return s, nil
}

// Middleware returns a middleware that accepts exactly the access tokens
// this service issues: signed by its key set, of type [AccessTokenType],
// with its issuer and (if configured) its audience. opts come after those
// settings, e.g. middleware.WithSessionCheck(svc.SessionCheck(), 0) to
// refuse tokens of ended sessions, or middleware.WithLeeway.
//
// Resource servers in other processes build the same with
// middleware.New(publicKeys, middleware.WithIssuer(iss),
// middleware.WithAudience(aud...), middleware.WithTokenType(jwtrefresh.AccessTokenType)).
func (s *Service) Middleware(opts ...middleware.Option) (*middleware.Middleware, error) {
	base := []middleware.Option{
		middleware.WithIssuer(s.issuer),
		middleware.WithTokenType(AccessTokenType),
	}
	if len(s.cfg.audience) > 0 {
		base = append(base, middleware.WithAudience(s.cfg.audience...))
	}
	return middleware.New(s.keys, append(base, opts...)...)
}

// Login starts a session for a user the application has authenticated and
// returns its first token pair. ns.Claims (a JSON object, optional) are
// copied into every access token of the session; they may not use the
// registered claim names the service sets (iss, sub, aud, exp, nbf, iat,
// jti, sid). Errors: [ErrInvalidInput], [ErrUnavailable].
func (s *Service) Login(ctx context.Context, ns NewSession) (*TokenResponse, error) {
	ns, err := ns.Validate()
	if err != nil {
		return nil, err
	}
	if err := checkClaims(ns.Claims); err != nil {
		return nil, err
	}
	g, err := s.store.Create(ctx, ns)
	if err != nil {
		return nil, err
	}
	for _, sid := range g.Evicted {
		s.sessions.endSession(g.Subject, sid)
	}
	return s.respond(g, g.Claims)
}

// Refresh redeems a refresh token for a new pair (RFC 6749 §6).
// idempotencyKey is the client's Idempotency-Key ("" for none): a retry of
// the same refresh with the same key, through any instance, gets the same
// new refresh token (and a fresh access token) instead of setting off reuse
// detection. Whoever presents a used token with its key gets that token's
// successor, so the key must be random (128 bits or more) and new for each
// refresh: a key [CheckIdempotencyKey] refuses (shorter than
// [MinIdempotencyKeyLen], say) is [ErrInvalidInput] and nothing is used up.
//
// With a claims loader ([WithClaimsLoader]), the session is looked up and
// the claims loaded before the token is used up, so that a loader failure
// leaves the token as it was.
//
// Errors: [ErrInvalidInput] (the idempotency key),
// [ErrInvalidToken] (unknown, expired, revoked, forged),
// [ErrReuseDetected] (a used token again: sessions were revoked; a
// [*ReuseError]), [ErrSubjectRefused] (the claims loader refused the user;
// the session was revoked), [ErrClaimsUnavailable] (the claims loader
// failed: nothing was used up, retry), [ErrUnavailable] (store
// unreachable: the outcome is unknown, retry with the same key).
func (s *Service) Refresh(ctx context.Context, refreshToken, idempotencyKey string) (*TokenResponse, error) {
	if err := CheckIdempotencyKey(idempotencyKey); err != nil {
		return nil, err
	}
	var claims json.RawMessage
	if s.cfg.loader != nil {
		var err error
		if claims, err = s.loadClaims(ctx, refreshToken); err != nil {
			return nil, err
		}
	}
	g, err := s.store.Rotate(ctx, refreshToken, idempotencyKey)
	if err != nil {
		s.forgetReused(err)
		return nil, err
	}
	if s.cfg.loader == nil {
		claims = g.Claims
	}
	return s.respond(g, claims)
}

// loadClaims runs the claims loader for the session of refreshToken,
// before Refresh uses the token up: a loader failure then costs the client
// nothing, while after a rotation its retry without an Idempotency-Key
// would present a used token (reuse: every session revoked).
func (s *Service) loadClaims(ctx context.Context, refreshToken string) (json.RawMessage, error) {
	ref, snapshot, err := s.store.Lookup(ctx, refreshToken)
	if err != nil {
		return nil, err
	}
	claims, err := s.cfg.loader(ctx, ref.Subject, ref.SessionID, snapshot)
	switch {
	case errors.Is(err, ErrSubjectRefused):
		if rerr := s.RevokeSession(ctx, ref.Subject, ref.SessionID); rerr != nil && !errors.Is(rerr, ErrSessionNotFound) {
			// Not revoked yet: the client retries and is refused again.
			return nil, rerr
		}
		return nil, fmt.Errorf("jwtrefresh: refresh refused by the claims loader: %w", err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrClaimsUnavailable, err)
	}
	if err := checkLoaded(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// forgetReused makes the session check refuse at once the sessions a reuse
// detection revoked.
func (s *Service) forgetReused(err error) {
	var re *ReuseError
	if !errors.As(err, &re) {
		return
	}
	if re.Policy == RevokeSubject && re.Err == nil {
		s.sessions.endSubject(re.Subject)
		return
	}
	// Only the family is sure to be gone: marking sessions that are still
	// active as ended would refuse their fresh access tokens too.
	s.sessions.endSession(re.Subject, re.SessionID)
}

// checkLoaded verifies what a claims loader returned. Bad claims are the
// application's bug, not the client's: an internal error.
func checkLoaded(claims []byte) error {
	if _, err := (NewSession{Subject: "-", Claims: claims}).Validate(); err != nil {
		return fmt.Errorf("jwtrefresh: claims loader: %v", err)
	}
	if err := checkClaims(claims); err != nil {
		return fmt.Errorf("jwtrefresh: claims loader: %v", err)
	}
	return nil
}

func (s *Service) respond(g Grant, claims []byte) (*TokenResponse, error) {
	at, exp, err := s.accessToken(g.Subject, g.SessionID, claims, s.cfg.now())
	if err != nil {
		return nil, err
	}
	return &TokenResponse{
		AccessToken:   at,
		TokenType:     TokenTypeBearer,
		ExpiresIn:     int64(s.cfg.accessTTL / time.Second),
		RefreshToken:  g.RefreshToken,
		Subject:       g.Subject,
		SessionID:     g.SessionID,
		Expiry:        exp,
		RefreshExpiry: g.Expires,
		Replayed:      g.Replayed,
	}, nil
}

// Revoke ends the session of a token, as RFC 7009 asks of a revocation
// endpoint: a refresh token (any generation) ends its session; an access
// token ends its session once fully verified (signature, issuer, audience,
// type, expiry). An unknown, invalid or expired token is not an error: there
// is nothing to revoke. The only errors are [ErrUnavailable] and internal
// failures.
func (s *Service) Revoke(ctx context.Context, token string) error {
	// Refresh tokens are opaque (of any format version, present or
	// future); access tokens are compact JWS: three segments.
	if strings.Count(token, ".") != 2 {
		ref, err := s.store.RevokeToken(ctx, token)
		switch {
		case errors.Is(err, ErrInvalidToken):
			return nil
		case err != nil:
			return err
		}
		// The token is genuine, so its session id is proven even when the
		// store no longer knows the subject (the session was already gone,
		// and ref.Subject is empty).
		s.sessions.endSession(ref.Subject, ref.SessionID)
		return nil
	}
	claims, err := s.mw.Verify(ctx, token)
	switch {
	case errors.Is(err, middleware.ErrSessionUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case err != nil:
		return nil // not a token of ours, expired, or its session already ended
	}
	err = s.RevokeSession(ctx, claims.Subject, claims.SessionID)
	if errors.Is(err, ErrSessionNotFound) {
		return nil
	}
	return err
}

// RevokeSession ends one session of subject: logging out another device,
// or a user the application no longer accepts. [ErrSessionNotFound] when
// subject has no such active session; [ErrUnavailable].
func (s *Service) RevokeSession(ctx context.Context, subject, sessionID string) error {
	err := s.store.RevokeSession(ctx, subject, sessionID)
	if subject != "" && (err == nil || errors.Is(err, ErrSessionNotFound)) {
		s.sessions.endSession(subject, sessionID)
	}
	return err
}

// RevokeAll ends every session of subject (logout everywhere) and reports
// how many there were. Errors: [ErrInvalidInput], [ErrUnavailable].
func (s *Service) RevokeAll(ctx context.Context, subject string) (int, error) {
	n, err := s.store.RevokeAll(ctx, subject)
	if err == nil || n > 0 {
		s.sessions.endSubject(subject)
	}
	return n, err
}

// Sessions lists subject's active sessions, most recently used first.
// Errors: [ErrInvalidInput], [ErrUnavailable].
func (s *Service) Sessions(ctx context.Context, subject string) ([]Session, error) {
	return s.store.Sessions(ctx, subject)
}

// isNil reports whether v is nil or a nil pointer, map, func, channel or
// slice inside an interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// ClientInfoFrom describes the device behind r for [NewSession.Client]: its
// User-Agent and the IP address of the connection's peer. Behind a reverse
// proxy the peer is the proxy: set IP from the header your proxy writes
// (and only a header it overwrites) instead.
func ClientInfoFrom(r *http.Request) ClientInfo {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return ClientInfo{UserAgent: r.UserAgent(), IP: ip}
}
