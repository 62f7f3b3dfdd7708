package storetest

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
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

func testRevokeToken(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	other := e.login("alice")
	e.rotate(g.RefreshToken, "")
	// Any genuine generation names the session (RFC 7009), and the store
	// says which it ended.
	ref, err := e.store.RevokeToken(e.ctx, g.RefreshToken)
	if err != nil || ref != (jwtrefresh.SessionRef{Subject: "alice", SessionID: g.SessionID}) {
		t.Fatalf("RevokeToken = %+v, %v; want alice's session %s", ref, err, g.SessionID)
	}
	e.active("alice", g.SessionID, false)
	e.active("alice", other.SessionID, true)
	// Already gone: not an error; the session id still, no subject.
	ref, err = e.store.RevokeToken(e.ctx, g.RefreshToken)
	if err != nil || ref != (jwtrefresh.SessionRef{SessionID: g.SessionID}) {
		t.Fatalf("revoking again = %+v, %v; want only the session id %s", ref, err, g.SessionID)
	}
	if n := e.events.Count(jwtrefresh.EventRevoke); n != 1 {
		t.Fatalf("%d revoke events, want 1", n)
	}
}

// testLookup: Lookup names a token's active session and its claims and
// changes nothing.
func testLookup(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) { c.IdleTimeout = time.Hour })
	g := e.login("alice")
	bare, err := e.store.Create(e.ctx, jwtrefresh.NewSession{Subject: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(tok string) (jwtrefresh.SessionRef, string, error) {
		ref, claims, err := e.store.Lookup(e.ctx, tok)
		return ref, string(claims), err
	}
	ref, claims, err := lookup(g.RefreshToken)
	if err != nil || ref != (jwtrefresh.SessionRef{Subject: "alice", SessionID: g.SessionID}) || claims != `{"role":"user"}` {
		t.Fatalf("Lookup = %+v, %s, %v", ref, claims, err)
	}
	ref, claims, err = lookup(bare.RefreshToken)
	if err != nil || ref != (jwtrefresh.SessionRef{Subject: "bob", SessionID: bare.SessionID}) || claims != "" {
		t.Fatalf("Lookup without claims = %+v, %q, %v", ref, claims, err)
	}
	// Nothing was used up: the token rotates, and its parent, looked up
	// again, is still a token of the session (Lookup does not judge reuse).
	e.clock.Advance(30 * time.Minute)
	r := e.rotate(g.RefreshToken, "")
	if _, _, err := lookup(g.RefreshToken); err != nil {
		t.Fatalf("Lookup of the parent: %v", err)
	}
	if _, _, err := lookup(r.RefreshToken); err != nil {
		t.Fatalf("Lookup of the child: %v", err)
	}
	if n := len(e.events.all()); n != 3 { // two logins, one rotation
		t.Fatalf("%d events, want 3: Lookup reports none", n)
	}
	// Lookup does not extend the idle timeout.
	e.clock.Advance(59 * time.Minute)
	if _, _, err := lookup(r.RefreshToken); err != nil {
		t.Fatalf("Lookup a minute before the idle timeout: %v", err)
	}
	e.clock.Advance(time.Minute)
	_, _, err = lookup(r.RefreshToken)
	wantErr(t, "idle session", err, jwtrefresh.ErrInvalidToken)
	_, _, err = lookup(bare.RefreshToken)
	wantErr(t, "idle session without claims", err, jwtrefresh.ErrInvalidToken)

	g = e.login("alice")
	if _, err := e.store.RevokeToken(e.ctx, g.RefreshToken); err != nil {
		t.Fatal(err)
	}
	_, _, err = lookup(g.RefreshToken)
	wantErr(t, "revoked session", err, jwtrefresh.ErrInvalidToken)
}

func testRevokeSession(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	b := e.login("bob")
	wantErr(t, "another subject's session", e.store.RevokeSession(e.ctx, "bob", g.SessionID), jwtrefresh.ErrSessionNotFound)
	wantErr(t, "malformed id", e.store.RevokeSession(e.ctx, "alice", "nope"), jwtrefresh.ErrSessionNotFound)
	wantErr(t, "empty subject", e.store.RevokeSession(e.ctx, "", g.SessionID), jwtrefresh.ErrInvalidInput)
	e.active("alice", g.SessionID, true)
	if err := e.store.RevokeSession(e.ctx, "alice", g.SessionID); err != nil {
		t.Fatal(err)
	}
	e.active("alice", g.SessionID, false)
	_, err := e.store.Rotate(e.ctx, g.RefreshToken, "")
	wantErr(t, "token of a revoked session", err, jwtrefresh.ErrInvalidToken)
	wantErr(t, "revoking again", e.store.RevokeSession(e.ctx, "alice", g.SessionID), jwtrefresh.ErrSessionNotFound)
	e.active("bob", b.SessionID, true)
	if ev := e.events.Last(jwtrefresh.EventRevoke); ev.Subject != "alice" || ev.SessionID != g.SessionID {
		t.Fatalf("revoke event %+v", ev)
	}
}

func testRevokeAll(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	a := []jwtrefresh.Grant{e.login("alice"), e.login("alice"), e.login("alice")}
	b := e.login("bob")
	n, err := e.store.RevokeAll(e.ctx, "alice")
	if err != nil || n != 3 {
		t.Fatalf("RevokeAll = %d, %v; want 3", n, err)
	}
	if ev := e.events.Last(jwtrefresh.EventRevokeAll); ev.Subject != "alice" || ev.Revoked != 3 {
		t.Fatalf("revoke-all event %+v", ev)
	}
	for _, g := range a {
		_, err := e.store.Rotate(e.ctx, g.RefreshToken, "")
		wantErr(t, "after RevokeAll", err, jwtrefresh.ErrInvalidToken)
	}
	if n, err := e.store.RevokeAll(e.ctx, "alice"); err != nil || n != 0 {
		t.Fatalf("second RevokeAll = %d, %v; want 0", n, err)
	}
	e.active("bob", b.SessionID, true)
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
	e.rotate(first.RefreshToken, "")
	used := e.clock.Now()
	ss, err := e.store.Sessions(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].ID != first.SessionID || ss[1].ID != second.SessionID {
		t.Fatalf("Sessions = %+v, want first (most recently used) then second", ss)
	}
	s := ss[0]
	if !s.Created.Equal(created) || !s.LastUsed.Equal(used) || s.Generation != 2 ||
		!s.Expires.Equal(used.Add(jwtrefresh.DefaultIdleTimeout)) ||
		s.Client != (jwtrefresh.ClientInfo{UserAgent: "storetest", IP: "192.0.2.1", Device: "laptop"}) {
		t.Fatalf("session %+v", s)
	}
}

func testActive(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	other := e.login("alice").SessionID // then revoked: a well-formed id of no session
	if err := e.store.RevokeSession(e.ctx, "alice", other); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sub, sid string
		want     bool
	}{
		{"alice", g.SessionID, true},
		{"bob", g.SessionID, false},
		{"", g.SessionID, false},
		{"alice", "", false},
		{"alice", "not-a-session-id", false},
		{"alice", other, false},
	} {
		e.active(tc.sub, tc.sid, tc.want)
	}
}

