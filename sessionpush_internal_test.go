package jwtrefresh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// pushWorld is a session check on a pushing stub store, with a clock and
// a switch that makes the store fail.
type pushWorld struct {
	t      *testing.T
	clock  *testClock
	store  *pushStub
	check  *sessionCheck
	mu     sync.Mutex
	down   bool
	ended  map[string]bool // sessions the store says are not active
	events []EventKind
	log    bytes.Buffer
}

func newPushWorld(t *testing.T, opts ...Option) *pushWorld {
	w := &pushWorld{t: t, clock: &testClock{now: time.Now()}, ended: map[string]bool{}}
	w.store = &pushStub{activeStub: activeStub{active: func(_, sid string) (bool, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.down {
			return false, fmt.Errorf("%w: connection refused", session.ErrUnavailable)
		}
		return !w.ended[sid], nil
	}}}
	opts = append([]Option{WithEvents(func(_ context.Context, e Event) {
		w.mu.Lock()
		w.events = append(w.events, e.Kind)
		w.mu.Unlock()
	}), WithLogger(slog.New(slog.NewTextHandler(&w.log, nil)))}, opts...)
	w.check = newTestCheck(w.store, time.Minute, 100, w.clock.Now, opts...)
	w.check.start()
	return w
}

func (w *pushWorld) setDown(down bool) {
	w.mu.Lock()
	w.down = down
	w.mu.Unlock()
}

func (w *pushWorld) end(sid string) {
	w.mu.Lock()
	w.ended[sid] = true
	w.mu.Unlock()
}

// status is what the middleware would answer: 200, 401 or 503.
func (w *pushWorld) status(c *middleware.Claims) int {
	w.t.Helper()
	err := w.check.check(context.Background(), c)
	switch {
	case err == nil:
		return 200
	case errors.Is(err, middleware.ErrSessionRevoked):
		return 401
	case errors.Is(err, session.ErrUnavailable):
		return 503
	}
	w.t.Fatalf("check: %v", err)
	return 0
}

// want checks the status of a token of sid issued at iat, and the store
// reads it cost.
func (w *pushWorld) want(what, sid string, iat time.Time, status int, reads int64) {
	w.t.Helper()
	before := w.store.calls.Load()
	if got := w.status(issuedClaims("alice", sid, iat)); got != status {
		w.t.Fatalf("%s: %d, want %d", what, got, status)
	}
	if n := w.store.calls.Load() - before; n != reads {
		w.t.Fatalf("%s: %d store reads, want %d", what, n, reads)
	}
}

// TestSessionCheckTrustsOnlyLivePush: a cached "active" is trusted while
// the push that was live when it was read still is; lost, every such
// answer is asked again, and so are those read while it was lost, once it
// is back.
func TestSessionCheckTrustsOnlyLivePush(t *testing.T) {
	w := newPushWorld(t)
	now := w.clock.Now()
	w.want("first sight", "s1", now, 200, 1)
	w.want("cached", "s1", now, 200, 0)
	w.store.setLive(false)
	w.want("push lost", "s1", now, 200, 1)
	w.want("push still lost", "s1", now, 200, 1)
	w.store.setLive(true)
	w.want("read while lost, push back", "s1", now, 200, 1)
	w.want("read under the live push", "s1", now, 200, 0)
}

// TestSessionCheckTombstones: a pushed end refuses the session at once,
// cached or never seen, without a store read, for an access token's
// lifetime plus the skew.
func TestSessionCheckTombstones(t *testing.T) {
	w := newPushWorld(t)
	now := w.clock.Now()
	w.want("cached", "s1", now, 200, 1)
	w.store.push("s1", "s2")
	w.want("cached, then pushed", "s1", now, 401, 0)
	w.want("never seen, pushed", "s2", now, 401, 0)
	w.clock.Add(defaultAccessTTL + defaultSkew)
	w.want("tombstone expired: asks", "s2", now, 200, 1)
}

// TestSessionCheckDeadline: a cached "active" never outlives the
// session's own deadline, whatever the TTL.
func TestSessionCheckDeadline(t *testing.T) {
	w := newPushWorld(t)
	w.store.deadline = w.clock.Now().Add(10 * time.Second)
	now := w.clock.Now()
	w.want("first sight", "s1", now, 200, 1)
	w.clock.Add(9 * time.Second)
	w.want("before the deadline", "s1", now, 200, 0)
	w.clock.Add(time.Second)
	w.want("at the deadline", "s1", now, 200, 1)
}

