package redistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterMasters is the number of masters of every private Cluster: the
// least with which a Cluster can fail one over (a majority of masters must
// agree that it failed).
const clusterMasters = 3

// StartCluster starts a private 3-master Redis Cluster from redis-server on
// PATH (no replicas), with the 16384 slots split evenly, and waits until it
// is healthy. Its nodes are stopped when t ends. Without redis-server the
// test is skipped (a failure when REDIS_REQUIRED=1).
func StartCluster(t testing.TB) []*Server {
	t.Helper()
	return startCluster(t, 0, 5*time.Second)
}

// StartReplicatedCluster starts a private 3-master Redis Cluster with the
// given number of replicas per master, nodes in memory only, and a
// cluster-node-timeout of nodeTimeout (after which a silent master is
// failed over). It waits until the Cluster is healthy, every replica is
// linked and every node knows every replica. It returns every node: the
// masters first, then the replicas, node 3+i replicating master i%3. The
// nodes are killed when t ends. Without redis-server the test is skipped
// (a failure when REDIS_REQUIRED=1).
func StartReplicatedCluster(t testing.TB, replicas int, nodeTimeout time.Duration) []*Server {
	t.Helper()
	return startCluster(t, replicas, nodeTimeout, nodeArgs...)
}

func startCluster(t testing.TB, replicas int, nodeTimeout time.Duration, args ...string) []*Server {
	t.Helper()
	nodes := make([]*Server, clusterMasters*(1+replicas))
	for i := range nodes {
		nodes[i] = startServer(t, freeClusterPort, append([]string{
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(nodeTimeout.Milliseconds(), 10)}, args...)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clients := make([]*redis.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: n.Addr})
		defer clients[i].Close()
	}
	for i, c := range clients[:clusterMasters] {
		lo := i * 16384 / clusterMasters
		hi := (i+1)*16384/clusterMasters - 1
		if err := c.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("redistest: cluster: adding slots: %v", err)
		}
	}
	for i, c := range clients { // every pair meets: faster than gossip
		for _, n := range nodes[i+1:] {
			if err := c.ClusterMeet(ctx, n.Host(), n.Port()).Err(); err != nil {
				t.Fatalf("redistest: cluster: meet: %v", err)
			}
		}
	}
	for i, c := range clients[clusterMasters:] {
		id, err := clients[i%clusterMasters].ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatalf("redistest: cluster: CLUSTER MYID: %v", err)
		}
		// Refused until the handshake with the master is over.
		waitUntil(ctx, t, "CLUSTER REPLICATE on "+c.Options().Addr, func(ctx context.Context) (bool, error) {
			err := c.ClusterReplicate(ctx, id).Err()
			return err == nil, err
		})
	}
	for i, c := range clients {
		waitUntil(ctx, t, "cluster node "+c.Options().Addr+" healthy", func(ctx context.Context) (bool, error) {
			return clusterNodeReady(ctx, c, i >= clusterMasters, replicas*clusterMasters)
		})
	}
	return nodes
}

// clusterNodeReady reports whether a node sees the Cluster healthy with
// the wanted number of replicas, and, for a replica, whether its link to
// its master is up.
func clusterNodeReady(ctx context.Context, c *redis.Client, replica bool, replicas int) (bool, error) {
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil || !strings.Contains(info, "cluster_state:ok") {
		return false, err
	}
	nodes, err := c.ClusterNodes(ctx).Result()
	if err != nil || strings.Count(nodes, "slave") != replicas || strings.Contains(nodes, "handshake") ||
		strings.Count(strings.TrimSpace(nodes), "\n")+1 != clusterMasters+replicas {
		return false, err
	}
	if !replica {
		return true, nil
	}
	repl, err := c.Info(ctx, "replication").Result()
	return strings.Contains(repl, "master_link_status:up"), err
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

// steadyTimeout is how long the Sentinel and the replicated Cluster that
// back tests wait before failing over a silent primary. No such test fails
// one over on purpose, and a long timeout keeps a loaded machine from
// failing one over by mistake.
const steadyTimeout = 5 * time.Second

// NewReplicatedCluster returns a client of the Cluster at
// REDIS_CLUSTER_REPLICA_ADDRS, which must have replicas, else of a private
// 3-master Cluster with one replica per master (StartReplicatedCluster).
// Without either the test is skipped (a failure when REDIS_REQUIRED=1).
// Its Backend's Name is Cluster.
func NewReplicatedCluster(t testing.TB) *Backend {
	t.Helper()
	addrs := os.Getenv("REDIS_CLUSTER_REPLICA_ADDRS")
	if addrs == "" {
		if _, err := exec.LookPath("redis-server"); err != nil {
			unavailable(t, "REDIS_CLUSTER_REPLICA_ADDRS is unset and redis-server is not on PATH")
		}
		var seeds []string
		for _, n := range StartReplicatedCluster(t, 1, steadyTimeout) {
			seeds = append(seeds, n.Addr)
		}
		addrs = strings.Join(seeds, ",")
	}
	c := clusterClient(t, addrs, "REDIS_CLUSTER_REPLICA_ADDRS")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if nodes, err := c.ClusterNodes(ctx).Result(); err != nil || !strings.Contains(nodes, "slave") {
		t.Fatalf("redistest: REDIS_CLUSTER_REPLICA_ADDRS %s: want a Cluster with replicas (%v); CLUSTER NODES:\n%s", addrs, err, nodes)
	}
	return &Backend{Name: Cluster, Client: c}
}