func testIdleTimeout(t *testing.T, nb NewBackend) {
	const idle = time.Hour
	e := newEnv(t, nb, func(c *Config) { c.IdleTimeout = idle })
	g := e.login("alice")
	for range 3 { // sliding: each use restarts the clock
		e.clock.Advance(idle - time.Second)
		g = e.rotate(g.RefreshToken, "")
	}
	e.clock.Advance(idle)
	e.active("alice", g.SessionID, false)
	_, err := e.store.Rotate(e.ctx, g.RefreshToken, "")
	wantErr(t, "idle session", err, jwtrefresh.ErrInvalidToken)
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
	g = e.rotate(g.RefreshToken, "")
	e.clock.Advance(50 * time.Minute)
	g = e.rotate(g.RefreshToken, "")
	if !g.Expires.Equal(deadline) {
		t.Fatalf("Expires %v, want the absolute deadline %v", g.Expires, deadline)
	}
	e.clock.Advance(50 * time.Minute)
	_, err := e.store.Rotate(e.ctx, g.RefreshToken, "")
	wantErr(t, "past the absolute lifetime", err, jwtrefresh.ErrInvalidToken)
}

func testMaxSessions(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) { c.MaxSessions = 3 })
	var gs []jwtrefresh.Grant
	for range 3 {
		gs = append(gs, e.login("alice"))
		e.clock.Advance(time.Second)
	}
	for _, g := range gs {
		if g.Evicted != nil {
			t.Fatalf("a login below the cap evicted %v", g.Evicted)
		}
	}
	e.rotate(gs[0].RefreshToken, "") // now the second is closest to expiry
	e.clock.Advance(time.Second)
	gs = append(gs, e.login("alice"))
	if ev := gs[3].Evicted; len(ev) != 1 || ev[0] != gs[1].SessionID {
		t.Fatalf("Grant.Evicted = %v, want [%s]", ev, gs[1].SessionID)
	}
	if n := e.sessions("alice"); n != 3 {
		t.Fatalf("%d sessions, want the cap 3", n)
	}
	e.active("alice", gs[1].SessionID, false)
	for _, i := range []int{0, 2, 3} {
		e.active("alice", gs[i].SessionID, true)
	}
	if ev := e.events.Last(jwtrefresh.EventEvict); e.events.Count(jwtrefresh.EventEvict) != 1 || ev.SessionID != gs[1].SessionID {
		t.Fatalf("evict events %d, last %+v", e.events.Count(jwtrefresh.EventEvict), ev)
	}
	// Expired sessions make room before anyone is evicted.
	e.clock.Advance(jwtrefresh.DefaultIdleTimeout)
	for range 3 {
		if g := e.login("alice"); g.Evicted != nil {
			t.Fatalf("expired sessions reported as evicted: %v", g.Evicted)
		}
	}
	if n := e.events.Count(jwtrefresh.EventEvict); n != 1 {
		t.Fatalf("%d evictions, want still 1", n)
	}
}

