package failover

// This file is the harness's only use of the root package, session,
// redisstore, keys and transport: a token service on a Redis client, and a
// client that refreshes through the transport.

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/jwtrefresh/jwtrefresh/transport"
	"github.com/redis/go-redis/v9"
)

// The token endpoints under the path the service's handler is mounted at.
const (
	authPrefix  = "/auth"
	refreshPath = authPrefix + "/refresh"
	revokePath  = authPrefix + "/revoke"
)

// ackTimeout is how long a write waits for its replica with acks on.
const ackTimeout = time.Second

// service is the token service under test: a Redis store on rdb with
// strict one-time use (no grace window, so that every replay of a spent
// token by a thief counts) and reuse revoking only the family. It counts
// the healed rotations (EventHealed) per subject.
type service struct {
	svc *jwtrefresh.Service

	mu     sync.Mutex
	healed map[string]int // guarded by mu
}

func newService(rdb redis.UniversalClient, prefix string, ack bool) (*service, error) {
	secrets, err := session.NewSecrets(session.Secret{Version: 1, Value: []byte(rand.Text() + rand.Text())})
	if err != nil {
		return nil, err
	}
	opts := []redisstore.Option{
		redisstore.WithKeyPrefix(prefix),
		redisstore.WithReuseGrace(0),
		redisstore.WithReusePolicy(session.RevokeFamily),
	}
	if ack {
		opts = append(opts, redisstore.WithReplicaAck(1, ackTimeout))
	}
	store, err := redisstore.New(rdb, opts...)
	if err != nil {
		return nil, err
	}
	key, err := keys.NewHS256("k1", []byte(rand.Text()+rand.Text()))
	if err != nil {
		return nil, err
	}
	set, err := keys.NewSet(key)
	if err != nil {
		return nil, err
	}
	s := &service{healed: map[string]int{}}
	s.svc, err = jwtrefresh.NewService(store, secrets, set, "failover-test", jwtrefresh.WithEvents(s.event))
	return s, err
}

func (s *service) event(_ context.Context, e jwtrefresh.Event) {
	if e.Kind == jwtrefresh.EventHealed {
		s.mu.Lock()
		s.healed[e.Subject]++
		s.mu.Unlock()
	}
}

// healedCount is how many rotations of subject's session healed so far.
func (s *service) healedCount(subject string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.healed[subject]
}

// handler serves the token endpoints (refresh, revoke, …) under authPrefix.
func (s *service) handler() http.Handler { return http.StripPrefix(authPrefix, s.svc.Handler()) }

// login starts a session of subject and returns its tokens.
func (s *service) login(ctx context.Context, subject string) (access, refresh string, err error) {
	tr, err := s.svc.Login(ctx, session.NewSession{Subject: subject})
	if err != nil {
		return "", "", err
	}
	return tr.AccessToken, tr.RefreshToken, nil
}

// generation is the generation of subject's session (its only one) as the
// store holds it: 1 at login, +1 per rotation; 0 when there is none.
func (s *service) generation(ctx context.Context, subject string) (uint64, error) {
	ss, err := s.svc.Sessions(ctx, subject)
	if err != nil || len(ss) == 0 {
		return 0, err
	}
	return ss[0].Generation, nil
}

// newClient returns an HTTP client that sends the session's access token to
// refreshURL's origin and refreshes it there through the transport, over
// base. rotated is called with each refresh token the client saves, login's
// first.
func newClient(refreshURL string, base http.RoundTripper, access, refresh string, rotated func(rt string)) (*http.Client, error) {
	st := &tokenStore{tok: &transport.Token{AccessToken: access, TokenType: "Bearer", RefreshToken: refresh}, rotated: rotated}
	rotated(refresh)
	tr, err := transport.New(refreshURL, st, transport.WithBase(base))
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: tr}, nil
}

// loggedOut reports whether a client's error says the session is over.
func loggedOut(err error) bool { return errors.Is(err, transport.ErrLoginRequired) }

// tokenStore is a session's token store, reporting each refresh token saved.
type tokenStore struct {
	mu      sync.Mutex
	tok     *transport.Token
	rotated func(rt string)
}

func (s *tokenStore) Load(context.Context) (*transport.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == nil {
		return nil, transport.ErrNoToken
	}
	t := *s.tok
	return &t, nil
}

func (s *tokenStore) Save(_ context.Context, tok *transport.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := *tok
	s.tok = &t
	s.rotated(t.RefreshToken)
	return nil
}

func (s *tokenStore) Clear(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok = nil
	return nil
}
