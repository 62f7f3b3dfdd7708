package jwtrefresh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jwtrefresh/jwtrefresh/internal/nilcheck"
	"github.com/jwtrefresh/jwtrefresh/internal/oauth"
	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// Service is the token service: it starts sessions at login, rotates them
// at each refresh, revokes them, and serves the HTTP endpoints clients
// call ([Service.Handler]). It issues JWT access tokens signed with a key
// set that the middleware of every resource server verifies, and keeps
// refresh tokens, authenticated by its refresh-token secrets, in a
// session.Store.
//
// Build it with [NewService]. It is safe for concurrent use, and any
// number of Services (processes) may share one store: what one issues,
// another refreshes or revokes.
type Service struct {
	store      session.Store
	secrets    *session.Secrets
	keys       *keys.Set
	issuer     string
	cfg        config
	prefixJSON []byte // the registered claims common to every token
	retryAfter []string
	sessions   *sessionCheck
	mw         *middleware.Middleware // authenticates the session endpoints
	handler    http.Handler
	jwks       jwksCache

	indexMu sync.Mutex                    // serialises loading the index
	index   atomic.Pointer[session.Index] // nil until loaded
}

// NewService returns a service keeping sessions in store, authenticating
// refresh tokens with secrets, and signing access tokens with the current
// key of signing under the issuer name issuer (the `iss` claim, e.g.
// "https://auth.example.com"; required).
//
// signing is shared with the middleware of the resource servers: the
// same set in a binary that both issues and verifies, its public half
// (signing.Public(), or the JWKS the handler publishes) elsewhere.
// Rotating it with signing.Replace takes effect on the next token.
// secrets must be the same on every instance sharing the store; the reuse
// grace window, the reuse policy and the session lifetimes belong to the
// store (see package redisstore).
//
// Each option documents its default. [Service.Close] ends the session
// check's subscription to the store's push. A bad configuration is an error
// wrapping [ErrInvalidConfig], among others a nil store (also a nil
// pointer of a Store type), nil secrets and a nil option.
func NewService(store session.Store, secrets *session.Secrets, signing *keys.Set, issuer string, opts ...Option) (*Service, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := checkService(store, secrets, signing, issuer); err != nil {
		return nil, err
	}
	s := &Service{
		store:      store,
		secrets:    secrets,
		keys:       signing,
		issuer:     issuer,
		cfg:        cfg,
		prefixJSON: registeredPrefix(issuer, cfg.audience),
		retryAfter: []string{oauth.RetryAfter(cfg.retryAfter)},
	}
	s.sessions = newSessionCheck(store, cfg)
	mw, err := s.sessionMiddleware()
	if err != nil { // the service's own settings: the issuer, say
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	s.mw = mw
	s.handler = s.newHandler()
	return s, nil
}

func newConfig(opts []Option) (config, error) {
	cfg := defaultConfig()
	for i, o := range opts {
		if o == nil {
			return cfg, configError("option %d is nil", i)
		}
		if err := o(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

func checkService(store session.Store, secrets *session.Secrets, signing *keys.Set, issuer string) error {
	var k *keys.Key
	if signing != nil {
		k = signing.Current()
	}
	switch {
	case nilcheck.IsNil(store):
		// A nil pointer in the interface is not == nil, and would panic
		// at the first login.
		return configError("nil store (%T)", store)
	case k == nil:
		return configError("no signing key")
	case !k.CanSign():
		return configError("the current key %q cannot sign (a public key)", k.KID())
	case issuer == "":
		return configError("empty issuer")
	}
	// Secrets not made by session.NewSecrets (nil, or a zero value)
	// cannot prepare a rotation.
	if _, err := secrets.Rotation(session.Token{}, ""); err != nil {
		return configError("refresh-token secrets: %v", err)
	}
	return nil
}

// Middleware returns a middleware that accepts exactly the access tokens
// this service issues: signed by its key set, of type [AccessTokenType],
// with its issuer and (if configured) its audience. opts come after those
// settings, e.g. middleware.WithSessionCheck(svc.SessionCheck(), 0) to
// refuse tokens of ended sessions.
//
// Resource servers in other processes build the same with
// middleware.New(publicKeys, middleware.WithIssuer(iss),
// middleware.WithAudience(aud...), middleware.WithTokenType(jwtrefresh.AccessTokenType)).
// With [WithDPoP], add middleware.WithDPoP, or the tokens of bound sessions
// are refused.
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

// subjectIndex returns the subject index, loading it from the store at
// first use (see session.Secrets.Index). Errors wrap
// session.ErrUnavailable, or session.ErrInvalidSecret when the stored
// index key does not open with the secrets.
func (s *Service) subjectIndex(ctx context.Context) (*session.Index, error) {
	if x := s.index.Load(); x != nil {
		return x, nil
	}
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	if x := s.index.Load(); x != nil {
		return x, nil
	}
	x, err := s.secrets.Index(ctx, s.store)
	if err != nil {
		return nil, err
	}
	s.index.Store(x)
	return x, nil
}

// subjectID is the subject's id in the store; an empty subject is
// session.ErrInvalidInput.
func (s *Service) subjectID(ctx context.Context, subject string) (session.SubjectID, error) {
	if subject == "" {
		return session.SubjectID{}, fmt.Errorf("%w: empty subject", session.ErrInvalidInput)
	}
	x, err := s.subjectIndex(ctx)
	if err != nil {
		return session.SubjectID{}, err
	}
	return x.SubjectID(subject), nil
}

// Revoke ends the session of a token, as RFC 7009 asks of a revocation
// endpoint: a refresh token (any generation) ends its session; an access
// token ends its session once fully verified (signature, issuer,
// audience, type, expiry). An unknown, invalid or expired token is not an
// error: there is nothing to revoke. The only errors are
// session.ErrUnavailable and internal failures.
func (s *Service) Revoke(ctx context.Context, token string) error {
	// Refresh tokens are opaque (of any format version, present or
	// future); access tokens are compact JWS: three segments.
	if strings.Count(token, ".") != 2 {
		return s.revokeRefreshToken(ctx, token)
	}
	claims, err := s.mw.Verify(ctx, token)
	switch {
	case errors.Is(err, middleware.ErrSessionUnavailable):
		return fmt.Errorf("%w: %w", session.ErrUnavailable, err)
	case err != nil:
		return nil // not a token of ours, expired, or its session already ended
	}
	err = s.RevokeSession(ctx, claims.Subject, claims.SessionID)
	if errors.Is(err, session.ErrNotFound) {
		return nil
	}
	return err
}

func (s *Service) revokeRefreshToken(ctx context.Context, token string) error {
	t, err := s.secrets.Parse(token)
	if err != nil {
		return nil // not a token of ours: nothing to revoke
	}
	sid := t.SessionID()
	res, err := s.store.Revoke(ctx, t.Subject, sid, "")
	switch {
	case errors.Is(err, session.ErrNotFound):
		// Already gone. The token is genuine, so its session id is proven
		// even though the store no longer knows the subject.
		s.sessions.endSession("", sid)
		return nil
	case err != nil:
		return err
	}
	s.sessions.endSession(res.Subject, sid)
	s.emit(ctx, Event{Kind: EventRevoke, Subject: res.Subject, SessionID: sid, Revoked: 1})
	return nil
}

// RevokeSession ends one session of subject: logging out another device,
// or a user the application no longer accepts. session.ErrNotFound when
// subject has no such active session; session.ErrUnavailable.
func (s *Service) RevokeSession(ctx context.Context, subject, sessionID string) error {
	id, err := s.subjectID(ctx, subject)
	if err != nil {
		return err
	}
	_, err = s.store.Revoke(ctx, id, sessionID, subject)
	if err == nil || errors.Is(err, session.ErrNotFound) {
		s.sessions.endSession(subject, sessionID)
	}
	if err == nil {
		s.emit(ctx, Event{Kind: EventRevoke, Subject: subject, SessionID: sessionID, Revoked: 1})
	}
	return err
}

// RevokeAll ends every session of subject (logout everywhere), whatever
// refresh-token secret each began under, and reports how many there
// were. Errors: session.ErrInvalidInput, session.ErrUnavailable.
func (s *Service) RevokeAll(ctx context.Context, subject string) (int, error) {
	id, err := s.subjectID(ctx, subject)
	if err != nil {
		return 0, err
	}
	n, err := s.store.RevokeAll(ctx, id)
	if err != nil {
		return 0, err
	}
	s.sessions.endSubject(subject)
	s.emit(ctx, Event{Kind: EventRevokeAll, Subject: subject, Revoked: n})
	return n, nil
}

// Sessions lists subject's active sessions, most recently used first.
// Errors: session.ErrInvalidInput, session.ErrUnavailable.
func (s *Service) Sessions(ctx context.Context, subject string) ([]session.Info, error) {
	id, err := s.subjectID(ctx, subject)
	if err != nil {
		return nil, err
	}
	return s.store.Sessions(ctx, id)
}

// ClientInfoFrom describes the device behind r for a login's
// session.NewSession.Client: its User-Agent and the IP address of the
// connection's peer. Behind a reverse proxy the peer is the proxy: set IP
// from the header your proxy writes (and only a header it overwrites).
func ClientInfoFrom(r *http.Request) session.ClientInfo {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return session.ClientInfo{UserAgent: r.UserAgent(), IP: ip}
}
