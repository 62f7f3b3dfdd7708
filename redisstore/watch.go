package redisstore

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

var _ session.Watcher = (*store)(nil)

// defaultWatchEvery is how often a quiet subscription is verified with a
// PING, how long its answer may take, and how long a lost subscription
// waits before subscribing again.
const defaultWatchEvery = time.Second

// Watch implements session.Watcher with a Pub/Sub subscription to the
// channel <prefix>ended, on a connection of its own, to which every script
// that ends sessions publishes their ids. The subscription is verified
// with a PING on that connection after a second without traffic; a PING
// unanswered within the next second, a broken connection or a refused
// subscription is a loss (live(false)), and the subscription is made
// again a second later, until stop. On a Cluster, PUBLISH reaches every
// node, and the subscription is on the node serving the channel's slot;
// see the package documentation's "Push" section.
func (s *store) Watch(ended func(sessionIDs []string), live func(bool)) (stop func()) {
	w := &watcher{rdb: s.rdb, channel: s.cfg.prefix + "ended", every: s.cfg.watchEvery,
		ended: ended, live: live, quit: make(chan struct{}), done: make(chan struct{})}
	go w.run() // owned by w: ends once stop closes quit, or the client is closed
	return w.stop
}

// watcher is one Watch: a goroutine keeping a subscription.
type watcher struct {
	rdb     redis.UniversalClient
	channel string
	every   time.Duration
	ended   func([]string)
	live    func(bool)
	quit    chan struct{} // closed by stop
	done    chan struct{} // closed when run returns
	once    sync.Once
	mu      sync.Mutex
	ps      *redis.PubSub // the current subscription; guarded by mu
}

// stop ends the subscription and waits for the goroutine: closing the
// subscription interrupts a receive in progress.
func (w *watcher) stop() {
	w.once.Do(func() {
		w.mu.Lock()
		close(w.quit)
		if w.ps != nil {
			_ = w.ps.Close()
		}
		w.mu.Unlock()
	})
	<-w.done
}

func (w *watcher) run() {
	defer close(w.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		wasLive, over := w.subscription()
		if wasLive {
			w.live(false)
		}
		if over {
			return
		}
		t.Reset(w.every)
		select {
		case <-w.quit:
			return
		case <-t.C:
		}
	}
}

// subscription subscribes and delivers what arrives until the
// subscription is lost, the watcher is stopped or the client closed
// (over). wasLive reports whether Redis confirmed the subscription.
func (w *watcher) subscription() (wasLive, over bool) {
	ctx := context.Background()
	w.mu.Lock()
	select {
	case <-w.quit:
		w.mu.Unlock()
		return false, true
	default:
	}
	ps := w.rdb.Subscribe(ctx, w.channel)
	w.ps = ps
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.ps = nil
		w.mu.Unlock()
		_ = ps.Close()
	}()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, w.every)
		select {
		case <-w.quit:
			return wasLive, true
		default:
		}
		switch {
		case errors.Is(err, redis.ErrClosed):
			return wasLive, true
		case err != nil && (!isTimeout(err) || pinged || !wasLive):
			return wasLive, false // broken, or silent for two periods
		case err != nil:
			if ps.Ping(ctx) != nil {
				return wasLive, false
			}
			pinged = true
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				return wasLive, false
			}
			wasLive = true
		case *redis.Message:
			w.ended(sessionIDs(m.Payload))
		}
		pinged = false
		if wasLive {
			w.live(true) // anything received proves the subscription
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sessionIDs splits a message into well-formed session ids.
func sessionIDs(payload string) []string {
	ids := strings.Fields(payload)
	n := 0
	for _, id := range ids {
		if len(id) == session.SessionIDLen {
			ids[n] = id
			n++
		}
	}
	return ids[:n]
}