// testEvictionOrder: over three weeks of logins and rotations at random
// times, every login at the cap evicts exactly the session closest to expiry,
// by the deadlines the grants reported. (A store may keep its index loosely
// ordered, as long as eviction is exact.)
func testEvictionOrder(t *testing.T, nb NewBackend) {
	const max = 5
	e := newEnv(t, nb, func(c *Config) { c.MaxSessions = max })
	rng := rand.New(rand.NewPCG(1, 2))
	type session struct {
		token   string
		expires time.Time
	}
	live := map[string]*session{}
	var evicted []string // by the last login
	login := func() {
		g := e.login("alice")
		live[g.SessionID] = &session{g.RefreshToken, g.Expires}
		evicted = g.Evicted
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
			g := e.rotate(live[sid].token, "")
			live[sid] = &session{g.RefreshToken, g.Expires}
			continue
		}
		victim := ids[0]
		for _, sid := range ids {
			if live[sid].expires.Before(live[victim].expires) {
				victim = sid
			}
		}
		login()
		evictions++
		if n, ev := e.events.Count(jwtrefresh.EventEvict), e.events.Last(jwtrefresh.EventEvict); n != evictions || ev.SessionID != victim {
			t.Fatalf("login %d at the cap evicted %s (%d evictions), want %s, the closest to expiry", evictions, ev.SessionID, n, victim)
		}
		if len(evicted) != 1 || evicted[0] != victim {
			t.Fatalf("login %d at the cap: Grant.Evicted = %v, want [%s]", evictions, evicted, victim)
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

// testCancelledContext: a caller's cancelled context is "unavailable", never
// "invalid", and changes nothing.
func testCancelledContext(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.store.Create(ctx, jwtrefresh.NewSession{Subject: "alice"})
	wantErr(t, "Create", err, jwtrefresh.ErrUnavailable)
	_, err = e.store.Rotate(ctx, g.RefreshToken, "")
	wantErr(t, "Rotate", err, jwtrefresh.ErrUnavailable)
	wantErr(t, "Rotate", err, context.Canceled)
	_, err = e.store.RevokeToken(ctx, g.RefreshToken)
	wantErr(t, "RevokeToken", err, jwtrefresh.ErrUnavailable)
	_, _, err = e.store.Lookup(ctx, g.RefreshToken)
	wantErr(t, "Lookup", err, jwtrefresh.ErrUnavailable)
	wantErr(t, "RevokeSession", e.store.RevokeSession(ctx, "alice", g.SessionID), jwtrefresh.ErrUnavailable)
	_, err = e.store.RevokeAll(ctx, "alice")
	wantErr(t, "RevokeAll", err, jwtrefresh.ErrUnavailable)
	_, err = e.store.Sessions(ctx, "alice")
	wantErr(t, "Sessions", err, jwtrefresh.ErrUnavailable)
	_, err = e.store.Active(ctx, "alice", g.SessionID)
	wantErr(t, "Active", err, jwtrefresh.ErrUnavailable)
	if n := e.sessions("alice"); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	e.rotate(g.RefreshToken, "")
}
