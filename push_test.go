package jwtrefresh_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

// verifier is an instance's middleware with its session check, called
// directly: what a protected route runs, without HTTP.
func (e *env) verifier(t testing.TB) *middleware.Middleware {
	t.Helper()
	return must(e.svc.Middleware(mwClock(e.clock.Now), middleware.WithSessionCheck(e.svc.SessionCheck(), 0)))
}

// TestRevocationPropagation: three instances share one Redis, each with a
// warm session cache; 200 sessions are revoked through one of them, and
// each of the other two refuses the session's access token as soon as the
// push reaches it, without a store read. The time from the start of each
// revocation until each other instance refuses is logged (p50, p99, max;
// polled every 20 µs), with the time the revocation call took; nothing is
// asserted about either.
func TestRevocationPropagation(t *testing.T) {
	redistest.Each(t, func(t *testing.T, be *redistest.Backend) {
		const n = 200
		ctx := context.Background()
		a := newEnv(t, envConfig{backend: be})
		others := []*env{a.twin(t), a.twin(t)}
		verifiers := []*middleware.Middleware{others[0].verifier(t), others[1].verifier(t)}
		type sess struct{ at, sub, sid string }
		ss := make([]sess, n)
		for i := range ss {
			sub := fmt.Sprintf("user-%03d", i) // subjects all over the Cluster's slots
			tj := must(a.svc.Login(ctx, session.NewSession{Subject: sub}))
			ss[i] = sess{tj.AccessToken, sub, tj.SessionID}
			for _, v := range verifiers { // warm: "active" cached
				if _, err := v.Verify(ctx, tj.AccessToken); err != nil {
					t.Fatalf("warm-up: %v", err)
				}
			}
		}
		reads := others[0].store.active.Load() + others[1].store.active.Load()
		var lat, call []time.Duration
		for _, s := range ss {
			start := time.Now()
			if err := a.svc.RevokeSession(ctx, s.sub, s.sid); err != nil {
				t.Fatal(err)
			}
			call = append(call, time.Since(start))
			lat = append(lat, untilBothRefuse(t, verifiers, s.at, start)...)
		}
		if got := others[0].store.active.Load() + others[1].store.active.Load(); got != reads {
			t.Fatalf("the other instances read the store %d times: the push should have decided", got-reads)
		}
		slices.Sort(lat)
		slices.Sort(call)
		t.Logf("%s: %d revocations, time until each other instance refuses the access token: p50 %v, p99 %v, max %v "+
			"(the revocation call itself: p50 %v, p99 %v)", path.Base(t.Name()), n, lat[len(lat)/2], lat[len(lat)*99/100],
			lat[len(lat)-1], call[len(call)/2], call[len(call)*99/100])
	})
}

// untilBothRefuse polls each verifier with at until it refuses it as
// revoked, and returns how long after start each did. Another answer, or
// none within 10 s, fails the test.
func untilBothRefuse(t *testing.T, verifiers []*middleware.Middleware, at string, start time.Time) []time.Duration {
	t.Helper()
	took := make([]time.Duration, len(verifiers))
	for left := len(verifiers); left > 0; time.Sleep(20 * time.Microsecond) {
		for i, v := range verifiers {
			if took[i] != 0 {
				continue
			}
			_, err := v.Verify(context.Background(), at)
			switch {
			case errors.Is(err, middleware.ErrSessionRevoked):
				took[i] = time.Since(start)
				left--
			case err != nil:
				t.Fatalf("verify: %v", err)
			case time.Since(start) > 10*time.Second:
				t.Fatal("still accepted 10s after the revocation: no push")
			}
		}
	}
	return took
}

// setSubscribe allows or forbids SUBSCRIBE to the default user on every
// node of a private backend (PUBLISH stays allowed).
func setSubscribe(t *testing.T, be *redistest.Backend, allow bool) {
	t.Helper()
	rule := "-subscribe"
	if allow {
		rule = "+subscribe"
	}
	err := be.EachNode(context.Background(), func(ctx context.Context, c *redis.Client) error {
		return c.Do(ctx, "acl", "setuser", "default", rule).Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitPushLost waits until the instance notices that its push is gone.
func waitPushLost(t *testing.T, e *env) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); jwtrefresh.PushLive(e.svc); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the push is still live 10s after its connection was killed")
		}
	}
}

