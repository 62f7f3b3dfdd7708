package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Backend names, as used for subtests by Each and by New.
const (
	Standalone = "standalone"
	Cluster    = "cluster"
	InProcess  = "inprocess"
	// Sentinel: a primary with a replica, reached through its Sentinels
	// (go-redis' failover client).
	Sentinel = "sentinel"
	// ReplicatedCluster: a Cluster with a replica per master. Its Backend's
	// Name is Cluster, since a client talks to it as to any Cluster.
	ReplicatedCluster = "cluster-replicas"
)

// Backend is one Redis deployment a test runs against. Its Client has
// ContextTimeoutEnabled set, so context deadlines bound every call.
type Backend struct {
	// Name is how a client talks to it: Standalone, Cluster (also for a
	// ReplicatedCluster), InProcess or Sentinel.
	Name   string
	Client redis.UniversalClient
	// Addr is a TCP address of the (only) node, for proxies: for Sentinel,
	// the primary's when the backend was made; empty for a Cluster.
	Addr string
	// Sentinels are the addresses of a Sentinel backend's Sentinels and
	// Master the name they know its primary by; else empty.
	Sentinels []string
	Master    string
	// Mini is the in-process server of the InProcess backend, else nil.
	Mini *miniredis.Miniredis
	// Servers are the private servers of a NewPrivate backend, else nil.
	Servers []*Server

	mu   sync.Mutex
	mnow time.Time // Mini's clock
}

// Required reports whether REDIS_REQUIRED=1: a missing real Redis is then a
// test failure instead of a fallback or a skip.
func Required() bool { return os.Getenv("REDIS_REQUIRED") == "1" }

// unavailable fails the test when Redis is required, else skips it with why.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("redistest: REDIS_REQUIRED=1 but %s", why)
	}
	t.Skipf("redistest: %s (set REDIS_REQUIRED=1 to make this a failure)", why)
}

// NewStandalone returns the standalone backend: REDIS_URL if set, else a
// private redis-server from PATH, else the in-process Redis (logged; a test
// failure when REDIS_REQUIRED=1). The client is closed when t ends.
func NewStandalone(t testing.TB) *Backend {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatalf("redistest: REDIS_URL: %v", err)
		}
		opt.ContextTimeoutEnabled = true
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		ping(t, c, "REDIS_URL "+opt.Addr)
		return &Backend{Name: Standalone, Client: c, Addr: opt.Addr}
	}
	if _, err := exec.LookPath("redis-server"); err == nil {
		// In memory only, like the instances .ci/run starts.
		s := StartServer(t, "--appendonly", "no")
		return &Backend{Name: Standalone, Client: s.Client(t), Addr: s.Addr}
	}
	if Required() {
		t.Fatal("redistest: REDIS_REQUIRED=1 but REDIS_URL is unset and redis-server is not on PATH")
	}
	t.Log("redistest: REDIS_URL is unset and redis-server is not on PATH: standalone tests use the in-process Redis")
	b := NewInProcess(t)
	b.Name = Standalone
	return b
}

// NewCluster returns a client of the Redis Cluster at REDIS_CLUSTER_ADDRS,
// else of a private cluster started from redis-server on PATH (StartCluster).
// Without either the test is skipped (a failure when REDIS_REQUIRED=1).
func NewCluster(t testing.TB) *Backend {
	t.Helper()
	addrs := os.Getenv("REDIS_CLUSTER_ADDRS")
	if addrs == "" {
		if _, err := exec.LookPath("redis-server"); err != nil {
			unavailable(t, "REDIS_CLUSTER_ADDRS is unset and redis-server is not on PATH")
		}
		var seeds []string
		for _, n := range StartCluster(t) {
			seeds = append(seeds, n.Addr)
		}
		addrs = strings.Join(seeds, ",")
	}
	return &Backend{Name: Cluster, Client: clusterClient(t, addrs, "REDIS_CLUSTER_ADDRS")}
}

// clusterClient returns a client of the Cluster at the comma-separated
// seed addrs, closed when t ends; env names where addrs came from.
func clusterClient(t testing.TB, addrs, env string) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 strings.Split(addrs, ","),
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { c.Close() })
	ping(t, c, env+" "+addrs)
	return c
}

// NewInProcess returns a fresh in-process Redis (miniredis), closed when t
// ends. Its clock (TIME, also inside scripts) stands still at the time of
// the call and moves only by [Backend.Wait], TTLs with it, so tests that
// use the server's clock are deterministic on it.
func NewInProcess(t testing.TB) *Backend {
	t.Helper()
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatalf("redistest: in-process Redis: %v", err)
	}
	t.Cleanup(m.Close)
	now := time.Now().Truncate(time.Microsecond)
	m.SetTime(now)
	m.ClockTTL(true) // TTLs follow SetTime, and so Wait
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return &Backend{Name: InProcess, Client: c, Addr: m.Addr(), Mini: m, mnow: now}
}

// Each runs fn as a subtest per backend: standalone, cluster, in-process,
// sentinel, replicated cluster.
func Each(t *testing.T, fn func(t *testing.T, b *Backend)) {
	t.Helper()
	for _, name := range []string{Standalone, Cluster, InProcess, Sentinel, ReplicatedCluster} {
		t.Run(name, func(t *testing.T) {
			fn(t, New(t, name))
		})
	}
}

