package main

import (
	"context"
	"encoding/json"
	"expvar"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// lockedBuffer is a server's standard error, read while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestStartFailureHidesRedisPassword (B4): whatever stops the server from
// starting with a Redis URL holding a password, the message names the
// cause and never the password.
func TestStartFailureHidesRedisPassword(t *testing.T) {
	const pw = "Pa55w0rd-hunter2"
	standalone := redistest.NewStandalone(t)
	for _, tc := range []struct{ name, url, want string }{
		{"malformed", "redis://app:" + pw + "@127.0.0.1:port/0", "REDIS_URL: not a valid URL"},
		{"unreachable", "redis://app:" + pw + "@127.0.0.1:1/0", "redis at 127.0.0.1:1"},
		{"refused credentials", "redis://app:" + pw + "@" + standalone.Addr + "/0", "redis at " + standalone.Addr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr lockedBuffer
			code := run(t.Context(), []string{"-addr", "127.0.0.1:0"}, envOf(map[string]string{"REDIS_URL": tc.url}), &stderr)
			if code != 1 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr.String(), tc.want)
			}
			if strings.Contains(stderr.String(), pw) {
				t.Errorf("the password was printed: %s", stderr.String())
			}
		})
	}
}

// clusterAddrs returns the seed addresses of the Cluster at
// REDIS_CLUSTER_ADDRS (or of a private one), and a key prefix deleted when
// t ends.
func clusterAddrs(t *testing.T) ([]string, string) {
	b := redistest.NewCluster(t)
	return b.Client.(*redis.ClusterClient).Options().Addrs, b.Prefix(t)
}

// TestRedisClusterNodeRefused (R5): -redis-url naming a Cluster node would
// make most refreshes fail with MOVED; the server refuses to start and
// says what to give instead. -redis-cluster naming a standalone server is
// refused too.
func TestRedisClusterNodeRefused(t *testing.T) {
	addrs, _ := clusterAddrs(t)
	standalone := redistest.NewStandalone(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"cluster node as -redis-url", []string{"-redis-url", "redis://" + addrs[0] + "/0"},
			[]string{"redis at " + addrs[0], "node of a Redis Cluster", "-redis-cluster host:port,host:port", "REDIS_CLUSTER_ADDRS"}},
		{"standalone server as -redis-cluster", []string{"-redis-cluster", standalone.Addr},
			[]string{"redis at cluster " + standalone.Addr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr lockedBuffer
			code := run(t.Context(), append([]string{"-addr", "127.0.0.1:0"}, tc.args...), envOf(nil), &stderr)
			if code != 1 {
				t.Errorf("exit %d, want 1; stderr %s", code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q lacks %q", stderr.String(), w)
				}
			}
			if strings.Contains(stderr.String(), "msg=listening") {
				t.Errorf("the server listened")
			}
		})
	}
}

// TestRedisCluster (R5) runs the server program on the Redis Cluster at
// REDIS_CLUSTER_ADDRS, given as the environment variable (see serveOn).
func TestRedisCluster(t *testing.T) {
	addrs, prefix := clusterAddrs(t)
	serveOn(t, map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(addrs, ",")}, prefix,
		"redis=\"cluster "+strings.Join(addrs, ","))
}

// TestRedisSentinel: the same on the primary that the Sentinels at
// REDIS_SENTINEL_ADDRS manage, with every change acknowledged by its
// replica (REDIS_REPLICA_ACK=1).
func TestRedisSentinel(t *testing.T) {
	b := redistest.NewSentinel(t)
	serveOn(t, map[string]string{
		"REDIS_SENTINEL_ADDRS": strings.Join(b.Sentinels, ","), "REDIS_SENTINEL_MASTER": b.Master,
		"REDIS_REPLICA_ACK": "1", "REDIS_REPLICA_ACK_TIMEOUT": "10s",
	}, b.Prefix(t), "redis=\"sentinel "+strings.Join(b.Sentinels, ",")+" master "+b.Master+"\" replica_ack=1")
}