// TestMissedPushMessages: the instances' Pub/Sub connections are killed
// (CLIENT KILL TYPE pubsub) and kept from subscribing again (an ACL) while
// a session is revoked, so that its message reaches nobody. Once they have
// subscribed again, the revoked session is refused: a cached "active" from
// before the loss is no longer trusted.
func TestMissedPushMessages(t *testing.T) {
	for _, name := range []string{redistest.Standalone, redistest.Cluster} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			be := redistest.NewPrivate(t, name)
			a := newEnv(t, envConfig{backend: be})
			b := a.twin(t)
			victim, bystander := a.login(t, "alice"), a.login(t, "bob")
			for _, tj := range []tokenJSON{victim, bystander} {
				if r := b.me(t, tj.AccessToken); r.status != http.StatusOK {
					t.Fatalf("warm-up: %d", r.status)
				}
			}
			sid := sessionID(t, a, victim.AccessToken)
			setSubscribe(t, be, false)
			if err := be.EachNode(ctx, func(ctx context.Context, c *redis.Client) error {
				return c.ClientKillByFilter(ctx, "TYPE", "pubsub").Err()
			}); err != nil {
				t.Fatal(err)
			}
			waitPushLost(t, a)
			waitPushLost(t, b)
			if err := a.svc.RevokeSession(ctx, "alice", sid); err != nil { // pushed to nobody
				t.Fatal(err)
			}
			setSubscribe(t, be, true)
			jwtrefresh.WaitPushLive(t, b.svc)
			if r := b.me(t, victim.AccessToken); r.status != http.StatusUnauthorized {
				t.Fatalf("the session revoked while the push was down: %d, want 401", r.status)
			}
			if r := b.me(t, bystander.AccessToken); r.status != http.StatusOK {
				t.Fatalf("another session: %d, want 200", r.status)
			}
		})
	}
}

// heldStore holds the first Active read of one session after it has read
// the store, until released: a read in flight.
type heldStore struct {
	session.Store
	sid     string
	once    sync.Once
	read    chan struct{} // closed once the held read has its answer
	release chan struct{}
}

func (h *heldStore) Active(ctx context.Context, sid, subject string) (time.Time, error) {
	until, err := h.Store.Active(ctx, sid, subject)
	if sid == h.sid {
		h.once.Do(func() {
			close(h.read)
			<-h.release
		})
	}
	return until, err
}

func (h *heldStore) Watch(ended func([]string), live func(bool)) func() {
	return h.Store.(session.Watcher).Watch(ended, live)
}

