package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// Tests of the default time source: the Redis server's clock. (The
// conformance suite moves time with WithClock instead.)

// TestServerClockIsTheSource: with the in-process Redis's clock set years
// away from this process's clock, every deadline and listed time follows the
// server's clock, to the millisecond.
func TestServerClockIsTheSource(t *testing.T) {
	b := redistest.NewInProcess(t)
	server := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)
	b.SetTime(t, server)
	atMS := server.Truncate(time.Millisecond)
	const idle = time.Hour
	s := newStore(t, b, redisstore.WithLifetime(idle, 0))
	ctx := context.Background()

	g := login(t, s, "alice")
	if want := atMS.Add(idle); !g.Expires.Equal(want) {
		t.Fatalf("login expires %v, want %v (server clock + idle)", g.Expires, want)
	}
	b.Wait(idle - time.Second)
	r, err := s.Rotate(ctx, g.RefreshToken, "")
	if err != nil {
		t.Fatalf("rotation a second before the idle timeout: %v", err)
	}
	used := atMS.Add(idle - time.Second)
	if want := used.Add(idle); !r.Expires.Equal(want) {
		t.Fatalf("rotated token expires %v, want %v (sliding, server clock)", r.Expires, want)
	}
	ss, err := s.Sessions(ctx, "alice")
	if err != nil || len(ss) != 1 {
		t.Fatalf("Sessions: %v, %v", ss, err)
	}
	if !ss[0].Created.Equal(atMS) || !ss[0].LastUsed.Equal(used) || !ss[0].Expires.Equal(r.Expires) {
		t.Fatalf("session %+v: want created %v, last used %v, expires %v", ss[0], atMS, used, r.Expires)
	}
	b.Wait(idle - time.Millisecond)
	if ok, err := s.Active(ctx, "alice", r.SessionID); err != nil || !ok {
		t.Fatalf("Active a millisecond before the deadline: %v, %v", ok, err)
	}
	b.Wait(time.Millisecond)
	if ok, err := s.Active(ctx, "alice", r.SessionID); err != nil || ok {
		t.Fatalf("Active at the deadline: %v, %v", ok, err)
	}
	_, err = s.Rotate(ctx, r.RefreshToken, "")
	wantIs(t, "rotation at the deadline", err, session.ErrInvalidToken)
}

// serverClock brackets operations with the time of the Redis node holding a
// subject's keys, the clock the store's scripts read.
type serverClock struct {
	t   *testing.T
	b   *redistest.Backend
	key string // any key in the subject's slot
}

// clockedStore opens a store with default time (the server's) on b, and the
// clock of the node holding alice's keys.
func clockedStore(t *testing.T, b *redistest.Backend, opts ...redisstore.Option) (*client, *serverClock) {
	s := newStore(t, b, opts...)
	return s, &serverClock{t: t, b: b, key: s.tag("alice")}
}

func (c *serverClock) now() time.Time {
	c.t.Helper()
	now, err := c.b.ServerTime(context.Background(), c.key)
	if err != nil {
		c.t.Fatalf("TIME: %v", err)
	}
	return now.Truncate(time.Millisecond) // the scripts' resolution
}

// around runs op and returns the server times read just before and just
// after it: the script of op decided at a time within [lo, hi].
func (c *serverClock) around(op func()) (lo, hi time.Time) {
	c.t.Helper()
	lo = c.now()
	op()
	return lo, c.now()
}

// live checks an outcome decided within [lo, hi] against a deadline: a
// session may be live only before it, and dead only from it on.
func live(t *testing.T, what string, ok bool, lo, hi, deadline time.Time) {
	t.Helper()
	if ok && !lo.Before(deadline) {
		t.Fatalf("%s: live at server time ≥ %v, past the deadline %v", what, lo, deadline)
	}
	if !ok && hi.Before(deadline) {
		t.Fatalf("%s: dead at server time ≤ %v, before the deadline %v", what, hi, deadline)
	}
}

