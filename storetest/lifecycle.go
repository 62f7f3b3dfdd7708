package storetest

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

var _ = register(
	clause{"RevokeToken", testRevokeToken},
	clause{"Lookup", testLookup},
	clause{"RevokeSession", testRevokeSession},
	clause{"RevokeAll", testRevokeAll},
	clause{"Sessions", testSessions},
	clause{"Active", testActive},
	clause{"IdleTimeout", testIdleTimeout},
	clause{"AbsoluteLifetime", testAbsoluteLifetime},
	clause{"MaxSessions", testMaxSessions},
	clause{"EvictionOrder", testEvictionOrder},
	clause{"CancelledContext", testCancelledContext},
)

// testRevokeToken: a session is revoked by any genuine generation of its
// token (RFC 7009), and the store names its subject.
func testRevokeToken(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	other := e.login("alice")
	r := e.rotate(g.tok, "")
	res, err := e.store.Revoke(e.ctx, g.tok.Subject, g.sid(), "")
	if err != nil || res.Subject != "alice" {
		t.Fatalf("Revoke = %+v, %v; want alice's session", res, err)
	}
	e.active("alice", g.sid(), false)
	e.active("alice", other.sid(), true)
	want(t, "the revoked session's token", e.try(r.tok, ""), session.Invalid)
	_, err = e.store.Revoke(e.ctx, g.tok.Subject, g.sid(), "")
	wantErr(t, "revoking again", err, session.ErrNotFound)
}

// testLookup: Lookup names a token's active session and its claims and
// changes nothing.
func testLookup(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) { c.IdleTimeout = time.Hour })
	g := e.login("alice")
	bare := e.loginWith(e.store, e.index, "bob", nil)
	lookup := func(tok session.Token) session.Result {
		t.Helper()
		rot, err := e.secrets.Rotation(tok, "")
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.store.Lookup(e.ctx, rot)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		return res
	}
	if res := lookup(g.tok); res.Outcome != session.Found || res.Subject != "alice" || string(res.Claims) != `{"role":"user"}` {
		t.Fatalf("Lookup = %+v", res)
	}
	if res := lookup(bare.tok); res.Outcome != session.Found || res.Subject != "bob" || res.Claims != nil {
		t.Fatalf("Lookup without claims = %+v", res)
	}
	// Nothing was used up: the token rotates, and its parent, looked up
	// again, is still a token of the session (Lookup does not judge reuse).
	e.clock.Advance(30 * time.Minute)
	r := e.rotate(g.tok, "")
	want(t, "Lookup of the parent", lookup(g.tok).Outcome, session.Found)
	want(t, "Lookup of the child", lookup(r.tok).Outcome, session.Found)
	// Lookup does not extend the idle timeout.
	e.clock.Advance(59 * time.Minute)
	want(t, "a minute before the idle timeout", lookup(r.tok).Outcome, session.Found)
	e.clock.Advance(time.Minute)
	want(t, "idle session", lookup(r.tok).Outcome, session.Invalid)
	want(t, "idle session without claims", lookup(bare.tok).Outcome, session.Invalid)
	g = e.login("alice")
	if _, err := e.store.Revoke(e.ctx, g.tok.Subject, g.sid(), ""); err != nil {
		t.Fatal(err)
	}
	want(t, "revoked session", lookup(g.tok).Outcome, session.Invalid)
}

func testRevokeSession(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	b := e.login("bob")
	revoke := func(subject, sid string) error {
		_, err := e.store.Revoke(e.ctx, e.index.SubjectID(subject), sid, subject)
		return err
	}
	wantErr(t, "another subject's session", revoke("bob", g.sid()), session.ErrNotFound)
	wantErr(t, "malformed id", revoke("alice", "nope"), session.ErrNotFound)
	_, err := e.store.Revoke(e.ctx, g.tok.Subject, g.sid(), "mallory")
	wantErr(t, "a subject the record does not name", err, session.ErrNotFound)
	e.active("alice", g.sid(), true)
	if err := revoke("alice", g.sid()); err != nil {
		t.Fatal(err)
	}
	e.active("alice", g.sid(), false)
	want(t, "token of a revoked session", e.try(g.tok, ""), session.Invalid)
	wantErr(t, "revoking again", revoke("alice", g.sid()), session.ErrNotFound)
	e.active("bob", b.sid(), true)
}

