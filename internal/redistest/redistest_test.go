package redistest_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestEach: every backend stores a key under the test's prefix, reads it
// back and lists it.
func TestEach(t *testing.T) {
	redistest.Each(t, func(t *testing.T, b *redistest.Backend) {
		ctx := context.Background()
		prefix := b.Prefix(t)
		if err := b.Client.Set(ctx, prefix+"k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := b.Client.Get(ctx, prefix+"k").Result(); err != nil || v != "v" {
			t.Fatalf("GET: %q, %v", v, err)
		}
		if keys, err := b.Keys(ctx, prefix); err != nil || !slices.Equal(keys, []string{prefix + "k"}) {
			t.Fatalf("Keys: %v, %v", keys, err)
		}
	})
}

// TestReplicated: the Sentinel and replicated-Cluster backends have a
// replica that acknowledges a write (WAIT 1).
func TestReplicated(t *testing.T) {
	for _, name := range []string{redistest.Sentinel, redistest.ReplicatedCluster} {
		t.Run(name, func(t *testing.T) {
			b := redistest.New(t, name)
			ctx := context.Background()
			key := b.Prefix(t) + "k"
			if err := b.Client.Set(ctx, key, "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			node, ok := b.Client.(*redis.Client)
			if c, isCluster := b.Client.(*redis.ClusterClient); isCluster {
				var err error
				if node, err = c.MasterForKey(ctx, key); err != nil {
					t.Fatal(err)
				}
				ok = true
			}
			if !ok {
				t.Fatalf("a %T", b.Client)
			}
			if n, err := node.Do(ctx, "wait", 1, 10000).Int(); err != nil || n < 1 {
				t.Fatalf("WAIT 1: %d replicas acknowledged, %v", n, err)
			}
		})
	}
}