// rotate rotates tok within [lo, hi] and checks the outcome against the
// deadline: refused (invalid) only from the deadline on. ok reports whether
// it rotated.
func (c *serverClock) rotate(s *client, tok string, deadline time.Time) (r grant, ok bool, lo, hi time.Time) {
	c.t.Helper()
	var err error
	lo, hi = c.around(func() { r, err = s.Rotate(context.Background(), tok, "") })
	if err != nil {
		wantIs(c.t, "rotation", err, session.ErrInvalidToken)
	}
	live(c.t, "rotation", err == nil, lo, hi, deadline)
	return r, err == nil, lo, hi
}

func wantIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: %v, want %v", what, err, target)
	}
}

// pollLimit bounds the polling loops below: only a broken store (a deadline
// never reached) makes them run that long.
const pollLimit = 20 * time.Second

// TestServerClockRealTime runs idle timeout, sliding expiry, grace window and
// absolute lifetime on each backend's own clock, with short durations: no
// WithClock. The only timing the tests rely on is the server's clock itself:
// every outcome is checked against server times read just before and after
// the operation, so a slow or loaded machine changes which outcome is seen,
// never whether it is right.
func TestServerClockRealTime(t *testing.T) {
	redistest.Each(t, func(t *testing.T, b *redistest.Backend) {
		t.Run("IdleTimeout", func(t *testing.T) { testRealIdleTimeout(t, b) })
		t.Run("GraceWindow", func(t *testing.T) { testRealGraceWindow(t, b) })
		t.Run("AbsoluteLifetime", func(t *testing.T) { testRealAbsoluteLifetime(t, b) })
	})
}

func testRealIdleTimeout(t *testing.T, b *redistest.Backend) {
	const idle = 500 * time.Millisecond
	s, clock := clockedStore(t, b, redisstore.WithLifetime(idle, 0))
	ctx := context.Background()
	var g grant
	lo, hi := clock.around(func() { g = login(t, s, "alice") })
	if g.Expires.Before(lo.Add(idle)) || g.Expires.After(hi.Add(idle)) {
		t.Fatalf("login expires %v, want within [%v, %v] (server time + idle)", g.Expires, lo.Add(idle), hi.Add(idle))
	}
	// Sliding: each rotation moves the deadline to its own time + idle. A
	// rotation that comes too late (a stalled machine) must find the session
	// expired, and ends the chain.
	tok, exp, rotated := g.RefreshToken, g.Expires, 0
	for range 4 {
		b.Wait(idle / 3)
		r, ok, lo, hi := clock.rotate(s, tok, exp)
		if !ok {
			break
		}
		if r.Expires.Before(lo.Add(idle)) || r.Expires.After(hi.Add(idle)) {
			t.Fatalf("rotated token expires %v, want within [%v, %v]", r.Expires, lo.Add(idle), hi.Add(idle))
		}
		tok, exp = r.RefreshToken, r.Expires
		rotated++
	}
	t.Logf("%d sliding rotations", rotated)
	// Left alone, the session expires at its deadline by the server's clock.
	for start := time.Now(); ; b.Wait(10 * time.Millisecond) {
		var ok bool
		var err error
		lo, hi := clock.around(func() { ok, err = s.Active(ctx, "alice", g.SessionID) })
		if err != nil {
			t.Fatal(err)
		}
		if live(t, "Active", ok, lo, hi, exp); !ok {
			break
		}
		if time.Since(start) > pollLimit {
			t.Fatalf("session still active %v after its deadline", pollLimit)
		}
	}
	_, err := s.Rotate(ctx, tok, "")
	wantIs(t, "rotation after the idle timeout", err, session.ErrInvalidToken)
	if ss, err := s.Sessions(ctx, "alice"); err != nil || len(ss) != 0 {
		t.Fatalf("Sessions after the idle timeout: %v, %v", ss, err)
	}
}