func testRevokeAll(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	a := []grant{e.login("alice"), e.login("alice"), e.login("alice")}
	b := e.login("bob")
	if n := e.revokeAll("alice"); n != 3 {
		t.Fatalf("RevokeAll = %d; want 3", n)
	}
	for _, g := range a {
		want(t, "after RevokeAll", e.try(g.tok, ""), session.Invalid)
	}
	if n := e.revokeAll("alice"); n != 0 {
		t.Fatalf("second RevokeAll = %d; want 0", n)
	}
	e.active("bob", b.sid(), true)
}

func testSessions(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	if n := e.sessions("nobody"); n != 0 {
		t.Fatalf("unknown subject has %d sessions", n)
	}
	first := e.login("alice")
	created := e.clock.Now()
	e.clock.Advance(time.Minute)
	second := e.login("alice")
	e.clock.Advance(time.Minute)
	e.rotate(first.tok, "")
	used := e.clock.Now()
	ss, err := e.store.Sessions(e.ctx, e.index.SubjectID("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].ID != first.sid() || ss[1].ID != second.sid() {
		t.Fatalf("Sessions = %+v, want first (most recently used) then second", ss)
	}
	s := ss[0]
	if !s.Created.Equal(created) || !s.LastUsed.Equal(used) || s.Generation != 2 ||
		!s.Expires.Equal(used.Add(30*24*time.Hour)) ||
		s.Client != (session.ClientInfo{UserAgent: "storetest", IP: "192.0.2.1", Device: "laptop"}) {
		t.Fatalf("session %+v", s)
	}
}

// testActive: Active names the session's deadline, which moves with each
// rotation and stops at the absolute lifetime; it needs no subject id, and
// the record's subject must match.
func testActive(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) {
		c.IdleTimeout = time.Hour
		c.AbsoluteLifetime = 90 * time.Minute
	})
	g := e.login("alice")
	other := e.login("alice").sid() // then revoked: a well-formed id of no session
	if _, err := e.store.Revoke(e.ctx, g.tok.Subject, other, "alice"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sub, sid string
		want     bool
	}{
		{"alice", g.sid(), true},
		{"bob", g.sid(), false},
		{"", g.sid(), false},
		{"alice", "", false},
		{"alice", "not-a-session-id", false},
		{"alice", other, false},
		// The record's subject counts, not only the id: a prefix of a
		// subject is not the subject.
		{"alic", g.sid(), false},
	} {
		e.active(tc.sub, tc.sid, tc.want)
	}
	if got := e.active("alice", g.sid(), true); !got.Equal(g.res.Expires) {
		t.Fatalf("Active = %v, want the deadline Create reported, %v", got, g.res.Expires)
	}
	e.clock.Advance(40 * time.Minute)
	g = e.rotate(g.tok, "")
	if got := e.active("alice", g.sid(), true); !got.Equal(g.res.Expires) || !got.Equal(e.clock.Now().Add(50*time.Minute)) {
		t.Fatalf("Active after a rotation = %v, want the absolute deadline %v", got, g.res.Expires)
	}
}

func testIdleTimeout(t *testing.T, nb NewBackend) {
	const idle = time.Hour
	e := newEnv(t, nb, func(c *Config) { c.IdleTimeout = idle })
	g := e.login("alice")
	for range 3 { // sliding: each use restarts the clock
		e.clock.Advance(idle - time.Second)
		g = e.rotate(g.tok, "")
	}
	e.clock.Advance(idle)
	e.active("alice", g.sid(), false)
	want(t, "idle session", e.try(g.tok, ""), session.Invalid)
	if n := e.sessions("alice"); n != 0 {
		t.Fatalf("%d sessions after idle timeout", n)
	}
}

func testAbsoluteLifetime(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) {
		c.IdleTimeout = time.Hour
		c.AbsoluteLifetime = 150 * time.Minute
	})
	g := e.login("alice")
	deadline := e.clock.Now().Add(150 * time.Minute)
	e.clock.Advance(50 * time.Minute)
	g = e.rotate(g.tok, "")
	e.clock.Advance(50 * time.Minute)
	g = e.rotate(g.tok, "")
	if !g.res.Expires.Equal(deadline) {
		t.Fatalf("Expires %v, want the absolute deadline %v", g.res.Expires, deadline)
	}
	e.clock.Advance(50 * time.Minute)
	want(t, "past the absolute lifetime", e.try(g.tok, ""), session.Invalid)
}

