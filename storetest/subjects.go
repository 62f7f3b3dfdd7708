package storetest

import (
	"fmt"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/session"
)

var _ = register(clause{"SharedSlotTag", testSharedSlotTag})

// collidingSubjects finds two subjects whose ids share a slot tag. Tags
// have 32 bits, so among a few hundred thousand subjects some pairs always
// collide; the store must keep them apart.
func collidingSubjects(t *testing.T, x *session.Index) (string, string) {
	t.Helper()
	seen := make(map[[4]byte]string, 1<<17)
	for i := range 1 << 22 {
		sub := fmt.Sprint("user-", i)
		id := x.SubjectID(sub)
		tag := [4]byte(id[:4])
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
	a, b := collidingSubjects(t, e.index)
	ga, gb := e.login(a), e.login(b)
	if n := e.sessions(a); n != 1 {
		t.Fatalf("%s has %d sessions, want 1", a, n)
	}
	_, err := e.store.Revoke(e.ctx, e.index.SubjectID(a), gb.sid(), a)
	wantErr(t, "revoking another subject's session", err, session.ErrNotFound)
	e.active(a, gb.sid(), false)

	if n := e.revokeAll(a); n != 1 {
		t.Fatalf("RevokeAll(%s) = %d; want 1", a, n)
	}
	e.active(a, ga.sid(), false)
	e.active(b, gb.sid(), true)

	gb2 := e.rotate(gb.tok, "")
	ga = e.login(a)
	r, _ := e.redeem(e.store, e.secrets, gb.tok, "")
	if r.res.Outcome != session.Reused || r.res.Subject != b || r.res.Ended != 1 {
		t.Fatalf("reuse by %s: %+v, want Reused naming %s with 1 ended", b, r.res, b)
	}
	e.active(b, gb2.sid(), false)
	e.active(a, ga.sid(), true)
}
