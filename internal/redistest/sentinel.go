package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name the Sentinels of StartSentinel monitor their
// primary under.
const SentinelMaster = "redistest"

// SentinelSet is a private primary with replicas, watched by three
// Sentinels (quorum 2), started by StartSentinel. Its nodes keep data in
// memory only, so a killed primary comes back empty: never restart one
// before its Sentinels have promoted a replica.
type SentinelSet struct {
	Primary   *Server // the primary at start (after a failover, one of Replicas is)
	Replicas  []*Server
	Sentinels []*Server
}

// StartSentinel starts, from redis-server on PATH, a primary with the given
// number of replicas and three Sentinels that consider the primary down
// after downAfter without an answer, and waits until every replica is
// linked and every Sentinel knows the replicas and the other Sentinels, so
// that a failover can start at once. Everything is killed when t ends.
// Without redis-server the test is skipped (a failure when
// REDIS_REQUIRED=1).
func StartSentinel(t testing.TB, replicas int, downAfter time.Duration) *SentinelSet {
	t.Helper()
	return startSentinelSet(t, replicas, downAfter, true)
}

// startSentinelSet is StartSentinel; without discovered it does not wait
// for the Sentinels to find each other (up to 2 s: they say hello every 2 s),
// which only a failover needs.
func startSentinelSet(t testing.TB, replicas int, downAfter time.Duration, discovered bool) *SentinelSet {
	t.Helper()
	set := &SentinelSet{Primary: StartServer(t, nodeArgs...)}
	for range replicas {
		r := StartServer(t, nodeArgs...)
		replicate(t, r, set.Primary)
		set.Replicas = append(set.Replicas, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range set.Replicas {
		waitUntil(ctx, t, "replica "+r.Addr+" linked", func(ctx context.Context) (bool, error) {
			return linked(ctx, r)
		})
	}
	conf := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 2\n"+
		"sentinel down-after-milliseconds %[1]s %[4]d\n"+
		"sentinel failover-timeout %[1]s %[5]d\n",
		SentinelMaster, set.Primary.Host(), set.Primary.Port(), downAfter.Milliseconds(), 3*downAfter.Milliseconds())
	for range 3 {
		set.Sentinels = append(set.Sentinels, startSentinel(t, conf))
	}
	others := len(set.Sentinels) - 1
	if !discovered {
		others = -1
	}
	for _, s := range set.Sentinels {
		waitUntil(ctx, t, "Sentinel "+s.Addr+" ready", func(ctx context.Context) (bool, error) {
			return sentinelReady(ctx, s, replicas, others)
		})
	}
	return set
}

// nodeArgs configure the data nodes of topologies: in memory only, and a
// replica's full sync starts at once instead of waiting for more replicas.
var nodeArgs = []string{"--appendonly", "no", "--repl-diskless-sync-delay", "0"}

// replicate makes r a replica of primary (REPLICAOF at run time links at
// once; the configuration option waits for the next replication cron).
func replicate(t testing.TB, r, primary *Server) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	if err := c.Do(context.Background(), "replicaof", primary.Host(), primary.Port()).Err(); err != nil {
		t.Fatalf("redistest: REPLICAOF on %s: %v", r.Addr, err)
	}
}

func startSentinel(t testing.TB, conf string) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir(), args: []string{"--sentinel"}}
	s.conf = filepath.Join(s.dir, "sentinel.conf") // rewritten by the Sentinel
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return launch(t, s, freePort)
}

// linked reports whether r is a replica whose link to its primary is up.
func linked(ctx context.Context, r *Server) (bool, error) {
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	return strings.Contains(info, "master_link_status:up"), err
}

// sentinelReady reports whether the Sentinel s knows the wanted number of
// replicas and of other Sentinels (any number when others < 0).
func sentinelReady(ctx context.Context, s *Server, replicas, others int) (bool, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	rs, err := c.Replicas(ctx, SentinelMaster).Result()
	if err != nil {
		return false, err
	}
	ss, err := c.Sentinels(ctx, SentinelMaster).Result()
	return len(rs) == replicas && (others < 0 || len(ss) == others), err
}

// waitUntil polls ok until it reports true, failing the test with what
// and the last error when ctx ends first.
func waitUntil(ctx context.Context, t testing.TB, what string, ok func(context.Context) (bool, error)) {
	t.Helper()
	for {
		done, err := ok(ctx)
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: timed out waiting for %s (last error: %v)", what, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Addrs returns the Sentinels' addresses.
func (s *SentinelSet) Addrs() []string {
	addrs := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		addrs[i] = n.Addr
	}
	return addrs
}

// Client returns a failover client of the set's primary
// (ContextTimeoutEnabled), closed when t ends: it follows a failover.
func (s *SentinelSet) Client(t testing.TB) *redis.Client {
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: SentinelMaster, SentinelAddrs: s.Addrs(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// NewSentinel returns a failover client of the primary that the Sentinels
// at REDIS_SENTINEL_ADDRS monitor as REDIS_SENTINEL_MASTER, else of a
// private primary with one replica and three Sentinels (StartSentinel).
// The primary must have a replica. Without either setup the test is
// skipped (a failure when REDIS_REQUIRED=1). The client is closed when t
// ends.
func NewSentinel(t testing.TB) *Backend {
	t.Helper()
	addrs, master := os.Getenv("REDIS_SENTINEL_ADDRS"), os.Getenv("REDIS_SENTINEL_MASTER")
	if (addrs == "") != (master == "") {
		t.Fatal("redistest: set both REDIS_SENTINEL_ADDRS and REDIS_SENTINEL_MASTER, or neither")
	}
	if addrs == "" {
		if _, err := exec.LookPath("redis-server"); err != nil {
			unavailable(t, "REDIS_SENTINEL_ADDRS is unset and redis-server is not on PATH")
		}
		set := startSentinelSet(t, 1, steadyTimeout, false)
		addrs, master = strings.Join(set.Addrs(), ","), SentinelMaster
	}
	what := "REDIS_SENTINEL_ADDRS " + addrs + " master " + master
	sc := redis.NewSentinelClient(&redis.Options{Addr: strings.Split(addrs, ",")[0]})
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hp, err := sc.GetMasterAddrByName(ctx, master).Result()
	if err != nil {
		t.Fatalf("redistest: %s: %v", what, err)
	}
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: master, SentinelAddrs: strings.Split(addrs, ","), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	ping(t, c, what)
	if info := c.Info(ctx, "replication").Val(); !strings.Contains(info, "role:master") || strings.Contains(info, "connected_slaves:0") {
		t.Fatalf("redistest: %s: want a primary with a replica; INFO replication:\n%s", what, info)
	}
	return &Backend{Name: Sentinel, Client: c, Addr: net.JoinHostPort(hp[0], hp[1]),
		Sentinels: strings.Split(addrs, ","), Master: master}
}
