package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
)

var _ = register(
	clause{"Concurrent64Strict", testConcurrentStrict},
	clause{"Concurrent64SharedKey", testConcurrentSharedKey},
	clause{"Concurrent64Grace", testConcurrentGrace},
)

const racers = 64

type outcomes struct {
	mu      sync.Mutex
	tokens  map[string]int // refresh token → how many received it
	rotated int
	replay  int
	reuse   int
	reused  error // the last reuse error
	invalid int
	other   []error
}

// race presents tok from 64 goroutines released at once, the i-th with
// ik(i), and tallies the outcomes.
func race(e *env, tok string, ik func(i int) string) *outcomes {
	o := &outcomes{tokens: map[string]int{}}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			g, err := e.store.Rotate(e.ctx, tok, ik(i))
			o.mu.Lock()
			defer o.mu.Unlock()
			switch {
			case err == nil && g.Replayed:
				o.replay++
				o.tokens[g.RefreshToken]++
			case err == nil:
				o.rotated++
				o.tokens[g.RefreshToken]++
			case errors.Is(err, jwtrefresh.ErrReuseDetected):
				o.reuse++
				o.reused = err
			case errors.Is(err, jwtrefresh.ErrInvalidToken):
				o.invalid++
			default:
				o.other = append(o.other, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(o.other) > 0 {
		e.t.Fatalf("unexpected errors: %v", o.other)
	}
	return o
}

// testConcurrentStrict: exactly one rotation. The first presentation after
// it is reuse, which deletes the subject's sessions; the remaining ones find
// nothing (invalid), so one theft raises one alarm.
func testConcurrentStrict(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	other := e.login("alice")
	bob := e.login("bob")
	o := race(e, g.RefreshToken, func(int) string { return "" })
	if o.rotated != 1 || o.reuse != 1 || o.invalid != racers-2 || o.replay != 0 {
		t.Fatalf("rotated %d, reuse %d, invalid %d, replay %d; want 1, 1, %d, 0",
			o.rotated, o.reuse, o.invalid, o.replay, racers-2)
	}
	// The alarm names what it ended: both of alice's sessions.
	wantReuse(t, "the reuse", o.reused, jwtrefresh.ReuseError{
		Subject: "alice", SessionID: g.SessionID, Policy: jwtrefresh.RevokeSubject, Revoked: 2})
	if n := e.sessions("alice"); n != 0 {
		t.Fatalf("alice has %d sessions, want 0", n)
	}
	e.active("alice", other.SessionID, false)
	e.active("bob", bob.SessionID, true)
	if n := e.events.Count(jwtrefresh.EventRotate); n != 1 {
		t.Fatalf("%d rotate events, want 1", n)
	}
	if n := e.events.Count(jwtrefresh.EventReuseDetected); n != 1 {
		t.Fatalf("%d reuse events, want 1", n)
	}
}

// testConcurrentSharedKey: one client retrying one refresh many times at
// once (same idempotency key): everyone gets the same child.
func testConcurrentSharedKey(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	o := race(e, g.RefreshToken, func(int) string { return "one-refresh" })
	checkOneChild(e, o)
}

// testConcurrentGrace: within the grace window, every racer gets the child.
func testConcurrentGrace(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) { c.ReuseGrace = 10 * time.Second })
	g := e.login("alice")
	o := race(e, g.RefreshToken, func(int) string { return "" })
	checkOneChild(e, o)
}

func checkOneChild(e *env, o *outcomes) {
	e.t.Helper()
	if o.rotated != 1 || o.replay != racers-1 || o.reuse != 0 || o.invalid != 0 {
		e.t.Fatalf("rotated %d, replay %d, reuse %d, invalid %d; want 1, %d, 0, 0",
			o.rotated, o.replay, o.reuse, o.invalid, racers-1)
	}
	if len(o.tokens) != 1 {
		e.t.Fatalf("%d distinct children, want 1", len(o.tokens))
	}
	for tok, n := range o.tokens {
		if n != racers {
			e.t.Fatalf("child received %d times, want %d", n, racers)
		}
		if g := e.rotate(tok, ""); g.Generation != 3 {
			e.t.Fatalf("child's successor has generation %d, want 3", g.Generation)
		}
	}
	if n := e.events.Count(jwtrefresh.EventReplay); n != racers-1 {
		e.t.Fatalf("%d replay events, want %d", n, racers-1)
	}
}
