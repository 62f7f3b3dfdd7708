package jwtrefresh_test

import (
	"context"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
)

// TestHealedRotation: a rotation answered to the client and then lost (the
// session record put back as it was before it, as on a replica promoted
// before the write reached it). The client's next refresh, one generation
// ahead, is answered like any rotation and reported as EventHealed; its
// retry with the same key is a replay; the session goes on.
func TestHealedRotation(t *testing.T) {
	var ev eventCounter
	var gens []uint64
	e := newEnv(t, envConfig{svcOpts: []jwtrefresh.Option{jwtrefresh.WithEvents(func(ctx context.Context, x jwtrefresh.Event) {
		if x.Kind == jwtrefresh.EventHealed {
			gens = append(gens, x.Generation)
		}
		ev.hook(ctx, x)
	})}})
	ctx := context.Background()
	first := e.login(t, "alice")
	key := e.familyKey(t, "alice", sessionID(t, e, first.AccessToken))
	dump, ttl := e.be.Client.Dump(ctx, key).Val(), e.be.Client.PTTL(ctx, key).Val()
	second := e.refresh(t, first.RefreshToken, "Idempotency-Key", "heal-test-key-0001").token(t)
	if err := e.be.Client.RestoreReplace(ctx, key, ttl, dump).Err(); err != nil { // the rotation is lost
		t.Fatal(err)
	}

	r := e.refresh(t, second.RefreshToken, "Idempotency-Key", "heal-test-key-0002")
	third := r.token(t)
	if r.status != 200 || third.RefreshToken == "" || third.RefreshToken == second.RefreshToken {
		t.Fatalf("the lost rotation's child: %d %s", r.status, r.body)
	}
	if ev.get(jwtrefresh.EventHealed) != 1 || ev.get(jwtrefresh.EventRotate) != 1 || len(gens) != 1 || gens[0] != 3 {
		t.Fatalf("events %v, healed generations %v; want 1 rotate (the lost one), 1 healed at generation 3", ev.n, gens)
	}
	again := e.refresh(t, second.RefreshToken, "Idempotency-Key", "heal-test-key-0002").token(t)
	if again.RefreshToken != third.RefreshToken || ev.get(jwtrefresh.EventReplay) != 1 {
		t.Fatalf("the healing refresh retried: another token or no replay (events %v)", ev.n)
	}
	if r := e.refresh(t, third.RefreshToken); r.status != 200 {
		t.Fatalf("after healing: %d %s", r.status, r.body)
	}
	if r := e.me(t, third.AccessToken); r.status != 200 {
		t.Fatalf("the healed session's access token: %d %s", r.status, r.body)
	}
	wantError(t, e.refresh(t, first.RefreshToken), 400, "invalid_grant") // reuse
	if ev.get(jwtrefresh.EventReuseDetected) != 1 {
		t.Fatalf("events %v: presenting the used first token was not reuse", ev.n)
	}
}
