// Command server is a demo API built on every part of jwtrefresh: the
// token service with its Redis rotation store, the access-token
// middleware, and session counters.
//
// HTTP surface:
//
//	POST /login             {"username","password"} as JSON (or form-encoded) →
//	                        200 token response {"access_token","token_type",
//	                        "expires_in","refresh_token"}; 400 invalid_grant for
//	                        an unknown user or a wrong password; 400
//	                        invalid_request, 413, 415 for a bad request.
//	                        Demo users: alice / wonderland, bob / builder.
//	POST /auth/refresh      refresh (RFC 6749 §6; rotates the refresh token)
//	POST /auth/revoke       revocation (RFC 7009)
//	POST /auth/logout-all   end every session of the caller (Bearer)
//	GET  /auth/sessions     list the caller's sessions (Bearer)
//	DELETE /auth/sessions/{id}  end one session of the caller (Bearer)
//	GET  /api/me            (Bearer) {"sub","sid","name","expires"}
//	POST /api/echo          (Bearer) answers with the request body (≤ 1 MiB)
//	GET  /debug/vars        expvar, with the map "sessions" counting the
//	                        session events login, refresh, replay, healed,
//	                        reuse, revoke, revoke_all, evict, tampered, and
//	                        the session check's check_degraded and
//	                        check_restored (the command line is left out: it
//	                        may carry keys)
//
// The /api routes answer a missing, expired or invalid token with 401 and
// WWW-Authenticate (RFC 6750), and refuse a token whose session has ended
// (logged out, revoked, reused) through the service's session check: at
// once when this server ended it, within milliseconds when another server
// sharing the Redis did (Redis pushes every end). While Redis is down the
// check answers from what the server knows (-session-check open), or 503
// (closed).
//
// Configuration: each flag, else its environment variable, else the
// default.
//
//	-addr ADDR          ADDR          listen address (127.0.0.1:8080; port 0: any free port)
//	-redis-url URL      REDIS_URL     a standalone Redis (absent, and no Cluster: an in-process Redis, announced)
//	-redis-cluster N    REDIS_CLUSTER_ADDRS  a Redis Cluster: seed nodes host:port,host:port,…
//	                                  or redis://[user:password@]host:port?addr=host:port&addr=…
//	-redis-sentinel A   REDIS_SENTINEL_ADDRS   a primary managed by the Sentinels at host:port,host:port,…
//	-redis-sentinel-master NAME  REDIS_SENTINEL_MASTER  the name they know it by (required with them)
//	-replica-ack N      REDIS_REPLICA_ACK  replicas that must hold each change before it is answered (0)
//	-replica-ack-timeout D  REDIS_REPLICA_ACK_TIMEOUT  how long a change waits for them (required with N > 0)
//	-access-ttl D       ACCESS_TTL    access-token lifetime, whole seconds (5m)
//	-reuse-grace D      REUSE_GRACE   reuse grace window, at most 1m (5s; 0: strict one-time use)
//	-reuse-policy P     REUSE_POLICY  what reuse revokes: user (all the user's sessions) or family (user)
//	-session-check M    SESSION_CHECK how /api checks sessions (open): open answers from what the
//	                                  server knows while Redis is down, closed answers 503 instead,
//	                                  off checks nothing (a token works until it expires)
//	-signing-key KEYS   SIGNING_KEY   HS256 keys VERSION:BASE64,… (absent: random, announced)
//	-refresh-key KEYS   REFRESH_KEY   refresh-token keys VERSION:BASE64,… (absent: random, announced)
//	-key-prefix P       KEY_PREFIX    prefix of the Redis keys (jwtrefresh:)
//
// A key list holds base64 keys of ≥ 32 bytes, each with its version, the
// current one first: it signs (or MACs) new tokens, the others still verify
// theirs. A bare BASE64 is version 1; signing key version v is the kid
// "example-v".
//
// Prefer the environment for the keys and for a Redis password: a command
// line is visible to every user of the machine. Neither is ever printed,
// in an error either. -redis-url, -redis-cluster and -redis-sentinel are one
// setting: a flag wins over the environment, and two given the same way are
// an error. With -replica-ack N a refresh is answered only once N replicas
// hold its rotation (Redis WAIT), so that a failover cannot lose it; when
// they do not within the timeout, the refresh answers 503 and the client's
// retry (same Idempotency-Key) gets the same tokens. A
// -redis-url naming a Cluster node is refused at start, with a message
// pointing at -redis-cluster. Instances that share the Redis, KEY_PREFIX,
// SIGNING_KEY and REFRESH_KEY serve the same sessions.
//
// Logs (text, on standard error): one line per session event ("session
// login", "session rotate", "session reuse_detected" at WARN, …), never a
// token or a key; once ready, a line with msg=listening and url=http://…,
// the address actually bound; at exit the session counters.
//
// SIGINT or SIGTERM shut it down gracefully: requests in flight complete
// (within 10 s). Exit status: 0 after a shutdown, 1 if it cannot start
// (bad configuration, Redis unreachable or of the wrong kind, address in
// use).
package main

