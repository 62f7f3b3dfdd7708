package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

// watchLog records what a Watch is told.
type watchLog struct {
	live  chan bool
	ended chan []string
}

func watch(t *testing.T, st session.Store) (*watchLog, func()) {
	t.Helper()
	w := &watchLog{live: make(chan bool, 1024), ended: make(chan []string, 1024)}
	stop := st.(session.Watcher).Watch(func(ids []string) { w.ended <- ids }, func(ok bool) { w.live <- ok })
	return w, stop
}

// until waits for live(want), skipping the other reports; 20 s bound a
// store that never says it.
func (w *watchLog) until(t *testing.T, what string, want bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ok := <-w.live:
			if ok == want {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no live(%v) within 20s", what, want)
		}
	}
}

// TestWatchFollowsTheServer: the subscription is reported lost when Redis
// is paused (a PING unanswered) or killed (the connection broken), and live
// again once Redis is back.
func TestWatchFollowsTheServer(t *testing.T) {
	b := redistest.NewPrivate(t, redistest.Standalone)
	st, err := redisstore.New(b.Client, redisstore.WithWatchEvery(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	w, stop := watch(t, st)
	srv := b.Servers[0]
	w.until(t, "subscribed", true)
	srv.Pause()
	w.until(t, "paused", false)
	srv.Resume()
	w.until(t, "resumed", true)
	srv.Stop()
	w.until(t, "killed", false)
	srv.Start()
	w.until(t, "restarted", true)
	stop()
	stop() // twice is harmless; storetest's PushStop checks that nothing follows
}

// TestWatchEndsWithTheClient: closing the Redis client ends the watch's
// goroutine: stop returns.
func TestWatchEndsWithTheClient(t *testing.T) {
	srv := redistest.StartServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	st, err := redisstore.New(c, redisstore.WithWatchEvery(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	w, stop := watch(t, st)
	w.until(t, "subscribed", true)
	c.Close()
	w.until(t, "client closed", false)
	stop() // hangs if the goroutine did not end
}

// TestPushFromEveryClusterNode: a session ended on any master of the
// Cluster reaches a watch subscribed on one of them (PUBLISH is forwarded
// over the cluster bus).
func TestPushFromEveryClusterNode(t *testing.T) {
	b := redistest.NewCluster(t)
	ctx := context.Background()
	cc := b.Client.(*redis.ClusterClient)
	s := newStore(t, b)
	w, stop := watch(t, s.st)
	defer stop()
	w.until(t, "subscribed", true)
	byNode := map[string]grant{}
	for i := 0; len(byNode) < 3; i++ {
		if i == 1000 {
			t.Fatalf("sessions on %d masters after 1000 logins", len(byNode))
		}
		sub := fmt.Sprint("user-", i)
		node, err := cc.MasterForKey(ctx, s.tag(sub))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := byNode[node.Options().Addr]; !ok {
			byNode[node.Options().Addr] = login(t, s, sub)
		}
	}
	for addr, g := range byNode {
		if err := s.RevokeSession(ctx, g.Subject, g.SessionID); err != nil {
			t.Fatal(err)
		}
		select {
		case ids := <-w.ended:
			if len(ids) != 1 || ids[0] != g.SessionID {
				t.Fatalf("ended on %s: pushed %v, want [%s]", addr, ids, g.SessionID)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("a session ended on %s was not pushed within 20s", addr)
		}
	}
}
