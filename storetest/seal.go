package storetest

import (
	"bytes"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/session"
)

var _ = register(
	clause{"SealMismatch", testSealMismatch},
	clause{"SecretRotation", testSecretRotation},
	clause{"LoadOrStore", testLoadOrStore},
)

// testSealMismatch: a record that does not match its seal (here: checked
// with another key, as if the record had been edited) is Tampered and
// nothing changes, whatever the token: current, parent or older.
func testSealMismatch(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	r := e.rotate(g.tok, "idempotency-key-k")
	cur := e.rotate(r.tok, "")
	for name, tok := range map[string]session.Token{"Current": cur.tok, "Parent": r.tok, "Older": g.tok} {
		rot, err := e.secrets.Rotation(tok, "idempotency-key-k")
		if err != nil {
			t.Fatal(err)
		}
		rot.Seal[0][0] ^= 1
		rot.Seal[1] = rot.Seal[0]
		res, err := e.store.Rotate(e.ctx, rot)
		if err != nil || res.Outcome != session.Tampered || res.Subject != "" || res.Claims != nil {
			t.Fatalf("%s with a wrong seal key: %+v, %v; want Tampered and nothing else", name, res, err)
		}
		if res, err := e.store.Lookup(e.ctx, rot); err != nil || res.Outcome != session.Tampered {
			t.Fatalf("Lookup of %s with a wrong seal key: %+v, %v", name, res, err)
		}
	}
	e.active("alice", g.sid(), true)
	e.rotate(cur.tok, "") // nothing was rotated or revoked
}

// testSecretRotation: a token under the old secret rotates onto the new
// one (the record is re-sealed under it); a replay across the change
// reports the version the child was made under; and once the old secret
// is retired, the session is still listed and revocable under the
// subject-index key, which did not change.
func testSecretRotation(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	s2 := randomSecret(2)
	both, onlyNew := newSecrets(t, s2, e.secret), newSecrets(t, s2)
	g1 := e.login("alice")

	r, err := e.redeem(e.store, both, g1.tok, "idempotency-key-k")
	if err != nil || r.res.Outcome != session.Rotated || r.tok.Version != 2 {
		t.Fatalf("old-secret token under the new secrets: %+v, %v (version %d)", r.res, err, r.tok.Version)
	}
	again, err := e.redeem(e.store, both, g1.tok, "idempotency-key-k")
	if err != nil || again.res.Outcome != session.Replayed || again.res.Version != 2 || again.tok != r.tok {
		t.Fatalf("replay across the change: %+v, %v", again.res, err)
	}
	// An instance with both secrets stores the index key under the new
	// one too; instances with only the new secret then find it.
	g2 := e.loginWith(e.store, e.indexOf(both, e.store), "alice", nil)
	if x := e.indexOf(onlyNew, e.store); x.SubjectID("alice") != e.index.SubjectID("alice") {
		t.Fatal("the subject id changed with the secret")
	}
	// The old secret retired: the re-sealed session still rotates, and
	// every session of alice is listed and revoked.
	r, err = e.redeem(e.store, onlyNew, r.tok, "")
	if err != nil || r.res.Outcome != session.Rotated {
		t.Fatalf("after retiring the old secret: %+v, %v", r.res, err)
	}
	if n := e.sessions("alice"); n != 2 {
		t.Fatalf("%d sessions listed after the old secret was retired, want 2", n)
	}
	if n := e.revokeAll("alice"); n != 2 {
		t.Fatalf("RevokeAll after the old secret was retired: %d, want 2", n)
	}
	for _, tok := range []session.Token{r.tok, g2.tok} {
		if g, _ := e.redeem(e.store, onlyNew, tok, ""); g.res.Outcome != session.Invalid {
			t.Fatalf("a session after RevokeAll: outcome %d", g.res.Outcome)
		}
	}
}

// testLoadOrStore: the first value stored under a name stays; loading
// without a value stores nothing.
func testLoadOrStore(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	ls := func(v []byte) []byte {
		t.Helper()
		got, err := e.store.LoadOrStore(e.ctx, "storetest", v)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := ls(nil); got != nil {
		t.Fatalf("load of nothing: %q", got)
	}
	if got := ls([]byte("first\x00\xff")); !bytes.Equal(got, []byte("first\x00\xff")) {
		t.Fatalf("store: %q", got)
	}
	if got := ls([]byte("second")); !bytes.Equal(got, []byte("first\x00\xff")) {
		t.Fatalf("a second store replaced the first: %q", got)
	}
	if got := ls(nil); !bytes.Equal(got, []byte("first\x00\xff")) {
		t.Fatalf("load: %q", got)
	}
	if got, err := e.openStore(nil).LoadOrStore(e.ctx, "storetest", nil); err != nil || !bytes.Equal(got, []byte("first\x00\xff")) {
		t.Fatalf("load through another store: %q, %v", got, err)
	}
}
