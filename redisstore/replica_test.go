package redisstore_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// TestReplicaAck: with WithReplicaAck a rotation succeeds only once a
// replica holds it (EVALSHA and WAIT in one round trip); without a replica
// it is ErrUnavailable, and the retry with the same idempotency key, once the
// replica is back, replays the same child.
func TestReplicaAck(t *testing.T) {
	primary := redistest.StartServer(t)
	replica := redistest.StartServer(t, "--replicaof", primary.Host(), primary.Port())
	pc, rc := primary.Client(t), replica.Client(t)
	ctx := context.Background()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	linked := func() bool { return pc.Do(ctx, "WAIT", 1, 10).Val() == int64(1) }
	waitFor("the replica to link", linked)

	b := &redistest.Backend{Name: redistest.Standalone, Client: pc, Addr: primary.Addr}
	s := newStore(t, b, redisstore.WithReplicaAck(1, 200*time.Millisecond))
	if _, err := s.Rotate(ctx, login(t, s, "warm").RefreshToken, ""); err != nil { // loads the script
		t.Fatal(err)
	}
	g := login(t, s, "alice")
	cc := countCommands(pc)
	r, err := s.Rotate(ctx, g.RefreshToken, "idempotency-key-k")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cc.take(), map[string]int{"evalsha": 1, "wait": 1}; !maps.Equal(got, want) {
		t.Fatalf("rotation sent %v, want %v", got, want)
	}
	// Acknowledged means on the replica now, not eventually.
	if keys := rc.Keys(ctx, "*").Val(); len(keys) == 0 {
		t.Fatal("the acknowledged rotation is not on the replica")
	}

	replica.Stop()
	_, err = s.Rotate(ctx, r.RefreshToken, "idempotency-key-k2")
	if !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("rotation without a replica: %v, want ErrUnavailable", err)
	}
	replica.Start()
	waitFor("the replica to relink", linked)
	again, err := s.Rotate(ctx, r.RefreshToken, "idempotency-key-k2")
	if err != nil {
		t.Fatalf("retry once the replica is back: %v", err)
	}
	if !again.Replayed || again.Generation != 3 {
		t.Fatalf("retry gave %+v, want a replay of generation 3", again)
	}
}
