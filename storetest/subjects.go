package storetest

import (
	"fmt"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
)

var _ = register(clause{"SharedSlotTag", testSharedSlotTag})

// collidingSubjects finds two subjects whose ids share a slot tag under
// keys. Tags have 32 bits, so among a few hundred thousand subjects some
// pairs always collide; the store must keep them apart.
func collidingSubjects(t *testing.T, keys *jwtrefresh.RefreshKeyring) (string, string) {
	t.Helper()
	seen := make(map[jwtrefresh.SlotTag]string, 1<<17)
	for i := range 1 << 22 {
		sub := fmt.Sprint("user-", i)
		tag := keys.SubjectID(sub).SlotTag()
		if other, ok := seen[tag]; ok {
			return other, sub
		}
		seen[tag] = sub
	}
	t.Fatal("no two subjects share a slot tag")
	return "", ""
}

// testSharedSlotTag: subjects sharing a slot tag (and so a Cluster slot)
// keep separate session lists, and one's reuse or logout-everywhere never
// touches the other.
func testSharedSlotTag(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	a, b := collidingSubjects(t, e.keys)
	ga, gb := e.login(a), e.login(b)
	if n := e.sessions(a); n != 1 {
		t.Fatalf("%s has %d sessions, want 1", a, n)
	}
	wantErr(t, "revoking another subject's session", e.store.RevokeSession(e.ctx, a, gb.SessionID), jwtrefresh.ErrSessionNotFound)
	e.active(a, gb.SessionID, false)

	if n, err := e.store.RevokeAll(e.ctx, a); err != nil || n != 1 {
		t.Fatalf("RevokeAll(%s) = %d, %v; want 1", a, n, err)
	}
	e.active(b, gb.SessionID, true)

	gb2 := e.rotate(gb.RefreshToken, "")
	ga = e.login(a)
	_, err := e.store.Rotate(e.ctx, gb.RefreshToken, "")
	wantReuse(t, "reuse by "+b, err, jwtrefresh.ReuseError{
		Subject: b, SessionID: gb.SessionID, Policy: jwtrefresh.RevokeSubject, Revoked: 1})
	e.active(b, gb2.SessionID, false)
	e.active(a, ga.SessionID, true)
}
