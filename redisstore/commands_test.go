package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

// TestOneCommandPerOperation proves with a command-counting hook (pipelines
// included) that, once its script is loaded, every operation sends exactly
// one command, and that a forged token sends none.
func TestOneCommandPerOperation(t *testing.T) {
	redistest.Each(t, func(t *testing.T, b *redistest.Backend) {
		ctx := context.Background()
		// A client of its own, so that no other test's commands are counted.
		var c redis.UniversalClient
		switch b.Name {
		case redistest.Cluster:
			c = redis.NewClusterClient(&redis.ClusterOptions{
				Addrs: b.Client.(*redis.ClusterClient).Options().Addrs, ContextTimeoutEnabled: true})
		default:
			o := *b.Client.(*redis.Client).Options()
			c = redis.NewClient(&o)
		}
		t.Cleanup(func() { c.Close() })
		// Strict (no grace window): the Reuse step is reuse at once.
		s := newStore(t, &redistest.Backend{Name: b.Name, Client: c, Addr: b.Addr}, redisstore.WithReuseGrace(0))
		// Load every script once, on the node that holds alice's slot.
		warm := login(t, s, "alice")
		warm2, _ := s.Rotate(ctx, warm.RefreshToken, "")
		_, _ = s.Rotate(ctx, warm.RefreshToken, "")
		_, _ = s.Lookup(ctx, warm2.RefreshToken)
		_, _ = s.RevokeToken(ctx, warm2.RefreshToken)
		_, _ = s.RevokeAll(ctx, "alice")
		_, _ = s.Sessions(ctx, "alice")
		_, _ = s.Active(ctx, "alice", warm.SessionID)
		cc := countCommands(c)

		var g, r grant
		evalsha := map[string]int{"evalsha": 1}
		steps := []struct {
			name string
			op   func() error
			want map[string]int
		}{
			{"Create", func() (err error) { g, err = s.Create(ctx, session.NewSession{Subject: "alice"}); return }, evalsha},
			{"Rotate", func() (err error) { r, err = s.Rotate(ctx, g.RefreshToken, "idempotency-key-k"); return }, evalsha},
			{"Replay", func() error { _, err := s.Rotate(ctx, g.RefreshToken, "idempotency-key-k"); return err }, evalsha},
			{"Forged", func() error {
				_, err := s.Rotate(ctx, r.RefreshToken[:len(r.RefreshToken)-2]+"AA", "")
				if !errors.Is(err, session.ErrInvalidToken) {
					return err
				}
				return nil
			}, map[string]int{}},
			{"Active", func() error { _, err := s.Active(ctx, "alice", g.SessionID); return err }, evalsha},
			{"Lookup", func() error { _, err := s.Lookup(ctx, r.RefreshToken); return err }, evalsha},
			{"Sessions", func() error { _, err := s.Sessions(ctx, "alice"); return err }, evalsha},
			{"Reuse", func() error {
				if _, err := s.Rotate(ctx, g.RefreshToken, ""); !errors.Is(err, errReuse) {
					return fmt.Errorf("want reuse, got %v", err)
				}
				return nil
			}, evalsha},
			{"Create2", func() (err error) { g, err = s.Create(ctx, session.NewSession{Subject: "alice"}); return }, evalsha},
			{"RevokeSession", func() error { return s.RevokeSession(ctx, "alice", g.SessionID) }, evalsha},
			{"RevokeToken", func() error { _, err := s.RevokeToken(ctx, g.RefreshToken); return err }, evalsha},
			{"RevokeAll", func() error { _, err := s.RevokeAll(ctx, "alice"); return err }, evalsha},
		}
		for _, st := range steps {
			cc.take()
			if err := st.op(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if got := cc.take(); !maps.Equal(got, st.want) {
				t.Errorf("%s sent %v, want %v", st.name, got, st.want)
			}
		}
	})
}

// TestNoScriptFallsBackToEval: after the server forgets its scripts, the
// first call sends EVALSHA, gets NOSCRIPT, and sends EVAL; the next is one
// EVALSHA again.
func TestNoScriptFallsBackToEval(t *testing.T) {
	srv := redistest.StartServer(t)
	c := srv.Client(t)
	b := &redistest.Backend{Name: redistest.Standalone, Client: c, Addr: srv.Addr}
	s := newStore(t, b)
	ctx := context.Background()
	g := login(t, s, "alice")
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	cc := countCommands(c)
	r, err := s.Rotate(ctx, g.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cc.take(), map[string]int{"evalsha": 1, "eval": 1}; !maps.Equal(got, want) {
		t.Fatalf("after SCRIPT FLUSH: %v, want %v", got, want)
	}
	if _, err := s.Rotate(ctx, r.RefreshToken, ""); err != nil {
		t.Fatal(err)
	}
	if got, want := cc.take(), map[string]int{"evalsha": 1}; !maps.Equal(got, want) {
		t.Fatalf("once loaded: %v, want %v", got, want)
	}
}