func testRealGraceWindow(t *testing.T, b *redistest.Backend) {
	const grace = 300 * time.Millisecond
	s, clock := clockedStore(t, b, redisstore.WithReuseGrace(grace))
	ctx := context.Background()
	g := login(t, s, "alice")
	var r grant
	var err error
	lo1, hi1 := clock.around(func() { r, err = s.Rotate(ctx, g.RefreshToken, "") })
	if err != nil {
		t.Fatal(err)
	}
	// The parent again, without an idempotency key: the same child while
	// the window lasts, then reuse.
	replays := 0
	for start := time.Now(); ; b.Wait(10 * time.Millisecond) {
		var again grant
		lo2, hi2 := clock.around(func() { again, err = s.Rotate(ctx, g.RefreshToken, "") })
		if err == nil {
			if !again.Replayed || again.RefreshToken != r.RefreshToken {
				t.Fatalf("parent within the window: %+v, want the same child replayed", again)
			}
			if lo2.Sub(hi1) >= grace {
				t.Fatalf("replay at least %v after the rotation, window %v", lo2.Sub(hi1), grace)
			}
			replays++
		} else {
			wantIs(t, "parent after the window", err, errReuse)
			if hi2.Sub(lo1) < grace {
				t.Fatalf("reuse detected at most %v after the rotation, inside the window %v", hi2.Sub(lo1), grace)
			}
			break
		}
		if time.Since(start) > pollLimit {
			t.Fatalf("grace window still open after %v", pollLimit)
		}
	}
	t.Logf("%d replays within the window", replays)
	_, err = s.Rotate(ctx, r.RefreshToken, "")
	wantIs(t, "child after reuse", err, session.ErrInvalidToken)
}

func testRealAbsoluteLifetime(t *testing.T, b *redistest.Backend) {
	const lifetime = 400 * time.Millisecond
	s, clock := clockedStore(t, b, redisstore.WithLifetime(time.Hour, lifetime))
	ctx := context.Background()
	var g grant
	lo, hi := clock.around(func() { g = login(t, s, "alice") })
	deadline := g.Expires
	if deadline.Before(lo.Add(lifetime)) || deadline.After(hi.Add(lifetime)) {
		t.Fatalf("login expires %v, want within [%v, %v] (server time + lifetime)", deadline, lo.Add(lifetime), hi.Add(lifetime))
	}
	tok, rotated := g.RefreshToken, 0
	for start := time.Now(); ; b.Wait(20 * time.Millisecond) {
		r, ok, _, _ := clock.rotate(s, tok, deadline)
		if !ok {
			break
		}
		if !r.Expires.Equal(deadline) {
			t.Fatalf("rotated token expires %v, want the absolute deadline %v", r.Expires, deadline)
		}
		tok = r.RefreshToken
		rotated++
		if time.Since(start) > pollLimit {
			t.Fatalf("session still rotating %v after its absolute deadline", pollLimit)
		}
	}
	t.Logf("%d rotations before the absolute deadline", rotated)
	if ok, err := s.Active(ctx, "alice", g.SessionID); err != nil || ok {
		t.Fatalf("Active after the absolute deadline: %v, %v", ok, err)
	}
}

// TestReuseGraceDefault: without WithReuseGrace the window is
// DefaultReuseGrace: the parent presented without a key a millisecond
// before it closes gets the same child; at its close, or a grandparent at
// any time, is reuse.
func TestReuseGraceDefault(t *testing.T) {
	for _, tc := range []struct {
		name   string
		after  time.Duration // from the rotation to the parent's return
		parent bool          // the parent, else the grandparent
		reuse  bool
	}{
		{"ParentAtOnce", 0, true, false},
		{"ParentJustInside", redisstore.DefaultReuseGrace - time.Millisecond, true, false},
		{"ParentAtTheClose", redisstore.DefaultReuseGrace, true, true},
		{"GrandparentAtOnce", 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := redistest.NewInProcess(t)
			s := newStore(t, b)
			ctx := context.Background()
			g := login(t, s, "alice")
			r, err := s.Rotate(ctx, g.RefreshToken, "")
			if err != nil {
				t.Fatal(err)
			}
			if !tc.parent { // one more rotation: g is now a grandparent
				if _, err = s.Rotate(ctx, r.RefreshToken, ""); err != nil {
					t.Fatal(err)
				}
			}
			b.Wait(tc.after)
			again, err := s.Rotate(ctx, g.RefreshToken, "")
			if tc.reuse {
				wantIs(t, "after the window", err, errReuse)
				return
			}
			if err != nil || !again.Replayed || again.RefreshToken != r.RefreshToken {
				t.Fatalf("within the window: %+v, %v; want the same child replayed", again, err)
			}
		})
	}
}
