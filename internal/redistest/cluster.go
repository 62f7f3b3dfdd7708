package redistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartCluster starts a private 3-master Redis Cluster from redis-server on
// PATH (no replicas), with the 16384 slots split evenly, and waits until it
// is healthy. Its nodes are stopped when t ends. Without redis-server the
// test is skipped (a failure when REDIS_REQUIRED=1).
func StartCluster(t testing.TB) []*Server {
	t.Helper()
	nodes := make([]*Server, 3)
	for i := range nodes {
		nodes[i] = startServer(t, freeClusterPort,
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clients := make([]*redis.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: n.Addr})
		defer clients[i].Close()
		lo := i * 16384 / len(nodes)
		hi := (i+1)*16384/len(nodes) - 1
		if err := clients[i].ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("redistest: cluster: adding slots: %v", err)
		}
		if i > 0 {
			if err := clients[0].ClusterMeet(ctx, n.Host(), n.Port()).Err(); err != nil {
				t.Fatalf("redistest: cluster: meet: %v", err)
			}
		}
	}
	for _, c := range clients {
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(nodes))) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("redistest: cluster did not become healthy: %v %s", err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

// freeClusterPort picks a port whose cluster-bus port (+10000) is free too.
func freeClusterPort() (int, error) {
	for range 20 {
		port := 20000 + rand.IntN(20000)
		ok := true
		for _, p := range []int{port, port + 10000} {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port pair for a cluster node")
}
