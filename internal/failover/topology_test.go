package failover

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Topologies.
const (
	sentinel = "sentinel"
	cluster  = "cluster"
)

// failoverTimeout is how long a silent primary has before it is failed
// over: the Sentinels' down-after-milliseconds, the Cluster's node timeout.
const failoverTimeout = time.Second

// clusterReload is how often the Cluster client reloads the slot map.
const clusterReload = time.Second

// topology is a deployment the harness owns: a client of it and how to kill
// its primary (in a Cluster, the first master's).
type topology struct {
	client   redis.UniversalClient
	primary  *redistest.Server   // the one killed
	replicas []*redistest.Server // its replicas
	// sentinels, when set, name the primary (SENTINEL
	// get-master-addr-by-name).
	sentinels []string
}

// primaryAddr returns the address that serves the killed primary's keys
// now: the Sentinels' primary, or the master of the Cluster's slot 0.
func (t *topology) primaryAddr(ctx context.Context) (string, error) {
	if len(t.sentinels) > 0 {
		s := redis.NewSentinelClient(&redis.Options{Addr: t.sentinels[0]})
		defer s.Close()
		a, err := s.GetMasterAddrByName(ctx, redistest.SentinelMaster).Result()
		if err != nil || len(a) != 2 {
			return "", fmt.Errorf("the Sentinels' primary: %v %v", a, err)
		}
		return a[0] + ":" + a[1], nil
	}
	shards, err := t.client.(*redis.ClusterClient).ClusterShards(ctx).Result()
	if err != nil {
		return "", err
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			for _, n := range sh.Nodes {
				if r.Start == 0 && n.Role == "master" && n.Health == "online" {
					return fmt.Sprintf("%s:%d", n.IP, n.Port), nil
				}
			}
		}
	}
	return "", fmt.Errorf("no online master serves slot 0: %+v", shards)
}

// kill kills the primary (SIGKILL).
func (t *topology) kill() { t.primary.Stop() }

// lag cuts the primary's replication links for d and returns the function
// that lets its replicas reconnect: the primary's writes of that time are
// in its backlog only, as behind a slow link. The replicas are paused
// (SIGSTOP) so that they cannot reconnect meanwhile; pausing alone would
// not do, since the kernel keeps receiving for a paused process.
func (t *topology) lag(tb testing.TB, d time.Duration) (resume func()) {
	for _, r := range t.replicas {
		r.Pause()
	}
	c := redis.NewClient(&redis.Options{Addr: t.primary.Addr})
	defer c.Close()
	if err := c.ClientKillByFilter(tb.Context(), "TYPE", "replica").Err(); err != nil {
		tb.Fatalf("cutting the replication links: %v", err)
	}
	time.Sleep(d)
	return func() {
		for _, r := range t.replicas {
			r.Resume()
		}
	}
}

// startTopology starts a primary with two replicas: with three Sentinels,
// or as the first of three masters of a Cluster.
func startTopology(t *testing.T, name string) *topology {
	t.Helper()
	if name == sentinel {
		set := redistest.StartSentinel(t, 2, failoverTimeout)
		return &topology{client: set.Client(t), primary: set.Primary, replicas: set.Replicas, sentinels: set.Addrs()}
	}
	nodes := redistest.StartReplicatedCluster(t, 2, failoverTimeout)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr
	}
	// go-redis reloads the slot map on MOVED, ASK and READONLY, not when a
	// master stops answering: with its default reload interval (60 s) the
	// killed master's users would wait a minute after the promotion.
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true,
		ClusterStateReloadInterval: clusterReload})
	t.Cleanup(func() { c.Close() })
	// Node 3+i replicates master i%3.
	return &topology{client: c, primary: nodes[0], replicas: []*redistest.Server{nodes[3], nodes[6]}}
}

// probeHeader marks the harness's own requests, which the frozen endpoints
// let through.
const probeHeader = "X-Failover-Probe"

// server serves the token endpoints and a resource that accepts each
// access token once, so that every further request with it draws a 401
// and the client's transport refreshes. While frozen, the token endpoints
// hold every request but the harness's own until thawed.
type server struct {
	*httptest.Server
	frozen atomic.Pointer[chan struct{}] // nil: open
	seen   sync.Map                      // access tokens used once
}

func newServer(t *testing.T, endpoints http.Handler) *server {
	s := &server{}
	mux := http.NewServeMux()
	mux.Handle(authPrefix+"/", s.gate(endpoints))
	mux.HandleFunc("GET /resource", s.resource)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.thaw() // a failed run may leave it frozen
		s.Close()
	})
	return s
}

func (s *server) gate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ch := s.frozen.Load(); ch != nil && r.Header.Get(probeHeader) == "" {
			select {
			case <-*ch:
			case <-r.Context().Done():
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// freeze holds every client request to the token endpoints from now on;
// thaw lets them through.
func (s *server) freeze() {
	ch := make(chan struct{})
	s.frozen.Store(&ch)
}

func (s *server) thaw() {
	if ch := s.frozen.Swap(nil); ch != nil {
		close(*ch)
	}
}

func (s *server) resource(w http.ResponseWriter, r *http.Request) {
	at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || at == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="failover"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if _, used := s.seen.LoadOrStore(at, true); used {
		w.Header().Set("WWW-Authenticate", `Bearer realm="failover", error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusOK)
}
