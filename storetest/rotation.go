package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

var _ = register(
	clause{"CreateThenRotate", testCreateThenRotate},
	clause{"ChainOf1000", testChain},
	clause{"UsedTokenIsReuse", testUsedTokenIsReuse},
	clause{"ReuseRevokesSubjectOnly", testReuseRevokesSubjectOnly},
	clause{"ReusePolicyFamily", testReusePolicyFamily},
	clause{"IdempotentRetry", testIdempotentRetry},
	clause{"ConstantKeyRefused", testConstantKey},
	clause{"GraceWindow", testGraceWindow},
	clause{"WrongProof", testWrongProof},
	clause{"SharedBackend", testSharedBackend},
	clause{"InvalidInput", testInvalidInput},
)

func testCreateThenRotate(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	if want := e.clock.Now().Add(30 * 24 * time.Hour); !g.res.Expires.Equal(want) || g.res.Evicted != nil {
		t.Fatalf("Create: expires %v, evicted %v; want %v and none", g.res.Expires, g.res.Evicted, want)
	}
	e.active("alice", g.sid(), true)

	e.clock.Advance(time.Minute)
	r := e.rotate(g.tok, "")
	if r.res.Subject != "alice" || string(r.res.Claims) != `{"role":"user"}` || r.tok.Generation != 2 {
		t.Fatalf("Rotate: %+v", r.res)
	}
	if want := e.clock.Now().Add(30 * 24 * time.Hour); !r.res.Expires.Equal(want) {
		t.Fatalf("Expires %v, want %v (sliding)", r.res.Expires, want)
	}
	want(t, "the used token", e.try(g.tok, ""), session.Reused)
}

func testChain(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	for i := range 1000 {
		g = e.rotate(g.tok, "")
		if g.tok.Generation != uint64(i+2) {
			t.Fatalf("rotation %d: generation %d", i+1, g.tok.Generation)
		}
	}
	if n := e.sessions("alice"); n != 1 {
		t.Fatalf("%d sessions after 1000 rotations, want 1", n)
	}
}

func testUsedTokenIsReuse(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	r := e.rotate(g.tok, "idempotency-key-1")
	used, err := e.redeem(e.store, e.secrets, g.tok, "") // no key: not a retry
	if err != nil || used.res.Outcome != session.Reused || used.res.Subject != "alice" || used.res.Ended != 1 {
		t.Fatalf("used token again: %+v, %v; want Reused, alice, 1 ended", used.res, err)
	}
	// The reuse revoked the family: everything of it is invalid now.
	want(t, "used token with another key", e.try(g.tok, "idempotency-key-2"), session.Invalid)
	want(t, "child after reuse", e.try(r.tok, ""), session.Invalid)
	e.active("alice", g.sid(), false)
}

func testReuseRevokesSubjectOnly(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	a := []grant{e.login("alice"), e.login("alice"), e.login("alice")}
	b := e.login("bob")
	used := a[0].tok
	a[0] = e.rotate(used, "")
	g, _ := e.redeem(e.store, e.secrets, used, "")
	if g.res.Outcome != session.Reused || g.res.Ended != 3 {
		t.Fatalf("reuse: %+v, want Reused with 3 ended", g.res)
	}
	for _, g := range a {
		e.active("alice", g.sid(), false)
		want(t, "alice's session", e.try(g.tok, ""), session.Invalid)
	}
	if n := e.sessions("alice"); n != 0 {
		t.Fatalf("alice has %d sessions after reuse, want 0", n)
	}
	e.active("bob", b.sid(), true)
	e.rotate(b.tok, "")
}

func testReusePolicyFamily(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) { c.ReusePolicy = session.RevokeFamily })
	a1, a2 := e.login("alice"), e.login("alice")
	e.rotate(a1.tok, "")
	g, _ := e.redeem(e.store, e.secrets, a1.tok, "")
	if g.res.Outcome != session.Reused || g.res.Ended != 1 || g.res.Subject != "alice" {
		t.Fatalf("reuse: %+v, want Reused with 1 ended", g.res)
	}
	e.active("alice", a1.sid(), false)
	e.active("alice", a2.sid(), true)
	e.rotate(a2.tok, "")
}

