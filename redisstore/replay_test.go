package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
)

// TestReplayCheck: the Store is the middleware's shared DPoP replay check:
// an id is new once per ttl, across stores on one Redis.
func TestReplayCheck(t *testing.T) {
	redistest.Each(t, func(t *testing.T, b *redistest.Backend) {
		ctx := context.Background()
		prefix := b.Prefix(t)
		open := func() middleware.ReplayCheck {
			st, err := redisstore.New(b.Client, redisstore.WithKeyPrefix(prefix))
			if err != nil {
				t.Fatal(err)
			}
			rc, ok := st.(middleware.ReplayCheck)
			if !ok {
				t.Fatal("the store is not a middleware.ReplayCheck")
			}
			return rc
		}
		a, c := open(), open()
		if fresh, err := a.FirstUse(ctx, "proof-id-1", time.Minute); err != nil || !fresh {
			t.Fatalf("first use: %v, %v", fresh, err)
		}
		if fresh, err := c.FirstUse(ctx, "proof-id-1", time.Minute); err != nil || fresh {
			t.Fatalf("second use, through another store: %v, %v", fresh, err)
		}
		if ttl := b.Client.PTTL(ctx, prefix+"dpop:proof-id-1").Val(); ttl <= 0 || ttl > time.Minute {
			t.Fatalf("entry ttl %v", ttl)
		}
		if _, err := a.FirstUse(ctx, "", time.Minute); err == nil {
			t.Fatal("empty id accepted")
		}
		if _, err := a.FirstUse(ctx, "x", 0); err == nil {
			t.Fatal("zero ttl accepted")
		}
	})
}
