package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

var _ = register(
	clause{"Concurrent64Strict", testConcurrentStrict},
	clause{"Concurrent64SharedKey", testConcurrentSharedKey},
	clause{"Concurrent64Grace", testConcurrentGrace},
)

const racers = 64

type outcomes struct {
	mu     sync.Mutex
	counts map[session.Outcome]int
	tokens map[session.Token]int // the child handed out → how many received it
	ended  int                   // sessions the reuse ended
	errs   []error
}

// race presents tok from 64 goroutines released at once, the i-th with
// ik(i), and tallies the outcomes.
func race(e *env, tok session.Token, ik func(i int) string) *outcomes {
	o := &outcomes{counts: map[session.Outcome]int{}, tokens: map[session.Token]int{}}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			g, err := e.redeem(e.store, e.secrets, tok, ik(i))
			o.mu.Lock()
			defer o.mu.Unlock()
			if err != nil {
				o.errs = append(o.errs, err)
				return
			}
			o.counts[g.res.Outcome]++
			switch g.res.Outcome {
			case session.Rotated, session.Healed, session.Replayed:
				o.tokens[g.tok]++
			case session.Reused:
				o.ended = g.res.Ended
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(o.errs) > 0 {
		e.t.Fatalf("unexpected errors: %v", o.errs)
	}
	return o
}

// testConcurrentStrict: exactly one rotation. The first presentation after
// it is reuse, which deletes the subject's sessions; the remaining ones
// find nothing (invalid), so one theft raises one alarm.
func testConcurrentStrict(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	other := e.login("alice")
	bob := e.login("bob")
	o := race(e, g.tok, func(int) string { return "" })
	if o.counts[session.Rotated] != 1 || o.counts[session.Reused] != 1 || o.counts[session.Invalid] != racers-2 {
		t.Fatalf("outcomes %v; want 1 rotated, 1 reused, %d invalid", o.counts, racers-2)
	}
	if o.ended != 2 { // both of alice's sessions
		t.Fatalf("the reuse ended %d sessions, want 2", o.ended)
	}
	if n := e.sessions("alice"); n != 0 {
		t.Fatalf("alice has %d sessions, want 0", n)
	}
	e.active("alice", other.sid(), false)
	e.active("bob", bob.sid(), true)
}

// testConcurrentSharedKey: one client retrying one refresh many times at
// once (same idempotency key): everyone gets the same child.
func testConcurrentSharedKey(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	checkOneChild(e, race(e, g.tok, func(int) string { return "one-refresh-idempotency-key" }))
}

// testConcurrentGrace: within the grace window, every racer gets the child.
func testConcurrentGrace(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) { c.ReuseGrace = 10 * time.Second })
	g := e.login("alice")
	checkOneChild(e, race(e, g.tok, func(int) string { return "" }))
}

func checkOneChild(e *env, o *outcomes) {
	e.t.Helper()
	if o.counts[session.Rotated] != 1 || o.counts[session.Replayed] != racers-1 {
		e.t.Fatalf("outcomes %v; want 1 rotated, %d replayed", o.counts, racers-1)
	}
	if len(o.tokens) != 1 {
		e.t.Fatalf("%d distinct children, want 1", len(o.tokens))
	}
	for tok, n := range o.tokens {
		if n != racers {
			e.t.Fatalf("child received %d times, want %d", n, racers)
		}
		if g := e.rotate(tok, ""); g.tok.Generation != 3 {
			e.t.Fatalf("child's successor has generation %d, want 3", g.tok.Generation)
		}
	}
}
