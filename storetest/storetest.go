// Package storetest is the conformance suite of jwtrefresh.Store: every
// implementation must pass Run. Each subtest checks one clause of the
// contract (RFC 6749 §6 refresh, RFC 7009 revocation, RFC 9700 §4.14
// rotation with reuse detection) on a fresh, empty store, with a fake clock
// so expiry is tested without sleeping.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
)

// Config is what the suite asks of a store. Zero fields mean the contract's
// defaults (strict reuse, RevokeSubject, 30-day idle timeout, no absolute
// lifetime, 100 sessions per subject).
type Config struct {
	Keys             *jwtrefresh.RefreshKeyring // always set
	ReuseGrace       time.Duration
	ReusePolicy      jwtrefresh.ReusePolicy
	IdleTimeout      time.Duration
	AbsoluteLifetime time.Duration
	MaxSessions      int
	Clock            func() time.Time     // always set; the store must read time only from it
	Events           jwtrefresh.EventHook // always set
}

// Open returns a Store configured by cfg on the storage of one subtest.
// Stores opened by one Open share their data, like two server instances on
// one backend.
type Open func(cfg Config) jwtrefresh.Store

// NewBackend prepares fresh, empty storage for subtest t (for Redis, a new
// key prefix) and returns how to open stores on it. It must clean up through
// t.Cleanup.
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

// Clock is a settable time source.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at the current time, to the millisecond.
func NewClock() *Clock { return &Clock{now: time.Now().Truncate(time.Millisecond)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// NewKey returns a random refresh-token key of that version.
func NewKey(version uint32) jwtrefresh.RefreshKey {
	k := jwtrefresh.RefreshKey{Version: version, Secret: make([]byte, 32)}
	_, _ = rand.Read(k.Secret)
	return k
}

// Recorder collects events; safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []jwtrefresh.Event
}

// Hook is the EventHook that records.
func (r *Recorder) Hook(_ context.Context, e jwtrefresh.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Count returns how many events of kind were recorded.
func (r *Recorder) Count(kind jwtrefresh.EventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// all returns a copy of the events recorded so far.
func (r *Recorder) all() []jwtrefresh.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]jwtrefresh.Event(nil), r.events...)
}

// Last returns the last event of kind (zero Event if none).
func (r *Recorder) Last(kind jwtrefresh.EventKind) jwtrefresh.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Kind == kind {
			return r.events[i]
		}
	}
	return jwtrefresh.Event{}
}

// env is one subtest's world: a backend, a clock, a keyring, events.
type env struct {
	t      *testing.T
	open   Open
	clock  *Clock
	keys   *jwtrefresh.RefreshKeyring
	events *Recorder
	store  jwtrefresh.Store
	ctx    context.Context
}

func newEnv(t *testing.T, nb NewBackend, adjust func(*Config)) *env {
	t.Helper()
	keys, err := jwtrefresh.NewRefreshKeyring(NewKey(1))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, open: nb(t), clock: NewClock(), keys: keys, events: &Recorder{}, ctx: context.Background()}
	e.store = e.openStore(adjust)
	return e
}

// openStore opens another store on the same storage, with the env's clock,
// keys and events unless adjust changes them.
func (e *env) openStore(adjust func(*Config)) jwtrefresh.Store {
	cfg := Config{Keys: e.keys, Clock: e.clock.Now, Events: e.events.Hook}
	if adjust != nil {
		adjust(&cfg)
	}
	return e.open(cfg)
}

func (e *env) login(subject string) jwtrefresh.Grant {
	e.t.Helper()
	g, err := e.store.Create(e.ctx, jwtrefresh.NewSession{
		Subject: subject,
		Claims:  json.RawMessage(`{"role":"user"}`),
		Client:  jwtrefresh.ClientInfo{UserAgent: "storetest", IP: "192.0.2.1", Device: "laptop"},
	})
	if err != nil {
		e.t.Fatalf("Create(%q): %v", subject, err)
	}
	return g
}

func (e *env) rotate(tok, ik string) jwtrefresh.Grant {
	e.t.Helper()
	g, err := e.store.Rotate(e.ctx, tok, ik)
	if err != nil {
		e.t.Fatalf("Rotate: %v", err)
	}
	return g
}

// wantErr asserts that err matches target under errors.Is. Reuse must
// come as a *jwtrefresh.ReuseError.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
	var re *jwtrefresh.ReuseError
	if target == jwtrefresh.ErrReuseDetected && !errors.As(err, &re) {
		t.Fatalf("%s: error %v (%T) is not a *jwtrefresh.ReuseError", what, err, err)
	}
}

// wantReuse asserts that err is a *jwtrefresh.ReuseError naming exactly
// what want names, with no partial failure.
func wantReuse(t *testing.T, what string, err error, want jwtrefresh.ReuseError) {
	t.Helper()
	var re *jwtrefresh.ReuseError
	if !errors.As(err, &re) || !errors.Is(err, jwtrefresh.ErrReuseDetected) {
		t.Fatalf("%s: error %v (%T), want a *jwtrefresh.ReuseError matching ErrReuseDetected", what, err, err)
	}
	if re.Subject != want.Subject || re.SessionID != want.SessionID || re.Policy != want.Policy ||
		re.Revoked != want.Revoked || re.Err != nil {
		t.Fatalf("%s: reuse error {sub %q sid %s policy %v revoked %d err %v}, want {sub %q sid %s policy %v revoked %d err <nil>}",
			what, re.Subject, re.SessionID, re.Policy, re.Revoked, re.Err,
			want.Subject, want.SessionID, want.Policy, want.Revoked)
	}
}

// active asserts whether a session is active.
func (e *env) active(subject, sid string, want bool) {
	e.t.Helper()
	got, err := e.store.Active(e.ctx, subject, sid)
	if err != nil {
		e.t.Fatalf("Active: %v", err)
	}
	if got != want {
		e.t.Fatalf("Active(%q, %s) = %v, want %v", subject, sid, got, want)
	}
}

// sessions returns the number of active sessions of subject.
func (e *env) sessions(subject string) int {
	e.t.Helper()
	ss, err := e.store.Sessions(e.ctx, subject)
	if err != nil {
		e.t.Fatalf("Sessions(%q): %v", subject, err)
	}
	return len(ss)
}