func testIdempotentRetry(t *testing.T, nb NewBackend) {
	for _, tc := range []struct {
		name    string
		retryIK string
		useNext bool // the child is used before the retry
		want    session.Outcome
	}{
		{"SameKey", "idempotency-key-k", false, session.Replayed},
		{"OtherKey", "idempotency-key-other", false, session.Reused},
		{"NoKey", "", false, session.Reused},
		{"SameKeyChildUsed", "idempotency-key-k", true, session.Reused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nb, nil)
			g := e.login("alice")
			r := e.rotate(g.tok, "idempotency-key-k")
			if tc.useNext {
				e.rotate(r.tok, "idempotency-key-k2")
			}
			e.clock.Advance(time.Hour) // idempotency does not expire with a window
			again, err := e.redeem(e.store, e.secrets, g.tok, tc.retryIK)
			if err != nil || again.res.Outcome != tc.want {
				t.Fatalf("retry: %+v, %v; want outcome %d", again.res, err, tc.want)
			}
			if tc.want != session.Replayed {
				return
			}
			if again.tok != r.tok || again.res.Subject != "alice" || string(again.res.Claims) != `{"role":"user"}` ||
				again.res.Version != 1 || !again.res.Expires.Equal(r.res.Expires) {
				t.Fatalf("retry gave %+v, want the first rotation's child again", again.res)
			}
			e.rotate(again.tok, "") // the child is still good
		})
	}
}

// testConstantKey: a refresh whose key equals the one of the rotation
// that made the presented token is refused and changes nothing, so that a
// client with a constant key fails at once instead of handing its
// sessions to whoever knows the key.
func testConstantKey(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	const key = "0000000000000000"
	r := e.rotate(g.tok, key)
	want(t, "the same key for the next refresh", e.try(r.tok, key), session.KeyRepeated)
	want(t, "the same key again", e.try(r.tok, key), session.KeyRepeated)
	// Nothing was used up: the retry of the first refresh still replays,
	// and the current token rotates with a new key.
	again, _ := e.redeem(e.store, e.secrets, g.tok, key)
	want(t, "the parent with its key", again.res.Outcome, session.Replayed)
	e.rotate(r.tok, "1111111111111111")
}

func testGraceWindow(t *testing.T, nb NewBackend) {
	const grace = 10 * time.Second
	grace10 := func(c *Config) { c.ReuseGrace = grace }
	t.Run("ParentWithin", func(t *testing.T) {
		e := newEnv(t, nb, grace10)
		g := e.login("alice")
		r := e.rotate(g.tok, "")
		e.clock.Advance(grace - time.Millisecond)
		again, _ := e.redeem(e.store, e.secrets, g.tok, "")
		if again.res.Outcome != session.Replayed || again.tok != r.tok {
			t.Fatalf("grace replay: outcome %d, same child %v", again.res.Outcome, again.tok == r.tok)
		}
		e.rotate(r.tok, "")
	})
	t.Run("ParentAfter", func(t *testing.T) {
		e := newEnv(t, nb, grace10)
		g := e.login("alice")
		e.rotate(g.tok, "")
		e.clock.Advance(grace)
		want(t, "parent after the window", e.try(g.tok, ""), session.Reused)
		e.active("alice", g.sid(), false)
	})
	t.Run("GrandparentWithin", func(t *testing.T) {
		e := newEnv(t, nb, grace10)
		g := e.login("alice")
		r := e.rotate(g.tok, "")
		e.rotate(r.tok, "")
		want(t, "grandparent inside the window", e.try(g.tok, ""), session.Reused)
	})
	t.Run("RevokedStaysRevoked", func(t *testing.T) {
		e := newEnv(t, nb, grace10)
		g := e.login("alice")
		r := e.rotate(g.tok, "idempotency-key-k")
		if _, err := e.store.Revoke(e.ctx, r.tok.Subject, r.sid(), ""); err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]session.Token{"parent": g.tok, "child": r.tok} {
			for _, ik := range []string{"", "idempotency-key-k"} {
				want(t, name+" after revocation", e.try(tok, ik), session.Invalid)
			}
		}
		e.active("alice", g.sid(), false)
	})
}

