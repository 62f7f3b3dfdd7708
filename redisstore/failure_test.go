package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

// TestLostReplyIsReplay: Redis runs the rotation but its reply is lost on the
// way; go-redis re-sends the script on a new connection. Because every
// rotation carries an idempotency key hash (here a random one: the caller
// gives no key), the re-sent script is a replay of the same child, not a
// reuse alarm that would log the user out.
func TestLostReplyIsReplay(t *testing.T) {
	for _, name := range []string{redistest.Standalone, redistest.InProcess} {
		t.Run(name, func(t *testing.T) {
			b := redistest.New(t, name)
			proxy := redistest.NewProxy(t, b.Addr)
			c := redis.NewClient(&redis.Options{Addr: proxy.Addr, ContextTimeoutEnabled: true, MaxRetries: 3})
			t.Cleanup(func() { c.Close() })
			// Strict: the replay must come from the key hash the re-sent
			// script carries, not from a grace window.
			s := newStore(t, &redistest.Backend{Name: name, Client: c}, redisstore.WithReuseGrace(0))
			ctx := context.Background()
			warm := login(t, s, "warm")
			if _, err := s.Rotate(ctx, warm.RefreshToken, ""); err != nil { // loads the script
				t.Fatal(err)
			}
			g := login(t, s, "alice")

			proxy.DropNextReply()
			r, err := s.Rotate(ctx, g.RefreshToken, "")
			if err != nil {
				t.Fatalf("Rotate with a lost reply: %v", err)
			}
			if proxy.Dropped() != 1 {
				t.Fatalf("proxy dropped %d replies, want 1", proxy.Dropped())
			}
			if !r.Replayed || r.Generation != 2 {
				t.Fatalf("grant %+v: want the re-sent script to replay generation 2", r)
			}
			if _, err := s.Rotate(ctx, r.RefreshToken, ""); err != nil {
				t.Fatalf("the replayed child: %v", err)
			}
		})
	}
}

// TestOutage: a Redis that is down (killed) or hung (SIGSTOP) makes every
// operation fail with ErrUnavailable, never ErrInvalidToken, by the
// context's deadline plus one second; once Redis is back, sessions work
// again (kept by the append-only file).
//
// A hung server still holds the commands sent to it and runs them when it
// resumes, as a real network may deliver a request whose caller gave up: so
// the revocations here aim at a victim subject, and the survivor's refresh
// is retried with the idempotency key of the attempt that timed out, which
// succeeds whether or not Redis ran that attempt.
func TestOutage(t *testing.T) {
	srv := redistest.StartServer(t)
	b := &redistest.Backend{Name: redistest.Standalone, Client: srv.Client(t), Addr: srv.Addr}
	const opTimeout = 300 * time.Millisecond // WithTimeout, for contexts without a deadline
	s := newStore(t, b, redisstore.WithTimeout(opTimeout))
	survivor := login(t, s, "alice")

	phase := func(t *testing.T, stop, restart func()) {
		victim := login(t, s, "victim")
		ik := "idempotency-key/" + t.Name() // the idempotency key of this phase's lost refresh
		ops := map[string]func(ctx context.Context) error{
			"Create": func(ctx context.Context) error {
				_, err := s.Create(ctx, session.NewSession{Subject: "victim"})
				return err
			},
			"Rotate":        func(ctx context.Context) error { _, err := s.Rotate(ctx, survivor.RefreshToken, ik); return err },
			"RevokeToken":   func(ctx context.Context) error { _, err := s.RevokeToken(ctx, victim.RefreshToken); return err },
			"Lookup":        func(ctx context.Context) error { _, err := s.Lookup(ctx, survivor.RefreshToken); return err },
			"RevokeSession": func(ctx context.Context) error { return s.RevokeSession(ctx, "victim", victim.SessionID) },
			"RevokeAll":     func(ctx context.Context) error { _, err := s.RevokeAll(ctx, "victim"); return err },
			"Sessions":      func(ctx context.Context) error { _, err := s.Sessions(ctx, "alice"); return err },
			"Active":        func(ctx context.Context) error { _, err := s.Active(ctx, "alice", survivor.SessionID); return err },
		}
		stop()
		for name, op := range ops {
			for _, deadline := range []time.Duration{500 * time.Millisecond, 0} {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				limit := opTimeout + time.Second
				if deadline > 0 {
					ctx, cancel = context.WithTimeout(ctx, deadline)
					limit = deadline + time.Second
				}
				start := time.Now()
				err := op(ctx)
				took := time.Since(start)
				cancel()
				if !errors.Is(err, session.ErrUnavailable) || errors.Is(err, session.ErrInvalidToken) {
					t.Errorf("%s (deadline %v): %v, want ErrUnavailable", name, deadline, err)
				}
				// The contract's bound, not a performance figure. A stall of
				// a loaded machine (GC, scheduling under -race) can overrun
				// it once; an operation that ignores its deadline overruns
				// it every time, so only three overruns in a row fail.
				for try := 1; took > limit && try < 3; try++ {
					ctx, cancel := context.Background(), context.CancelFunc(func() {})
					if deadline > 0 {
						ctx, cancel = context.WithTimeout(ctx, deadline)
					}
					start := time.Now()
					_ = op(ctx)
					took = time.Since(start)
					cancel()
				}
				if took > limit {
					t.Errorf("%s (deadline %v) took %v three times in a row, contract says at most %v", name, deadline, took, limit)
				}
			}
		}
		restart()
		ctx := context.Background()
		// Right after a restart go-redis may still fail fast on dial errors
		// it counted during the outage (it redials in the background), so
		// the client retries its refresh with the same key, as a real one
		// would, for a bounded number of attempts.
		var r grant
		var err error
		for range 100 {
			if r, err = s.Rotate(ctx, survivor.RefreshToken, ik); !errors.Is(err, session.ErrUnavailable) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("retried refresh after recovery: %v", err)
		}
		if ok, err := s.Active(ctx, "alice", r.SessionID); err != nil || !ok {
			t.Fatalf("Active after recovery: %v, %v", ok, err)
		}
		survivor = r
	}
	t.Run("Killed", func(t *testing.T) { phase(t, srv.Stop, srv.Start) })
	t.Run("Hung", func(t *testing.T) { phase(t, srv.Pause, srv.Resume) })
}
