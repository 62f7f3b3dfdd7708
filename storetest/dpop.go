package storetest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/session"
)

var _ = register(
	clause{"DPoPBound", testDPoPBound},
	clause{"DPoPBoundUsedToken", testDPoPBoundUsedToken},
	clause{"DPoPUnboundIgnoresKey", testDPoPUnboundIgnoresKey},
)

// Thumbprints of two DPoP keys (any 43 base64url characters will do).
var (
	jktA = strings.Repeat("A", 42) + "a"
	jktB = strings.Repeat("B", 42) + "b"
)

// loginBound starts a session bound to the DPoP key jkt.
func (e *env) loginBound(subject, jkt string) grant {
	e.t.Helper()
	tok, child, seal := e.index.NewFamily(subject)
	r, err := e.store.Create(e.ctx, tok, child, session.NewSession{Subject: subject, Claims: json.RawMessage(`{"role":"user"}`),
		KeyThumbprint: jkt}, seal)
	if err != nil {
		e.t.Fatalf("Create(%q) bound: %v", subject, err)
	}
	return grant{tok, r}
}

// redeemWithKey presents tok with key thumbprint jkt ("" for none).
func (e *env) redeemWithKey(tok session.Token, ik, jkt string) grant {
	e.t.Helper()
	rot, err := e.secrets.Rotation(tok, ik)
	if err != nil {
		e.t.Fatalf("Rotation: %v", err)
	}
	rot.KeyThumbprint = jkt
	res, err := e.store.Rotate(e.ctx, rot)
	if err != nil {
		e.t.Fatalf("Rotate: %v", err)
	}
	return grant{rot.Child, res}
}

// lookupWithKey is Lookup of tok with key thumbprint jkt.
func (e *env) lookupWithKey(tok session.Token, jkt string) session.Result {
	e.t.Helper()
	rot, err := e.secrets.Rotation(tok, "")
	if err != nil {
		e.t.Fatalf("Rotation: %v", err)
	}
	rot.KeyThumbprint = jkt
	res, err := e.store.Lookup(e.ctx, rot)
	if err != nil {
		e.t.Fatalf("Lookup: %v", err)
	}
	return res
}

// testDPoPBound: a session bound at login rotates, replays and is found
// only with its key's thumbprint; without it, or with another, the store
// answers WrongProofKey and changes nothing. Results name the binding.
func testDPoPBound(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.loginBound("alice", jktA)
	for name, jkt := range map[string]string{"no key": "", "another key": jktB} {
		if r := e.redeemWithKey(g.tok, "idempotency-key-k", jkt); r.res.Outcome != session.WrongProofKey || r.res.Subject != "" {
			t.Fatalf("current token with %s: %+v, want WrongProofKey and nothing else", name, r.res)
		}
		if r := e.lookupWithKey(g.tok, jkt); r.Outcome != session.WrongProofKey || r.Claims != nil {
			t.Fatalf("Lookup with %s: %+v, want WrongProofKey", name, r)
		}
	}
	if r := e.lookupWithKey(g.tok, jktA); r.Outcome != session.Found || r.KeyThumbprint != jktA {
		t.Fatalf("Lookup with the key: %+v", r)
	}
	r := e.redeemWithKey(g.tok, "idempotency-key-k", jktA)
	if r.res.Outcome != session.Rotated || r.res.KeyThumbprint != jktA || r.res.Subject != "alice" {
		t.Fatalf("with the key: %+v, want Rotated bound to it", r.res)
	}
	// The retry of that refresh is a replay only with the key.
	if again := e.redeemWithKey(g.tok, "idempotency-key-k", ""); again.res.Outcome != session.WrongProofKey {
		t.Fatalf("replay without the key: %+v", again.res)
	}
	if again := e.redeemWithKey(g.tok, "idempotency-key-k", jktA); again.res.Outcome != session.Replayed || again.res.KeyThumbprint != jktA {
		t.Fatalf("replay with the key: %+v", again.res)
	}
	e.active("alice", g.sid(), true)
}

// testDPoPBoundUsedToken: a used token of a bound session presented
// without the key (or with another) is WrongProofKey, not reuse: nothing
// is revoked, and the current token still rotates. With the key, it is
// reuse as usual.
func testDPoPBoundUsedToken(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.loginBound("alice", jktA)
	other := e.login("alice")
	r1 := e.redeemWithKey(g.tok, "", jktA)
	r2 := e.redeemWithKey(r1.tok, "", jktA)
	want(t, "second rotation", r2.res.Outcome, session.Rotated)
	for _, jkt := range []string{"", jktB} {
		for name, tok := range map[string]session.Token{"parent": r1.tok, "older": g.tok} {
			if r := e.redeemWithKey(tok, "", jkt); r.res.Outcome != session.WrongProofKey || r.res.Ended != 0 {
				t.Fatalf("used %s token with key %q: %+v, want WrongProofKey", name, jkt, r.res)
			}
		}
	}
	e.active("alice", g.sid(), true)
	e.active("alice", other.sid(), true)
	r3 := e.redeemWithKey(r2.tok, "", jktA)
	want(t, "the current token after the refusals", r3.res.Outcome, session.Rotated)
	if r := e.redeemWithKey(g.tok, "", jktA); r.res.Outcome != session.Reused {
		t.Fatalf("used token with the key: %+v, want Reused", r.res)
	}
	e.active("alice", other.sid(), false)
}

// testDPoPUnboundIgnoresKey: a thumbprint presented for an unbound session
// is ignored: the session rotates, stays unbound, and later rotates
// without one.
func testDPoPUnboundIgnoresKey(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	r := e.redeemWithKey(g.tok, "", jktB)
	if r.res.Outcome != session.Rotated || r.res.KeyThumbprint != "" {
		t.Fatalf("unbound session with a key: %+v, want Rotated and unbound", r.res)
	}
	if r2 := e.redeemWithKey(r.tok, "", ""); r2.res.Outcome != session.Rotated || r2.res.KeyThumbprint != "" {
		t.Fatalf("then without a key: %+v", r2.res)
	}
	if r := e.lookupWithKey(g.tok, jktA); r.Outcome != session.Found || r.KeyThumbprint != "" {
		t.Fatalf("Lookup of an unbound session with a key: %+v", r)
	}
}
