// Package storetest is the conformance suite of session.Store: every
// implementation must pass Run. Each subtest checks one clause of the
// contract (RFC 6749 §6 refresh, RFC 7009 revocation, RFC 9700 §4.14
// rotation with reuse detection) on fresh, empty storage, with a fake
// clock so that expiry is tested without sleeping. The package also holds
// an in-memory Store, NewMemoryStore, which passes it.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

// Config is what the suite asks of a store. Zero fields mean the
// defaults: strict reuse, RevokeSubject, 30-day idle timeout, no absolute
// lifetime, 100 sessions per subject.
type Config struct {
	ReuseGrace       time.Duration
	ReusePolicy      session.ReusePolicy
	IdleTimeout      time.Duration
	AbsoluteLifetime time.Duration
	MaxSessions      int
	// Clock is the store's only time source; the suite always sets it.
	Clock func() time.Time
}

// Open returns a Store configured by cfg on the storage of one subtest.
// Stores opened by one Open share their data, like two server instances
// on one backend.
type Open func(cfg Config) session.Store

// NewBackend prepares fresh, empty storage for subtest t (for Redis, a new
// key prefix) and returns how to open stores on it. It must clean up
// through t.Cleanup.
type NewBackend func(t *testing.T) Open

// Run runs the conformance suite: one subtest per clause.
func Run(t *testing.T, newBackend NewBackend) {
	for _, c := range clauses {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, newBackend)
		})
	}
}

type clause struct {
	name string
	fn   func(t *testing.T, nb NewBackend)
}

// clauses is filled by the files of this package, one concept each.
var clauses []clause

func register(cs ...clause) bool { clauses = append(clauses, cs...); return true }

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// randomSecret returns a refresh-token secret of that version.
func randomSecret(version uint32) session.Secret {
	s := session.Secret{Version: version, Value: make([]byte, 32)}
	_, _ = rand.Read(s.Value)
	return s
}

// newSecrets returns the secrets, the first current.
func newSecrets(t testing.TB, current session.Secret, older ...session.Secret) *session.Secrets {
	t.Helper()
	s, err := session.NewSecrets(current, older...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// env is one subtest's world: a backend, a clock, secrets, and a store
// driven the way the token service drives it.
type env struct {
	t       *testing.T
	open    Open
	clock   *clock
	secret  session.Secret // version 1, the current one
	secrets *session.Secrets
	index   *session.Index
	store   session.Store
	ctx     context.Context
}

func newEnv(t *testing.T, nb NewBackend, adjust func(*Config)) *env {
	t.Helper()
	e := &env{t: t, open: nb(t), clock: &clock{now: time.Now().Truncate(time.Millisecond)},
		secret: randomSecret(1), ctx: context.Background()}
	e.secrets = newSecrets(t, e.secret)
	e.store = e.openStore(adjust)
	e.index = e.indexOf(e.secrets, e.store)
	return e
}

// openStore opens another store on the same storage, with the env's clock
// unless adjust changes it.
func (e *env) openStore(adjust func(*Config)) session.Store {
	cfg := Config{Clock: e.clock.Now}
	if adjust != nil {
		adjust(&cfg)
	}
	return e.open(cfg)
}

func (e *env) indexOf(s *session.Secrets, st session.Store) *session.Index {
	e.t.Helper()
	x, err := s.Index(e.ctx, st)
	if err != nil {
		e.t.Fatalf("Index: %v", err)
	}
	return x
}

// grant is a session as the suite holds it: its current token and what
// the store last said.
type grant struct {
	tok session.Token
	res session.Result
}

func (g grant) sid() string { return g.tok.SessionID() }

func (e *env) login(subject string) grant {
	e.t.Helper()
	return e.loginWith(e.store, e.index, subject, json.RawMessage(`{"role":"user"}`))
}

func (e *env) loginWith(st session.Store, x *session.Index, subject string, claims json.RawMessage) grant {
	e.t.Helper()
	tok, child, seal := x.NewFamily(subject)
	r, err := st.Create(e.ctx, tok, child, session.NewSession{Subject: subject, Claims: claims,
		Client: session.ClientInfo{UserAgent: "storetest", IP: "192.0.2.1", Device: "laptop"}}, seal)
	if err != nil {
		e.t.Fatalf("Create(%q): %v", subject, err)
	}
	return grant{tok, r}
}

// redeem presents tok with idempotency key ik through st and secrets s, as
// the service does, and returns the store's answer with the token the
// service would hand out (the child, recomputed for a replay).
func (e *env) redeem(st session.Store, s *session.Secrets, tok session.Token, ik string) (grant, error) {
	e.t.Helper()
	rot, err := s.Rotation(tok, ik)
	if err != nil {
		e.t.Fatalf("Rotation: %v", err)
	}
	res, err := st.Rotate(e.ctx, rot)
	g := grant{rot.Child, res}
	if err == nil && res.Outcome == session.Replayed && res.Version != rot.Child.Version {
		if g.tok, err = s.Child(tok, res.Version); err != nil {
			e.t.Fatalf("Child: %v", err)
		}
	}
	return g, err
}

// try presents tok and returns the outcome.
func (e *env) try(tok session.Token, ik string) session.Outcome {
	e.t.Helper()
	g, err := e.redeem(e.store, e.secrets, tok, ik)
	if err != nil {
		e.t.Fatalf("Rotate: %v", err)
	}
	return g.res.Outcome
}

// rotate presents tok and requires a rotation.
func (e *env) rotate(tok session.Token, ik string) grant {
	e.t.Helper()
	g, err := e.redeem(e.store, e.secrets, tok, ik)
	if err != nil || g.res.Outcome != session.Rotated {
		e.t.Fatalf("Rotate: outcome %d, %v; want Rotated", g.res.Outcome, err)
	}
	return g
}

// want asserts an outcome.
func want(t *testing.T, what string, got, want session.Outcome) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: outcome %d, want %d", what, got, want)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// active asserts whether a session is active, and returns its deadline.
func (e *env) active(subject, sid string, want bool) time.Time {
	e.t.Helper()
	until, err := e.store.Active(e.ctx, sid, subject)
	if err != nil {
		e.t.Fatalf("Active: %v", err)
	}
	if got := !until.IsZero(); got != want {
		e.t.Fatalf("Active(%q, %s) = %v, want active %v", subject, sid, until, want)
	}
	return until
}

// sessions returns the number of active sessions of subject.
func (e *env) sessions(subject string) int {
	e.t.Helper()
	ss, err := e.store.Sessions(e.ctx, e.index.SubjectID(subject))
	if err != nil {
		e.t.Fatalf("Sessions(%q): %v", subject, err)
	}
	return len(ss)
}

// revokeAll ends every session of subject and returns how many there were.
func (e *env) revokeAll(subject string) int {
	e.t.Helper()
	n, err := e.store.RevokeAll(e.ctx, e.index.SubjectID(subject))
	if err != nil {
		e.t.Fatalf("RevokeAll(%q): %v", subject, err)
	}
	return n
}