// serveOn runs the server program with env, a reuse grace window of 1 s
// and the key prefix: it logs wantLog when listening; a login, a refresh
// of its refresh token, the same refresh again within the window (the
// same new token), a request with the new access token and the old
// refresh token after the window (reuse) work, all counted exactly; and
// SIGTERM (ctx) ends it with status 0.
func serveOn(t *testing.T, env map[string]string, prefix, wantLog string) {
	env["REUSE_GRACE"] = "1s"
	ctx, stop := context.WithCancel(t.Context())
	var stderr lockedBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"-addr", "127.0.0.1:0", "-key-prefix", prefix}, envOf(env), &stderr)
	}()
	base := waitListening(t, &stderr, exited)
	if !strings.Contains(stderr.String(), wantLog) {
		t.Errorf("the listening line lacks %s: %s", wantLog, stderr.String())
	}
	before := countersNow()

	resp, body := do(t, http.MethodPost, base+"/login", "application/json", `{"username":"alice","password":"wonderland"}`, "")
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}.Encode()
	resp, body = do(t, http.MethodPost, base+"/auth/refresh", "application/x-www-form-urlencoded", form, "")
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("refresh: %d %s", resp.StatusCode, body)
	}
	// A racing refresh (another tab) within the window: the same new token.
	next := tok.RefreshToken
	resp, body = do(t, http.MethodPost, base+"/auth/refresh", "application/x-www-form-urlencoded", form, "")
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil || tok.RefreshToken != next {
		t.Fatalf("the same refresh within the grace window: %d %s, want 200 with the same refresh token", resp.StatusCode, body)
	}
	if resp, body := do(t, http.MethodGet, base+"/api/me", "", "", tok.AccessToken); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"sub":"alice"`) {
		t.Errorf("GET /api/me with the refreshed token: %d %s", resp.StatusCode, body)
	}
	// The old refresh token after the window: reuse, detected on the
	// Cluster too.
	time.Sleep(1100 * time.Millisecond)
	resp, body = do(t, http.MethodPost, base+"/auth/refresh", "application/x-www-form-urlencoded", form, "")
	if resp.StatusCode != http.StatusBadRequest || errorCode(body) != "invalid_grant" {
		t.Errorf("replayed refresh token: %d %s, want 400 invalid_grant", resp.StatusCode, body)
	}
	after := countersNow()
	for k, want := range map[string]int64{"login": 1, "refresh": 1, "reuse": 1, "replay": 1} {
		if got := after[k] - before[k]; got != want {
			t.Errorf("sessions.%s went up by %d, want %d", k, got, want)
		}
	}

	stop()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("exit %d after the shutdown, want 0; stderr %s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("the server did not stop within a minute")
	}
}

// waitListening waits for the server's msg=listening line and returns its
// URL.
func waitListening(t *testing.T, stderr *lockedBuffer, exited <-chan int) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a bound for a hung test, not a timing assertion
	for {
		for _, line := range strings.Split(stderr.String(), "\n") {
			if !strings.Contains(line, "msg=listening") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if u, ok := strings.CutPrefix(f, "url="); ok {
					return u
				}
			}
		}
		select {
		case code := <-exited:
			t.Fatalf("the server exited (%d) before listening: %s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not listen: %s", stderr.String())
		}
	}
}

// countersNow reads the published session counters.
func countersNow() map[string]int64 {
	m := map[string]int64{}
	for _, k := range counterNames {
		if v, ok := sessionCounts.Get(k).(*expvar.Int); ok {
			m[k] = v.Value()
		}
	}
	return m
}

// TestReplicaAckUnmet: with REDIS_REPLICA_ACK=1 on a Redis without a
// replica, nothing is acknowledged: a login answers 503
// temporarily_unavailable with Retry-After.
func TestReplicaAckUnmet(t *testing.T) {
	b := redistest.NewStandalone(t)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var stderr lockedBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"-addr", "127.0.0.1:0", "-key-prefix", b.Prefix(t)}, envOf(map[string]string{
			"REDIS_URL": "redis://" + b.Addr, "REDIS_REPLICA_ACK": "1", "REDIS_REPLICA_ACK_TIMEOUT": "50ms"}), &stderr)
	}()
	base := waitListening(t, &stderr, exited)
	resp, body := do(t, http.MethodPost, base+"/login", "application/json", `{"username":"alice","password":"wonderland"}`, "")
	if resp.StatusCode != http.StatusServiceUnavailable || errorCode(body) != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("login without a replica to acknowledge it: %d %v %s, want 503 temporarily_unavailable with Retry-After", resp.StatusCode, resp.Header, body)
	}
	stop()
	if code := <-exited; code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
}

// TestClusterReload: the server's Cluster client reloads the slot map every
// clusterReload, so that it finds a promoted replica soon after a master
// fails (go-redis's own default waits a minute).
func TestClusterReload(t *testing.T) {
	addrs, _ := clusterAddrs(t)
	cfg, err := parseConfig([]string{"-redis-cluster", strings.Join(addrs, ",")}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rdb, _, closeRedis, err := openRedis(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeRedis()
	if got := rdb.(*redis.ClusterClient).Options().ClusterStateReloadInterval; got != clusterReload {
		t.Errorf("slot map reloaded every %v, want %v", got, clusterReload)
	}
}
