package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

func newSecrets(t testing.TB) *session.Secrets {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s, err := session.NewSecrets(session.Secret{Version: 1, Value: secret})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// client drives a store the way the token service does, with token
// strings, so that the tests read like a client's view: it parses and
// encodes tokens, builds rotations, and maps outcomes to errors.
type client struct {
	st      session.Store
	secrets *session.Secrets
	index   *session.Index
}

// Errors of the client for outcomes other than a rotation.
var (
	errReuse    = errors.New("reuse detected")
	errTampered = errors.New("record tampered with")
	errRepeated = errors.New("idempotency key repeated")
)

// grant is what a client gets from a login or a refresh.
type grant struct {
	RefreshToken string
	Subject      string
	SessionID    string
	Generation   uint64
	Claims       json.RawMessage
	Expires      time.Time
	Replayed     bool
	Revoked      int // of a reuse
	Evicted      []string
}

func newStore(t testing.TB, b *redistest.Backend, opts ...redisstore.Option) *client {
	t.Helper()
	return newClient(t, b, newSecrets(t), b.Prefix(t), opts...)
}

func newClient(t testing.TB, b *redistest.Backend, secrets *session.Secrets, prefix string, opts ...redisstore.Option) *client {
	t.Helper()
	st, err := redisstore.New(b.Client, append([]redisstore.Option{redisstore.WithKeyPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	x, err := secrets.Index(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return &client{st: st, secrets: secrets, index: x}
}

func login(t testing.TB, c *client, subject string) grant {
	t.Helper()
	g, err := c.Create(context.Background(), session.NewSession{Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (c *client) Create(ctx context.Context, ns session.NewSession) (grant, error) {
	tok, child, seal := c.index.NewFamily(ns.Subject)
	r, err := c.st.Create(ctx, tok, child, ns, seal)
	if err != nil {
		return grant{}, err
	}
	enc, err := c.secrets.Encode(tok)
	return grant{RefreshToken: enc, Subject: ns.Subject, SessionID: tok.SessionID(), Generation: 1,
		Claims: ns.Claims, Expires: r.Expires, Evicted: r.Evicted}, err
}

func (c *client) rotation(token, ik string) (session.Rotation, error) {
	tok, err := c.secrets.Parse(token)
	if err != nil {
		return session.Rotation{}, err
	}
	return c.secrets.Rotation(tok, ik)
}

func (c *client) Rotate(ctx context.Context, token, ik string) (grant, error) {
	rot, err := c.rotation(token, ik)
	if err != nil {
		return grant{}, err
	}
	r, err := c.st.Rotate(ctx, rot)
	if err != nil {
		return grant{}, err
	}
	g := grant{Subject: r.Subject, SessionID: rot.Presented.SessionID(), Claims: r.Claims, Expires: r.Expires}
	child := rot.Child
	switch r.Outcome {
	case session.Rotated, session.Healed:
	case session.Replayed:
		g.Replayed = true
		if child, err = c.secrets.Child(rot.Presented, r.Version); err != nil {
			return grant{}, err
		}
	case session.Reused:
		return grant{Subject: r.Subject, Revoked: r.Ended}, fmt.Errorf("%w: %d revoked", errReuse, r.Ended)
	case session.Tampered:
		return grant{}, errTampered
	case session.KeyRepeated:
		return grant{}, errRepeated
	default:
		return grant{}, session.ErrInvalidToken
	}
	g.Generation = child.Generation
	g.RefreshToken, err = c.secrets.Encode(child)
	return g, err
}

func (c *client) Lookup(ctx context.Context, token string) (session.Result, error) {
	rot, err := c.rotation(token, "")
	if err != nil {
		return session.Result{}, err
	}
	return c.st.Lookup(ctx, rot)
}

func (c *client) RevokeToken(ctx context.Context, token string) (session.Result, error) {
	tok, err := c.secrets.Parse(token)
	if err != nil {
		return session.Result{}, err
	}
	r, err := c.st.Revoke(ctx, tok.Subject, tok.SessionID(), "")
	if errors.Is(err, session.ErrNotFound) {
		err = nil // RFC 7009: revoking an ended session succeeds
	}
	return r, err
}

func (c *client) RevokeSession(ctx context.Context, subject, sid string) error {
	_, err := c.st.Revoke(ctx, c.index.SubjectID(subject), sid, subject)
	return err
}

func (c *client) RevokeAll(ctx context.Context, subject string) (int, error) {
	return c.st.RevokeAll(ctx, c.index.SubjectID(subject))
}

func (c *client) Sessions(ctx context.Context, subject string) ([]session.Info, error) {
	return c.st.Sessions(ctx, c.index.SubjectID(subject))
}

func (c *client) Active(ctx context.Context, subject, sid string) (bool, error) {
	until, err := c.st.Active(ctx, sid, subject)
	return !until.IsZero(), err
}

// tag is the hash tag of subject's keys, "{…}".
func (c *client) tag(subject string) string {
	id := c.index.SubjectID(subject)
	return fmt.Sprintf("{%x}", id[:4])
}

// commandCounter is a go-redis hook counting the commands sent, those
// inside pipelines included, by name.
type commandCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func countCommands(c redis.UniversalClient) *commandCounter {
	cc := &commandCounter{n: map[string]int{}}
	c.AddHook(cc)
	return cc
}

func (cc *commandCounter) add(cmds ...redis.Cmder) {
	cc.mu.Lock()
	for _, c := range cmds {
		cc.n[strings.ToLower(c.Name())]++
	}
	cc.mu.Unlock()
}

// take returns the counts so far and resets them.
func (cc *commandCounter) take() map[string]int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	n := cc.n
	cc.n = map[string]int{}
	return n
}

func (cc *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (cc *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		cc.add(cmd)
		return next(ctx, cmd)
	}
}

func (cc *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		cc.add(cmds...)
		return next(ctx, cmds)
	}
}
