package storetest

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

// The push (session.Watcher), for stores that implement it; the suite
// skips these clauses for others. Each watches through a second store on
// the same backend, as another server instance would.
var _ = register(
	clause{"PushRevoke", testPushRevoke},
	clause{"PushRevokeAll", testPushRevokeAll},
	clause{"PushReuseSubject", testPushReuseSubject},
	clause{"PushReuseFamily", testPushReuseFamily},
	clause{"PushEviction", testPushEviction},
	clause{"PushNothingElse", testPushNothingElse},
	clause{"PushStop", testPushStop},
)

// pushWait bounds the wait for a pushed end. It is a liveness bound, not
// a measure: a store delivers in milliseconds.
const pushWait = 10 * time.Second

// pushed is one Watch, collecting what it is told.
type pushed struct {
	t    *testing.T
	ids  chan []string
	live chan struct{} // closed at the first live(true)
	stop func()
}

// watch starts a Watch through another store of e's backend and waits
// until it is live; it skips the test for a store that does not push.
func (e *env) watch() *pushed {
	e.t.Helper()
	w, ok := e.openStore(nil).(session.Watcher)
	if !ok {
		e.t.Skip("storetest: the store does not push ends (it is not a session.Watcher)")
	}
	p := &pushed{t: e.t, ids: make(chan []string, 1024), live: make(chan struct{})}
	var first bool
	p.stop = w.Watch(func(ids []string) { p.ids <- ids }, func(ok bool) {
		if ok && !first {
			first = true
			close(p.live)
		}
	})
	e.t.Cleanup(p.stop)
	select {
	case <-p.live:
	case <-time.After(pushWait):
		e.t.Fatalf("Watch: not live after %v", pushWait)
	}
	return p
}

// next requires the next push to name exactly ids (in any order).
func (p *pushed) next(what string, ids ...string) {
	p.t.Helper()
	select {
	case got := <-p.ids:
		if !sameIDs(got, ids) {
			p.t.Fatalf("%s: pushed %v, want %v", what, got, ids)
		}
	case <-time.After(pushWait):
		p.t.Fatalf("%s: nothing pushed within %v, want %v", what, pushWait, ids)
	}
}

func sameIDs(a, b []string) bool {
	set := func(ids []string) map[string]bool {
		m := map[string]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	return len(a) == len(b) && maps.Equal(set(a), set(b))
}

// testPushRevoke: Revoke pushes the session's id; a Revoke that finds
// nothing pushes nothing (the next push is the next end's).
func testPushRevoke(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	p := e.watch()
	a, b := e.login("alice"), e.login("alice")
	if _, err := e.store.Revoke(e.ctx, a.tok.Subject, a.sid(), "alice"); err != nil {
		t.Fatal(err)
	}
	p.next("Revoke", a.sid())
	if _, err := e.store.Revoke(e.ctx, a.tok.Subject, a.sid(), ""); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("revoking again: %v", err)
	}
	if _, err := e.store.Revoke(e.ctx, b.tok.Subject, b.sid(), ""); err != nil {
		t.Fatal(err)
	}
	p.next("Revoke by token", b.sid())
}

// testPushRevokeAll: RevokeAll pushes every session of the subject, and
// only those.
func testPushRevokeAll(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	p := e.watch()
	a := []grant{e.login("alice"), e.login("alice"), e.login("alice")}
	bob := e.login("bob")
	if n := e.revokeAll("alice"); n != 3 {
		t.Fatalf("RevokeAll = %d", n)
	}
	p.next("RevokeAll", a[0].sid(), a[1].sid(), a[2].sid())
	if _, err := e.store.Revoke(e.ctx, bob.tok.Subject, bob.sid(), "bob"); err != nil {
		t.Fatal(err)
	}
	p.next("bob's revocation", bob.sid())
}

// testPushReuseSubject: reuse detection under RevokeSubject pushes every
// session of the subject; the rotation before it pushes nothing.
func testPushReuseSubject(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	p := e.watch()
	g, other := e.login("alice"), e.login("alice")
	e.rotate(g.tok, "")
	want(t, "reuse", e.try(g.tok, ""), session.Reused)
	p.next("reuse", g.sid(), other.sid())
}

// testPushReuseFamily: under RevokeFamily only the reused session.
func testPushReuseFamily(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) { c.ReusePolicy = session.RevokeFamily })
	p := e.watch()
	g := e.login("alice")
	e.login("alice")
	e.rotate(g.tok, "")
	want(t, "reuse", e.try(g.tok, ""), session.Reused)
	p.next("reuse", g.sid())
}

// testPushEviction: a login at the cap pushes the evicted session.
func testPushEviction(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) { c.MaxSessions = 2 })
	p := e.watch()
	e.login("alice")
	e.clock.Advance(time.Second)
	e.login("alice")
	e.clock.Advance(time.Second)
	g := e.login("alice")
	if len(g.res.Evicted) != 1 {
		t.Fatalf("Evicted = %v", g.res.Evicted)
	}
	p.next("eviction", g.res.Evicted...)
}

// testPushNothingElse: logins, rotations, replays, heals, refusals, reads
// and expiry push nothing: the next push after all of them is a revocation's.
func testPushNothingElse(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) { c.IdleTimeout = time.Hour })
	p := e.watch()
	g := e.login("alice")
	r := e.rotate(g.tok, "push-idempotency-key-0001")
	want(t, "replay", e.try(g.tok, "push-idempotency-key-0001"), session.Replayed)
	want(t, "key repeated", e.try(r.tok, "push-idempotency-key-0001"), session.KeyRepeated)
	ahead := grant{tok: r.successor(e)}
	want(t, "two generations ahead", e.try(ahead.successor(e), ""), session.Invalid)
	want(t, "a healed rotation", e.try(ahead.tok, ""), session.Healed)
	if _, err := e.store.Revoke(e.ctx, e.index.SubjectID("bob"), r.sid(), "bob"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("revoking alice's session as bob's: %v", err)
	}
	e.sessions("alice")
	e.active("alice", r.sid(), true)
	idle := e.login("bob")
	e.clock.Advance(time.Hour) // both expire, unpushed
	e.active("bob", idle.sid(), false)
	last := e.login("carol")
	if _, err := e.store.Revoke(e.ctx, last.tok.Subject, last.sid(), ""); err != nil {
		t.Fatal(err)
	}
	p.next("the first push", last.sid())
}

// successor returns g's child without presenting g: a generation the store
// has not seen.
func (g grant) successor(e *env) session.Token {
	e.t.Helper()
	rot, err := e.secrets.Rotation(g.tok, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return rot.Child
}

// testPushStop: once stop has returned, the watch is told nothing more,
// while another watch still is.
func testPushStop(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	stopped, running := e.watch(), e.watch()
	stopped.stop()
	ids := []string{e.login("alice").sid(), e.login("alice").sid()}
	e.revokeAll("alice")
	running.next("the running watch", ids...)
	select {
	case got := <-stopped.ids:
		t.Fatalf("a stopped watch was told %v", got)
	default:
	}
}