// New returns the backend of that name (Standalone, Cluster, InProcess,
// Sentinel, ReplicatedCluster).
func New(t testing.TB, name string) *Backend {
	t.Helper()
	switch name {
	case Standalone:
		return NewStandalone(t)
	case Cluster:
		return NewCluster(t)
	case InProcess:
		return NewInProcess(t)
	case Sentinel:
		return NewSentinel(t)
	case ReplicatedCluster:
		return NewReplicatedCluster(t)
	}
	t.Fatalf("redistest: unknown backend %q", name)
	return nil
}

func ping(t testing.TB, c redis.UniversalClient, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: %s: %v", what, err)
	}
}

// NewPrivate returns a Standalone or Cluster backend on private servers
// of its own (StartServer, StartCluster), never the shared instances of
// the environment: for tests that stop, pause or reconfigure Redis, or
// read its statistics. Without redis-server the test is skipped (a
// failure when REDIS_REQUIRED=1).
func NewPrivate(t testing.TB, name string) *Backend {
	t.Helper()
	switch name {
	case Standalone:
		s := StartServer(t)
		return &Backend{Name: name, Client: s.Client(t), Addr: s.Addr, Servers: []*Server{s}}
	case Cluster:
		nodes := StartCluster(t)
		var addrs []string
		for _, n := range nodes {
			addrs = append(addrs, n.Addr)
		}
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
		t.Cleanup(func() { c.Close() })
		ping(t, c, "private cluster "+strings.Join(addrs, ","))
		return &Backend{Name: name, Client: c, Servers: nodes}
	}
	t.Fatalf("redistest: no private %q backend", name)
	return nil
}

// Prefix returns a key prefix unique to this test (no '{', no glob
// characters) and deletes every key under it when t ends.
func (b *Backend) Prefix(t testing.TB) string {
	t.Helper()
	p := KeyPrefix(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, err := b.Keys(ctx, p)
		if err == nil {
			for _, k := range keys {
				err = b.Client.Unlink(ctx, k).Err()
				if err != nil {
					break
				}
			}
		}
		if err != nil {
			t.Logf("redistest: cleaning up keys under %q: %v", p, err)
		}
	})
	return p
}

// KeyPrefix returns a prefix unique to this test: "t:", a readable part of
// the test's name, and random hex.
func KeyPrefix(t testing.TB) string {
	name := t.Name()
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	var sb strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '/':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("t:%s:%s:", sb.String(), hex.EncodeToString(rnd[:]))
}

// Keys lists every key starting with prefix, scanning every master of a
// Cluster. prefix must not contain glob characters.
func (b *Backend) Keys(ctx context.Context, prefix string) ([]string, error) {
	var (
		mu   sync.Mutex // EachNode visits the masters concurrently
		keys []string
	)
	err := b.EachNode(ctx, func(ctx context.Context, c *redis.Client) error {
		var mine []string
		it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for it.Next(ctx) {
			mine = append(mine, it.Val())
		}
		mu.Lock()
		keys = append(keys, mine...)
		mu.Unlock()
		return it.Err()
	})
	return keys, err
}

// EachNode runs fn on the server, or concurrently on every master of a
// Cluster: for commands about a server rather than keys (INFO, CLIENT
// KILL, ACL).
func (b *Backend) EachNode(ctx context.Context, fn func(ctx context.Context, c *redis.Client) error) error {
	switch c := b.Client.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	}
	return fmt.Errorf("redistest: cannot reach the nodes of a %T", b.Client)
}

// CommandCalls counts the calls of each command since the server started
// (INFO commandstats, e.g. "evalsha", "publish"; commands run by scripts
// included), summed over the masters of a Cluster. Only a private server
// gives a test its own counts.
func (b *Backend) CommandCalls(ctx context.Context) (map[string]int64, error) {
	var mu sync.Mutex
	calls := map[string]int64{}
	err := b.EachNode(ctx, func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, l := range strings.Split(info, "\n") {
			// cmdstat_get:calls=3,usec=…
			name, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(l), "cmdstat_"), ":calls=")
			if !ok {
				continue
			}
			n, _, _ := strings.Cut(rest, ",")
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				return fmt.Errorf("redistest: commandstats line %q", l)
			}
			calls[name] += v
		}
		return nil
	})
	return calls, err
}

// Wait lets d pass for the server: it sleeps on real Redis and moves the
// clock of the in-process one (TIME and TTLs alike).
func (b *Backend) Wait(d time.Duration) {
	if b.Mini == nil {
		time.Sleep(d)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mnow = b.mnow.Add(d)
	b.Mini.SetTime(b.mnow)
}

// SetTime sets the clock of the in-process Redis (TIME and TTLs); it fails
// the test on real Redis, whose clock is the machine's.
func (b *Backend) SetTime(t testing.TB, now time.Time) {
	t.Helper()
	if b.Mini == nil {
		t.Fatalf("redistest: cannot set the clock of %s Redis", b.Name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mnow = now
	b.Mini.SetTime(now)
}

// ServerTime is the clock of the Redis node that holds key (TIME), which is
// the clock scripts on that key read.
func (b *Backend) ServerTime(ctx context.Context, key string) (time.Time, error) {
	c, ok := b.Client.(*redis.Client)
	if cc, isCluster := b.Client.(*redis.ClusterClient); isCluster {
		var err error
		if c, err = cc.MasterForKey(ctx, key); err != nil {
			return time.Time{}, err
		}
		ok = true
	}
	if !ok {
		return time.Time{}, fmt.Errorf("redistest: cannot ask a %T for the time", b.Client)
	}
	return c.Time(ctx).Result()
}