func testMaxSessions(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) { c.MaxSessions = 3 })
	var gs []grant
	for range 3 {
		gs = append(gs, e.login("alice"))
		e.clock.Advance(time.Second)
	}
	for _, g := range gs {
		if g.res.Evicted != nil {
			t.Fatalf("a login below the cap evicted %v", g.res.Evicted)
		}
	}
	gs[0] = e.rotate(gs[0].tok, "") // now the second is closest to expiry
	e.clock.Advance(time.Second)
	gs = append(gs, e.login("alice"))
	if ev := gs[3].res.Evicted; len(ev) != 1 || ev[0] != gs[1].sid() {
		t.Fatalf("Evicted = %v, want [%s]", ev, gs[1].sid())
	}
	if n := e.sessions("alice"); n != 3 {
		t.Fatalf("%d sessions, want the cap 3", n)
	}
	e.active("alice", gs[1].sid(), false)
	for _, i := range []int{0, 2, 3} {
		e.active("alice", gs[i].sid(), true)
	}
	// Expired sessions make room before anyone is evicted.
	e.clock.Advance(30 * 24 * time.Hour)
	for range 3 {
		if g := e.login("alice"); g.res.Evicted != nil {
			t.Fatalf("expired sessions reported as evicted: %v", g.res.Evicted)
		}
	}
}

// testEvictionOrder: over three weeks of logins and rotations at random
// times, every login at the cap evicts exactly the session closest to
// expiry, by the deadlines the store reported. (A store may keep its index
// loosely ordered, as long as eviction is exact.)
func testEvictionOrder(t *testing.T, nb NewBackend) {
	const max = 5
	e := newEnv(t, nb, func(c *Config) { c.MaxSessions = max })
	rng := rand.New(rand.NewPCG(1, 2))
	live := map[string]grant{}
	var evicted []string // by the last login
	login := func() {
		g := e.login("alice")
		live[g.sid()] = g
		evicted = g.res.Evicted
	}
	// Steps of at most 8 hours: in 60 steps no session reaches the 30-day
	// idle timeout, so every departure is an eviction.
	advance := func() { e.clock.Advance(time.Duration(1+rng.Int64N(8*3600*1000)) * time.Millisecond) }
	for range max {
		login()
		advance()
	}
	evictions := 0
	for range 60 {
		advance()
		ids := slices.Sorted(maps.Keys(live))
		if rng.IntN(3) > 0 {
			sid := ids[rng.IntN(len(ids))]
			live[sid] = e.rotate(live[sid].tok, "")
			continue
		}
		victim := ids[0]
		for _, sid := range ids {
			if live[sid].res.Expires.Before(live[victim].res.Expires) {
				victim = sid
			}
		}
		login()
		evictions++
		if len(evicted) != 1 || evicted[0] != victim {
			t.Fatalf("login %d at the cap: Evicted = %v, want [%s], the closest to expiry", evictions, evicted, victim)
		}
		delete(live, victim)
		e.active("alice", victim, false)
	}
	if evictions == 0 {
		t.Fatal("no login at the cap")
	}
	for sid := range live {
		e.active("alice", sid, true)
	}
	if n := e.sessions("alice"); n != max {
		t.Fatalf("%d sessions, want %d", n, max)
	}
}

// testCancelledContext: a caller's cancelled context is "unavailable",
// never "invalid", and changes nothing.
func testCancelledContext(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	id := g.tok.Subject
	tok, child, seal := e.index.NewFamily("alice")
	_, err := e.store.Create(ctx, tok, child, session.NewSession{Subject: "alice"}, seal)
	wantErr(t, "Create", err, session.ErrUnavailable)
	rot, _ := e.secrets.Rotation(g.tok, "")
	_, err = e.store.Rotate(ctx, rot)
	wantErr(t, "Rotate", err, session.ErrUnavailable)
	wantErr(t, "Rotate", err, context.Canceled)
	_, err = e.store.Lookup(ctx, rot)
	wantErr(t, "Lookup", err, session.ErrUnavailable)
	_, err = e.store.Revoke(ctx, id, g.sid(), "")
	wantErr(t, "Revoke", err, session.ErrUnavailable)
	_, err = e.store.RevokeAll(ctx, id)
	wantErr(t, "RevokeAll", err, session.ErrUnavailable)
	_, err = e.store.Sessions(ctx, id)
	wantErr(t, "Sessions", err, session.ErrUnavailable)
	_, err = e.store.Active(ctx, g.sid(), "alice")
	wantErr(t, "Active", err, session.ErrUnavailable)
	_, err = e.store.LoadOrStore(ctx, "storetest", []byte("x"))
	wantErr(t, "LoadOrStore", err, session.ErrUnavailable)
	if n := e.sessions("alice"); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	e.rotate(g.tok, "")
}