// TestSessionCheckDegraded: while the store fails, the rules of the
// "Store outages" section, one probe per second, and one event and one
// log line at each change of mode.
func TestSessionCheckDegraded(t *testing.T) {
	w := newPushWorld(t)
	start := w.clock.Now()
	w.clock.Add(time.Minute) // the push has been live for a minute
	now := w.clock.Now()
	w.want("known active", "active", now, 200, 1)
	w.end("ended")
	w.want("known ended", "ended", now, 401, 1)
	w.store.push("tomb")
	w.store.setLive(true)  // verified (a PING answered), as every second
	w.store.setLive(false) // then Redis dies: the push goes first
	w.setDown(true)

	w.want("probe: known active", "active", now, 200, 1)
	w.want("known ended", "ended", now, 401, 0)
	w.want("tombstone", "tomb", now, 401, 0)
	w.want("never seen, issued under the push", "unseen", now, 200, 0)
	w.want("never seen, issued before the push", "unseen", start.Add(-time.Second), 503, 0)
	w.clock.Add(time.Second)
	w.want("the next probe", "unseen", now, 200, 1)
	w.want("answered from memory", "unseen", now, 200, 0)
	w.clock.Add(defaultAccessTTL) // past the default max staleness
	w.want("too stale: known active", "active", now, 503, 1)
	w.want("too stale: never seen", "unseen2", now, 503, 0)
	w.want("ended stays ended", "ended", now, 401, 0)

	w.setDown(false)
	w.clock.Add(time.Second)
	w.want("restored", "active", now, 200, 1)
	if want := []EventKind{EventCheckDegraded, EventCheckRestored}; fmt.Sprint(w.events) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", w.events, want)
	}
	log := w.log.String()
	if strings.Count(log, "session check degraded") != 1 || strings.Count(log, "session check restored") != 1 ||
		strings.Count(log, "push lost") != 1 {
		t.Fatalf("log lines: %s", log)
	}
}

// TestSessionCheckPushLostEarlier: a push lost well before the store
// fails vouches for no session never seen; one lost at the same time
// does.
func TestSessionCheckPushLostEarlier(t *testing.T) {
	for _, tc := range []struct {
		name   string
		gap    time.Duration // from the loss to the failing read
		status int
	}{
		{"SameOutage", pushTolerance, 200},
		{"Earlier", pushTolerance + time.Second, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newPushWorld(t)
			w.clock.Add(time.Minute)
			now := w.clock.Now()
			w.store.setLive(true) // verified
			w.store.setLive(false)
			w.clock.Add(tc.gap)
			w.setDown(true)
			w.want("never seen", "unseen", now, tc.status, 1)
		})
	}
}

// TestSessionCheckFailClosed: WithMaxStale(0) answers 503 for every
// session the store must answer for, 401 for a known end.
func TestSessionCheckFailClosed(t *testing.T) {
	w := newPushWorld(t, WithMaxStale(0))
	w.clock.Add(time.Minute)
	now := w.clock.Now()
	w.want("known active", "active", now, 200, 1)
	w.store.push("tomb")
	w.store.setLive(false)
	w.setDown(true)
	w.want("probe: known active", "active", now, 503, 1)
	w.want("known active, from memory", "active", now, 503, 0)
	w.want("never seen", "unseen", now, 503, 0)
	w.want("tombstone", "tomb", now, 401, 0)
}

// TestSessionCheckCallerGaveUp: a read that fails because the caller's
// context ended is not an outage.
func TestSessionCheckCallerGaveUp(t *testing.T) {
	w := newPushWorld(t)
	w.setDown(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.check.check(ctx, issuedClaims("alice", "s1", w.clock.Now())); !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("check: %v", err)
	}
	if len(w.events) != 0 || w.check.outage.down {
		t.Fatalf("events %v: a cancelled request entered degraded mode", w.events)
	}
}

// TestTombstonesBounded: past maxTombstones the oldest end is dropped, and
// the push stops vouching for sessions issued before.
func TestTombstonesBounded(t *testing.T) {
	w := newPushWorld(t)
	w.clock.Add(time.Minute)
	before := w.clock.Now()
	ids := make([]string, maxTombstones+1)
	for i := range ids {
		ids[i] = fmt.Sprint("s", i)
	}
	w.store.push(ids...)
	if n := len(w.check.tombs.at); n != maxTombstones {
		t.Fatalf("%d tombstones, bound %d", n, maxTombstones)
	}
	w.want("the newest end", ids[len(ids)-1], before, 401, 0)
	w.setDown(true)
	w.want("never seen, issued before the overflow", "unseen", before, 503, 1)
}

// TestSessionCheckClose: Close stops the push; cached answers are then
// asked again.
func TestSessionCheckClose(t *testing.T) {
	w := newPushWorld(t)
	now := w.clock.Now()
	w.want("first sight", "s1", now, 200, 1)
	w.check.close()
	w.check.close()
	if w.store.stops != 1 {
		t.Fatalf("stop called %d times, want 1", w.store.stops)
	}
	w.want("after Close", "s1", now, 200, 1)
}

func TestNewSessionCheck(t *testing.T) {
	st := &pushStub{activeStub: activeStub{active: func(string, string) (bool, error) { return true, nil }}}
	for name, opts := range map[string][]Option{
		"Audience":     {WithAudience("api")},
		"ClaimsLoader": {WithClaimsLoader(func(context.Context, string, string, json.RawMessage) (json.RawMessage, error) { return nil, nil })},
		"NegativeAge":  {WithMaxStale(-time.Second)},
		"NilOption":    {nil},
	} {
		if _, _, err := NewSessionCheck(st, opts...); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, _, err := NewSessionCheck((*pushStub)(nil)); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil store: %v", err)
	}
	check, stop, err := NewSessionCheck(st, WithAccessTokenTTL(time.Minute), WithSessionCache(time.Hour, 10), WithMaxStale(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := check(t.Context(), claimsOf("alice", "s1")); err != nil {
		t.Fatal(err)
	}
	stop()
	if st.stops != 1 {
		t.Fatalf("stop: the push was stopped %d times", st.stops)
	}
}