// TestTombstoneRace: a store read that answered "active" before the
// session ended, and comes back after the end was pushed, does not make
// the session live again: neither the request it serves nor any later one
// is accepted, and the later ones need no store read.
func TestTombstoneRace(t *testing.T) {
	redistest.Each(t, func(t *testing.T, be *redistest.Backend) {
		a := newEnv(t, envConfig{backend: be})
		held := &heldStore{read: make(chan struct{}), release: make(chan struct{})}
		c := a.cfg
		c.wrapStore = func(s session.Store) session.Store { held.Store = s; return held }
		b := newEnv(t, c)
		victim, sentinel := a.login(t, "alice"), a.login(t, "alice")
		held.sid = sessionID(t, a, victim.AccessToken)
		if r := b.me(t, sentinel.AccessToken); r.status != http.StatusOK { // cached "active"
			t.Fatal(r.status)
		}
		inFlight := make(chan reply)
		go func() { inFlight <- b.me(t, victim.AccessToken) }()
		<-held.read // the store said "active"; the answer is on its way
		if _, err := a.svc.RevokeAll(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
		// Both ends come in one message: once b refuses the sentinel (no
		// read), it holds the victim's tombstone too.
		untilRefused(t, b, sentinel.AccessToken)
		close(held.release)
		if r := <-inFlight; r.status != http.StatusUnauthorized {
			t.Fatalf("the request whose read raced the end: %d, want 401", r.status)
		}
		reads := b.store.active.Load()
		if r := b.me(t, victim.AccessToken); r.status != http.StatusUnauthorized {
			t.Fatalf("after the race: %d, want 401", r.status)
		}
		if n := b.store.active.Load() - reads; n != 0 {
			t.Fatalf("%d store reads after the race: the end should be cached", n)
		}
	})
}

// TestSessionCheckCost: 100 sessions, 10,000 API requests spread over them
// on a warm cache, against a private Redis: the Redis commands they cause
// per request, from INFO commandstats (PINGs of the push included), are
// logged; the check itself must not read the store.
func TestSessionCheckCost(t *testing.T) {
	for _, name := range []string{redistest.Standalone, redistest.Cluster} {
		t.Run(name, func(t *testing.T) {
			const sessions, requests = 100, 10000
			ctx := context.Background()
			be := redistest.NewPrivate(t, name)
			e := newEnv(t, envConfig{backend: be, realClock: true})
			ats := make([]string, sessions)
			for i := range ats {
				ats[i] = e.login(t, fmt.Sprintf("user-%03d", i)).AccessToken
				if r := e.me(t, ats[i]); r.status != http.StatusOK { // warm
					t.Fatal(r.status)
				}
			}
			before := must(be.CommandCalls(ctx))
			reads := e.store.active.Load()
			start := time.Now()
			for i := range requests {
				if r := e.me(t, ats[i%sessions]); r.status != http.StatusOK {
					t.Fatal(r.status)
				}
			}
			took := time.Since(start)
			after := must(be.CommandCalls(ctx))
			total := int64(0)
			for cmd, n := range after {
				if cmd != "info" {
					total += n - before[cmd]
				}
			}
			if n := e.store.active.Load() - reads; n != 0 {
				t.Fatalf("%d store reads for %d requests on a warm cache, want 0", n, requests)
			}
			t.Logf("%s: %d Redis commands for %d requests over %v: %.5f per request (%v)",
				name, total, requests, took.Round(time.Millisecond), float64(total)/requests, diff(before, after))
		})
	}
}

// diff lists the commands counted between two CommandCalls, INFO aside.
func diff(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for cmd, n := range after {
		if n != before[cmd] && cmd != "info" {
			d[cmd] = n - before[cmd]
		}
	}
	return d
}

// refreshRace presents rt from n goroutines released at once, without an
// Idempotency-Key, and returns the answers.
func refreshRace(t *testing.T, e *env, rt string, n int) []reply {
	t.Helper()
	out := make([]reply, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = e.refresh(t, rt)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// TestParallelRefreshWithoutKeys: four clients present one refresh token
// at once with no Idempotency-Key, as threads sharing one OAuth 2.0
// session or browser tabs do. With the default grace window all four get
// 200 with the same new refresh token and nothing is revoked; on a strict
// store (grace 0) it is reuse, as before; a grandparent, or the parent
// once the window has passed, is reuse too.
func TestParallelRefreshWithoutKeys(t *testing.T) {
	redistest.Each(t, func(t *testing.T, be *redistest.Backend) {
		var sid string // of alice's session
		newWorld := func(t *testing.T, storeOpts ...redisstore.Option) (*env, *eventCounter, tokenJSON) {
			ev := &eventCounter{}
			e := newEnv(t, envConfig{backend: be, storeOpts: storeOpts, svcOpts: []jwtrefresh.Option{jwtrefresh.WithEvents(ev.hook)}})
			tj := e.login(t, "alice")
			sid = sessionID(t, e, tj.AccessToken)
			return e, ev, tj
		}
		t.Run("Default", func(t *testing.T) {
			e, ev, tj := newWorld(t)
			rts := map[string]int{}
			for _, r := range refreshRace(t, e, tj.RefreshToken, 4) {
				if r.status != http.StatusOK {
					t.Fatalf("a racing refresh: %d %s", r.status, r.body)
				}
				rts[r.token(t).RefreshToken]++
			}
			if len(rts) != 1 || ev.get(jwtrefresh.EventRotate) != 1 || ev.get(jwtrefresh.EventReplay) != 3 ||
				ev.get(jwtrefresh.EventReuseDetected) != 0 || !e.storeActive(t, "alice", sid) {
				t.Fatalf("%d distinct refresh tokens, events %v; want 1, 1 rotation, 3 replays and the session active", len(rts), ev.n)
			}
			for rt := range rts {
				if r := e.refresh(t, rt); r.status != http.StatusOK {
					t.Fatalf("the shared new refresh token: %d %s", r.status, r.body)
				}
			}
		})
		t.Run("Strict", func(t *testing.T) {
			e, ev, tj := newWorld(t, strict...)
			ok := 0
			for _, r := range refreshRace(t, e, tj.RefreshToken, 4) {
				if r.status == http.StatusOK {
					ok++
				} else {
					wantError(t, r, http.StatusBadRequest, "invalid_grant")
				}
			}
			if ok != 1 || ev.get(jwtrefresh.EventReuseDetected) != 1 || e.storeActive(t, "alice", sid) {
				t.Fatalf("%d succeeded, events %v; want 1, a reuse alarm and the session revoked", ok, ev.n)
			}
		})
		t.Run("Grandparent", func(t *testing.T) {
			e, ev, tj := newWorld(t)
			next := e.refresh(t, tj.RefreshToken).token(t)
			e.refresh(t, next.RefreshToken).token(t)
			wantError(t, e.refresh(t, tj.RefreshToken), http.StatusBadRequest, "invalid_grant")
			if ev.get(jwtrefresh.EventReuseDetected) != 1 {
				t.Fatalf("events %v, want a reuse alarm", ev.n)
			}
		})
		t.Run("AfterTheGrace", func(t *testing.T) {
			const grace = 100 * time.Millisecond
			e, ev, tj := newWorld(t, redisstore.WithReuseGrace(grace))
			next := e.refresh(t, tj.RefreshToken).token(t)
			be.Wait(2 * grace)
			wantError(t, e.refresh(t, tj.RefreshToken), http.StatusBadRequest, "invalid_grant")
			if ev.get(jwtrefresh.EventReuseDetected) != 1 {
				t.Fatalf("events %v, want a reuse alarm", ev.n)
			}
			wantError(t, e.refresh(t, next.RefreshToken), http.StatusBadRequest, "invalid_grant")
		})
	})
}
