package storetest

import (
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

var _ = register(
	clause{"HealLostRotation", testHealLostRotation},
	clause{"HealAfterLogin", testHealAfterLogin},
	clause{"HealRefused", testHealRefused},
	clause{"HealTampered", testHealTampered},
	clause{"HealConstantKey", testHealConstantKey},
	clause{"Concurrent64Heal", testConcurrentHeal},
)

// lost returns the child of tok that the service would have issued: what a
// client holds when the rotation of tok was acknowledged and then lost (a
// failover), so that the store never saw it.
func (e *env) lost(s *session.Secrets, tok session.Token, version uint32) session.Token {
	e.t.Helper()
	c, err := s.Child(tok, version)
	if err != nil {
		e.t.Fatalf("Child: %v", err)
	}
	return c
}

// testHealLostRotation: the child the family committed to, presented one
// generation ahead of its current token, applies the lost rotation and its
// own (Healed, answered as a rotation); its retry with the same key is a
// replay; the result rotates on; the older tokens are reuse.
func testHealLostRotation(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	cur := e.rotate(g.tok, "idempotency-key-1")
	held := e.lost(e.secrets, cur.tok, 1) // rotated with idempotency-key-2, lost
	e.clock.Advance(time.Minute)
	h, err := e.redeem(e.store, e.secrets, held, "idempotency-key-3")
	if err != nil || h.res.Outcome != session.Healed || h.res.Subject != "alice" ||
		string(h.res.Claims) != `{"role":"user"}` || h.tok.Generation != 4 {
		t.Fatalf("the lost rotation's child: %+v, %v (generation %d); want Healed, alice, generation 4", h.res, err, h.tok.Generation)
	}
	if want := e.clock.Now().Add(30 * 24 * time.Hour); !h.res.Expires.Equal(want) {
		t.Fatalf("Expires %v, want %v (sliding)", h.res.Expires, want)
	}
	again, err := e.redeem(e.store, e.secrets, held, "idempotency-key-3")
	if err != nil || again.res.Outcome != session.Replayed || again.tok != h.tok {
		t.Fatalf("retry of the healing refresh: %+v, %v; want Replayed with the same child", again.res, err)
	}
	if n := e.rotate(h.tok, ""); n.tok.Generation != 5 {
		t.Fatalf("after healing: generation %d, want 5", n.tok.Generation)
	}
	want(t, "the token the lost rotation used up", e.try(cur.tok, ""), session.Reused)
	e.active("alice", g.sid(), false)
}

// testHealAfterLogin: a first rotation lost heals too: the login commits
// to the first token's child.
func testHealAfterLogin(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	h, err := e.redeem(e.store, e.secrets, e.lost(e.secrets, g.tok, 1), "")
	if err != nil || h.res.Outcome != session.Healed || h.tok.Generation != 3 {
		t.Fatalf("the first rotation lost: %+v, %v; want Healed, generation 3", h.res, err)
	}
	e.rotate(h.tok, "")
}

// testHealRefused: nothing but the committed child of a live family
// heals; each refusal changes nothing.
func testHealRefused(t *testing.T, nb NewBackend) {
	for _, tc := range []struct {
		name string
		// prepare changes the world and returns the token presented; the
		// store must answer want, and the session is active afterwards
		// when alive.
		prepare func(e *env, cur grant) session.Token
		want    session.Outcome
		alive   bool
	}{
		{"TwoAhead", func(e *env, cur grant) session.Token {
			return e.lost(e.secrets, e.lost(e.secrets, cur.tok, 1), 1)
		}, session.Invalid, true},
		{"OtherSecretVersion", func(e *env, cur grant) session.Token {
			// Made under version 2; the family committed under 1. The
			// instance still has 1 current, so the seal opens.
			e.secrets = newSecrets(e.t, e.secret, randomSecret(2))
			return e.lost(e.secrets, cur.tok, 2)
		}, session.Invalid, true},
		{"OtherProof", func(e *env, cur grant) session.Token {
			tok := e.lost(e.secrets, cur.tok, 1)
			tok.Proof[0] ^= 1
			return tok
		}, session.Invalid, true},
		{"AbsentFamily", func(e *env, _ grant) session.Token {
			_, child, _ := e.index.NewFamily("alice") // never stored
			return child
		}, session.Invalid, true},
		{"Revoked", func(e *env, cur grant) session.Token {
			if _, err := e.store.Revoke(e.ctx, cur.tok.Subject, cur.sid(), "alice"); err != nil {
				e.t.Fatal(err)
			}
			return e.lost(e.secrets, cur.tok, 1)
		}, session.Invalid, false},
		{"RevokedByReuse", func(e *env, cur grant) session.Token {
			want(e.t, "the lost rotation's child", e.try(e.lost(e.secrets, cur.tok, 1), ""), session.Healed)
			want(e.t, "a used token", e.try(cur.tok, ""), session.Reused)
			return e.lost(e.secrets, e.lost(e.secrets, cur.tok, 1), 1)
		}, session.Invalid, false},
		{"Expired", func(e *env, cur grant) session.Token {
			e.clock.Advance(30 * 24 * time.Hour)
			return e.lost(e.secrets, cur.tok, 1)
		}, session.Invalid, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nb, nil)
			cur := e.rotate(e.login("alice").tok, "")
			tok := tc.prepare(e, cur)
			want(t, "presented", e.try(tok, ""), tc.want)
			e.active("alice", cur.sid(), tc.alive)
			if tc.alive { // nothing changed: the current token rotates
				e.rotate(cur.tok, "")
			}
		})
	}
}

// testHealTampered: a record that does not match its seal is Tampered
// before its commitment counts, and is left as it was.
func testHealTampered(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	cur := e.rotate(e.login("alice").tok, "")
	rot, err := e.secrets.Rotation(e.lost(e.secrets, cur.tok, 1), "")
	if err != nil {
		t.Fatal(err)
	}
	good := rot.Seal
	rot.Seal[0][0] ^= 1
	rot.Seal[1] = rot.Seal[0]
	if res, err := e.store.Rotate(e.ctx, rot); err != nil || res.Outcome != session.Tampered {
		t.Fatalf("a wrong seal key: %+v, %v; want Tampered", res, err)
	}
	rot.Seal = good // the record was left as it was: it heals now
	if res, err := e.store.Rotate(e.ctx, rot); err != nil || res.Outcome != session.Healed {
		t.Fatalf("the right seal key: %+v, %v; want Healed", res, err)
	}
}

// testHealConstantKey: healing with the key of the rotation that made the
// current token is refused as that rotation's would be (KeyRepeated), and
// changes nothing.
func testHealConstantKey(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	const key = "0000000000000000"
	cur := e.rotate(e.login("alice").tok, key)
	held := e.lost(e.secrets, cur.tok, 1)
	want(t, "the same key", e.try(held, key), session.KeyRepeated)
	want(t, "another key", e.try(held, "1111111111111111"), session.Healed)
}

// testConcurrentHeal: one healing refresh retried many times at once:
// exactly one heals, every racer gets the same child.
func testConcurrentHeal(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	cur := e.rotate(e.login("alice").tok, "")
	o := race(e, e.lost(e.secrets, cur.tok, 1), func(int) string { return "one-refresh-idempotency-key" })
	if o.counts[session.Healed] != 1 || o.counts[session.Replayed] != racers-1 || len(o.tokens) != 1 {
		t.Fatalf("outcomes %v, %d distinct children; want 1 healed, %d replayed, 1 child", o.counts, len(o.tokens), racers-1)
	}
}