// testWrongProof: tokens of a real family whose proof is not the family's
// (the service's MAC check keeps forged strings away; a store must still
// not trust a generation alone) are invalid and change nothing.
func testWrongProof(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	cur := e.rotate(g.tok, "")
	flipped := func(t session.Token) session.Token { t.Proof[0] ^= 1; return t }
	ahead := cur.tok
	ahead.Generation += 5
	otherFamily := cur.tok
	otherFamily.Family[0] ^= 1
	for name, tok := range map[string]session.Token{
		"CurrentFlipped": flipped(cur.tok),
		"ParentFlipped":  flipped(g.tok),
		"Ahead":          ahead,
		"UnknownFamily":  otherFamily,
	} {
		t.Run(name, func(t *testing.T) {
			want(t, "Rotate", e.try(tok, ""), session.Invalid)
		})
	}
	e.active("alice", g.sid(), true)
	e.rotate(cur.tok, "") // the real token still works
}

// testSharedBackend: two stores on one backend act as one; a replay
// through the second reports the first's rotation.
func testSharedBackend(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	second := e.openStore(nil)
	g := e.login("alice")
	r := e.rotate(g.tok, "idempotency-key-k")
	again, err := e.redeem(second, e.secrets, g.tok, "idempotency-key-k")
	if err != nil || again.res.Outcome != session.Replayed || again.tok != r.tok {
		t.Fatalf("replay through the second store: %+v, %v", again.res, err)
	}
	if n, err := e.redeem(second, e.secrets, r.tok, ""); err != nil || n.res.Outcome != session.Rotated {
		t.Fatalf("rotation through the second store: %+v, %v", n.res, err)
	}
	want(t, "child used through the other store", e.try(r.tok, ""), session.Reused)
}

func testInvalidInput(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	for name, ns := range map[string]session.NewSession{
		"EmptySubject":    {},
		"LongSubject":     {Subject: strings.Repeat("s", session.MaxSubjectLen+1)},
		"ClaimsNotObject": {Subject: "a", Claims: []byte(`[1,2]`)},
		"ClaimsNotJSON":   {Subject: "a", Claims: []byte(`{"a":`)},
		"ClaimsTooLarge":  {Subject: "a", Claims: []byte(`{"a":"` + strings.Repeat("x", session.MaxClaimsSize) + `"}`)},
		"SubjectNotUTF8":  {Subject: "al\xffice"},
		"ClaimsNotUTF8":   {Subject: "a", Claims: []byte("{\"name\":\"Zo\xe9\"}")},
	} {
		t.Run(name, func(t *testing.T) {
			tok, child, seal := e.index.NewFamily(ns.Subject)
			_, err := e.store.Create(e.ctx, tok, child, ns, seal)
			wantErr(t, "Create", err, session.ErrInvalidInput)
		})
	}
	tok, child, seal := e.index.NewFamily("a")
	_, err := e.store.Create(e.ctx, tok, child, session.NewSession{Subject: "a", Client: session.ClientInfo{
		UserAgent: strings.Repeat("é", 512),
		Device:    "caf\xe9 laptop", // Latin-1 from a header: repaired, not refused
	}}, seal)
	if err != nil {
		t.Fatalf("long user agent: %v", err)
	}
	ss, err := e.store.Sessions(e.ctx, e.index.SubjectID("a"))
	if err != nil || len(ss) != 1 || ss[0].ID != tok.SessionID() {
		t.Fatalf("Sessions: %v %v", ss, err)
	}
	if ua := ss[0].Client.UserAgent; len(ua) > 512 || len(ua) < 511 {
		t.Fatalf("user agent cut to %d bytes, want 512", len(ua))
	}
	if d := ss[0].Client.Device; d != "caf\uFFFD laptop" {
		t.Fatalf("device %q, want the invalid byte replaced by U+FFFD", d)
	}
}