import (
	"context"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

const shutdownTimeout = 10 * time.Second

// clusterReload is how often the Cluster client reloads the slot map.
const clusterReload = time.Second

// sessionCounts is the map "sessions" at /debug/vars.
var sessionCounts = expvar.NewMap("sessions")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}

// run serves until ctx is done and returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(ctx, cfg, log, sessionCounts); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg *config, log *slog.Logger, counts *expvar.Map) error {
	rdb, where, closeRedis, err := openRedis(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeRedis()
	if cfg.randomSigning {
		log.Info("no SIGNING_KEY: using a random signing key; access tokens will not survive a restart")
	}
	if cfg.randomRefresh {
		log.Info("no REFRESH_KEY: using a random refresh-token key; sessions will not survive a restart")
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	if cfg.publicURL == "" {
		cfg.publicURL = "http://" + ln.Addr().String()
	}
	a, handler, err := newApp(cfg, rdb, log, counts)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.svc.Close() // the session check's subscription, before Redis closes
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "url", "http://"+ln.Addr().String(), "redis", where, "replica_ack", cfg.replicaAck,
		"access_ttl", cfg.accessTTL, "reuse_grace", cfg.reuseGrace, "reuse_policy", cfg.reusePolicyName,
		"session_check", cfg.sessionCheck, "dpop", cfg.dpop)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served // http.ErrServerClosed once Shutdown began
	var attrs []any
	counts.Do(func(kv expvar.KeyValue) { attrs = append(attrs, kv.Key, kv.Value.String()) })
	log.Info("stopped; session counters", attrs...)
	return err
}

// openRedis connects to the configured Redis, standalone, Cluster or
// Sentinel-managed, or starts an in-process Redis when none is configured.
// where describes it for the log, without credentials.
func openRedis(ctx context.Context, cfg *config, log *slog.Logger) (rdb redis.UniversalClient, where string, closeFn func(), err error) {
	var mini *miniredis.Miniredis
	switch {
	case cfg.sentinelOpts != nil:
		opts := *cfg.sentinelOpts
		opts.ContextTimeoutEnabled = true
		rdb = redis.NewFailoverClient(&opts)
		where = "sentinel " + strings.Join(opts.SentinelAddrs, ",") + " master " + opts.MasterName
	case cfg.clusterOpts != nil:
		opts := *cfg.clusterOpts
		opts.ContextTimeoutEnabled = true // the store requires it: deadlines bound every call
		// go-redis learns of a promoted replica from MOVED, ASK or
		// READONLY, or from its periodic reload (60 s by default), not from
		// a master that stopped answering: without this, the users of a
		// failed master wait up to a minute after the failover.
		opts.ClusterStateReloadInterval = clusterReload
		rdb, where = redis.NewClusterClient(&opts), "cluster "+strings.Join(opts.Addrs, ",")
	case cfg.redisOpts != nil:
		opts := *cfg.redisOpts
		opts.ContextTimeoutEnabled = true
		rdb, where = redis.NewClient(&opts), opts.Addr
	default:
		mini = miniredis.NewMiniRedis()
		if err := mini.Start(); err != nil {
			return nil, "", nil, fmt.Errorf("in-process Redis: %w", err)
		}
		log.Info("no REDIS_URL: using an in-process Redis; sessions are lost when the server stops (never in production)")
		rdb = redis.NewClient(&redis.Options{Addr: mini.Addr(), ContextTimeoutEnabled: true})
		where = "in-process"
	}
	closeFn = func() {
		_ = rdb.Close()
		if mini != nil {
			mini.Close()
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := checkRedis(pctx, rdb); err != nil {
		closeFn()
		return nil, "", nil, fmt.Errorf("redis at %s: %w", where, err)
	}
	return rdb, where, closeFn, nil
}

// errClusterNode: -redis-url names a node of a Redis Cluster. A plain
// client would get MOVED for most keys, and every refresh would fail.
var errClusterNode = errors.New("it is a node of a Redis Cluster, which a client of one server cannot use " +
	"(most keys live on other nodes): give the Cluster's nodes with -redis-cluster host:port,host:port,… " +
	"(env REDIS_CLUSTER_ADDRS) instead of -redis-url (REDIS_URL)")

// checkRedis pings rdb and checks that it is the kind of Redis it was
// configured as: one server that is not a Cluster node, or a Cluster that
// serves all its slots.
func checkRedis(ctx context.Context, rdb redis.UniversalClient) error {
	if err := rdb.Ping(ctx).Err(); err != nil {
		return err
	}
	switch rdb := rdb.(type) {
	case *redis.ClusterClient:
		info, err := rdb.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return errors.New("the Cluster does not report cluster_state:ok (CLUSTER INFO)")
		}
	case *redis.Client:
		// Servers that hide INFO are taken for what they were configured as.
		info, err := rdb.Info(ctx, "cluster").Result()
		if err == nil && strings.Contains(info, "cluster_enabled:1") {
			return errClusterNode
		}
	}
	return nil
}
