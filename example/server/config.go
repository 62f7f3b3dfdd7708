package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

// minKeyLen is the least number of bytes of a signing or refresh key.
const minKeyLen = 32

// config is the server's configuration: each flag, else its environment
// variable, else the default.
type config struct {
	addr string
	// redisOpts is the standalone Redis of -redis-url, clusterOpts the
	// Cluster of -redis-cluster, sentinelOpts the Sentinel-managed primary
	// of -redis-sentinel; all nil: an in-process Redis.
	redisOpts    *redis.Options
	clusterOpts  *redis.ClusterOptions
	sentinelOpts *redis.FailoverOptions
	// replicaAck replicas must acknowledge each change within
	// replicaAckTimeout (redisstore.WithReplicaAck); 0: no wait.
	replicaAck        int
	replicaAckTimeout time.Duration
	accessTTL         time.Duration
	reuseGrace        time.Duration
	reusePolicy       session.ReusePolicy
	// sessionCheck is how /api checks sessions: open, closed or off.
	sessionCheck string
	// reusePolicyName is the policy as configured: user or family.
	reusePolicyName string
	// signingKeys (HS256 secrets) and refreshKeys, the current key first:
	// the others still verify what they issued.
	signingKeys, refreshKeys []versionedKey
	keyPrefix                string
	// Which keys were generated, to announce it.
	randomSigning, randomRefresh bool
	// dpop is off, allowed or required; publicURL the server's external
	// URL that DPoP proofs name ("": http:// and the listen address).
	dpop, publicURL string
}

// setting is one flag and its environment variable.
type setting struct {
	flag, env, def, usage string
	secret                bool // never echoed in errors: a key, or a URL that may hold a password
}

var settings = []setting{
	{flag: "addr", env: "ADDR", def: "127.0.0.1:8080", usage: "listen `address`; port 0 picks a free port (see the \"listening\" log line)"},
	{flag: "redis-url", env: "REDIS_URL", usage: "standalone Redis `URL`, e.g. redis://127.0.0.1:6379/0; with neither this nor -redis-cluster: an in-process Redis (demo only)", secret: true},
	{flag: "redis-cluster", env: "REDIS_CLUSTER_ADDRS", usage: "Redis Cluster seed `nodes`, host:port,host:port,… or redis://[user:password@]host:port?addr=host:port&addr=…", secret: true},
	{flag: "redis-sentinel", env: "REDIS_SENTINEL_ADDRS", usage: "`addresses` host:port,host:port,… of the Sentinels of a Redis primary (with -redis-sentinel-master)"},
	{flag: "redis-sentinel-master", env: "REDIS_SENTINEL_MASTER", usage: "the `name` the Sentinels know the primary by"},
	{flag: "replica-ack", env: "REDIS_REPLICA_ACK", def: "0", usage: "`replicas` that must hold each change before it is answered (WAIT), so that a failover cannot lose it; 0: none"},
	{flag: "replica-ack-timeout", env: "REDIS_REPLICA_ACK_TIMEOUT", usage: "how long a change waits for them (a Go `duration`); required with -replica-ack"},
	{flag: "access-ttl", env: "ACCESS_TTL", def: "5m", usage: "access token lifetime (a Go `duration`, whole seconds)"},
	{flag: "reuse-grace", env: "REUSE_GRACE", def: redisstore.DefaultReuseGrace.String(), usage: "reuse grace window (a Go `duration`, at most 1m; 0: strict one-time use)"},
	{flag: "reuse-policy", env: "REUSE_POLICY", def: "user", usage: "what reuse of a refresh token revokes: `user` (all the user's sessions) or family (that session)"},
	{flag: "session-check", env: "SESSION_CHECK", def: "open", usage: "how /api checks sessions: `open` (while Redis is down, answer from what the server knows), closed (503 instead) or off (no check: an access token works until it expires)"},
	{flag: "signing-key", env: "SIGNING_KEY", usage: "HS256 signing `keys`: VERSION:BASE64,… (base64 of at least 32 bytes each), the current one first, the others still verify; a bare BASE64 is version 1; empty: random", secret: true},
	{flag: "refresh-key", env: "REFRESH_KEY", usage: "refresh-token `keys`: VERSION:BASE64,… like -signing-key; empty: random", secret: true},
	{flag: "key-prefix", env: "KEY_PREFIX", def: redisstore.DefaultKeyPrefix, usage: "`prefix` of every Redis key"},
	{flag: "dpop", env: "DPOP", def: "allowed", usage: "DPoP-bound tokens (RFC 9449): off, allowed (logins with a proof are bound, bearer tokens accepted) or required (every login and token bound); the `mode`"},
	{flag: "public-url", env: "PUBLIC_URL", usage: "the server's external `URL` as clients address it (behind a proxy: its URL), which DPoP proofs name; empty: http:// and the listen address"},
}

// parseConfig reads args (without the program name) and the environment.
// A bad value is an error naming the flag or variable it came from; the
// value of a secret is never repeated.
func parseConfig(args []string, getenv func(string) string, usageOut io.Writer) (*config, error) {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	values := make(map[string]*string, len(settings))
	for _, s := range settings {
		values[s.flag] = fs.String(s.flag, s.def, s.usage+" (env "+s.env+")")
	}
	fs.Usage = func() {
		fmt.Fprint(usageOut, "usage: server [flags]\n\nEach flag may also be given by its environment variable; a flag wins.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	// Each setting's value and where it came from, for the messages.
	resolved := make(map[string]value, len(settings))
	for _, s := range settings {
		v, from := *values[s.flag], "-"+s.flag
		if !given[s.flag] {
			if e := getenv(s.env); e != "" {
				v, from = e, s.env
			}
		}
		resolved[s.flag] = value{v, from}
	}
	if err := oneRedis(resolved, given); err != nil {
		return nil, err
	}
	c := &config{}
	for _, s := range settings {
		r := resolved[s.flag]
		if err := c.set(s, r.v); err != nil {
			if s.secret {
				return nil, fmt.Errorf("%s: %w", r.from, err)
			}
			return nil, fmt.Errorf("%s %q: %w", r.from, r.v, err)
		}
	}
	if err := c.checkRedis(resolved); err != nil {
		return nil, err
	}
	return c, nil
}

// value is a setting's value and where it came from (-flag or VARIABLE).
type value struct{ v, from string }

// redisForms are the forms of one setting, the Redis to use.
var redisForms = []string{"redis-url", "redis-cluster", "redis-sentinel"}

// oneRedis keeps one of the Redis forms: a flag wins over the environment,
// and two of the same rank conflict.
func oneRedis(resolved map[string]value, given map[string]bool) error {
	var set, flags []string
	for _, f := range redisForms {
		if resolved[f].v != "" {
			set = append(set, f)
			if given[f] {
				flags = append(flags, f)
			}
		}
	}
	if len(set) < 2 {
		return nil
	}
	if len(flags) != 1 {
		if len(flags) > 1 {
			set = flags
		}
		return fmt.Errorf("%s and %s are both set: give one, a standalone Redis, a Cluster or Sentinels",
			resolved[set[0]].from, resolved[set[1]].from)
	}
	for _, f := range set {
		if f != flags[0] {
			resolved[f] = value{}
		}
	}
	return nil
}

// checkRedis checks the settings that go together: Sentinels and the name
// of their primary, replica acknowledgements and their timeout.
func (c *config) checkRedis(resolved map[string]value) error {
	sentinels, master := resolved["redis-sentinel"], resolved["redis-sentinel-master"]
	ack, timeout := resolved["replica-ack"], resolved["replica-ack-timeout"]
	switch {
	case c.sentinelOpts != nil && master.v == "":
		return fmt.Errorf("%s needs -redis-sentinel-master (env REDIS_SENTINEL_MASTER): the name the Sentinels know the primary by", sentinels.from)
	case master.v != "" && c.sentinelOpts == nil && c.redisOpts == nil && c.clusterOpts == nil:
		return fmt.Errorf("%s is set without -redis-sentinel (env REDIS_SENTINEL_ADDRS)", master.from)
	case c.replicaAck > 0 && c.replicaAckTimeout == 0:
		return fmt.Errorf("%s needs -replica-ack-timeout (env REDIS_REPLICA_ACK_TIMEOUT): how long a change waits for its replicas", ack.from)
	case c.replicaAck == 0 && c.replicaAckTimeout != 0:
		return fmt.Errorf("%s is set but -replica-ack (env REDIS_REPLICA_ACK) is not: give both, or neither", timeout.from)
	case c.replicaAck > 0 && c.redisOpts == nil && c.clusterOpts == nil && c.sentinelOpts == nil:
		return fmt.Errorf("%s needs a Redis with replicas (-redis-url, -redis-cluster or -redis-sentinel), not the in-process one", ack.from)
	}
	if c.sentinelOpts != nil {
		c.sentinelOpts.MasterName = master.v
	}
	return nil
}

func (c *config) set(s setting, v string) error {
	var err error
	switch s.flag {
	case "addr":
		if v == "" {
			return errors.New("empty address")
		}
		c.addr = v
	case "redis-url", "redis-cluster", "redis-sentinel", "redis-sentinel-master", "replica-ack", "replica-ack-timeout":
		err = c.setRedis(s.flag, v)
	case "access-ttl":
		c.accessTTL, err = time.ParseDuration(v)
		if err == nil && (c.accessTTL < time.Second || c.accessTTL%time.Second != 0) {
			err = errors.New("want a whole number of seconds, at least 1s")
		}
	case "reuse-grace":
		c.reuseGrace, err = time.ParseDuration(v)
		if err == nil && (c.reuseGrace < 0 || c.reuseGrace > time.Minute) {
			err = errors.New("want 0 (strict) to 1m; negative or longer is refused")
		}
	case "session-check":
		if v != "open" && v != "closed" && v != "off" {
			err = errors.New("want open, closed or off")
		}
		c.sessionCheck = v
	case "reuse-policy":
		switch v {
		case "user":
			c.reusePolicy = session.RevokeSubject
		case "family":
			c.reusePolicy = session.RevokeFamily
		default:
			err = errors.New("want user or family")
		}
		c.reusePolicyName = v
	case "signing-key":
		c.signingKeys, c.randomSigning, err = keyList(v)
	case "refresh-key":
		c.refreshKeys, c.randomRefresh, err = keyList(v)
	case "key-prefix":
		if strings.ContainsAny(v, "{}") {
			err = errors.New("must not contain { or }")
		}
		c.keyPrefix = v
	case "dpop":
		if v != "off" && v != "allowed" && v != "required" {
			err = errors.New("want off, allowed or required")
		}
		c.dpop = v
	case "public-url":
		if u, perr := url.Parse(v); v != "" && (perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "") {
			err = errors.New("want an absolute http or https URL without query or fragment")
		}
		c.publicURL = strings.TrimRight(v, "/")
	}
	return err
}

// setRedis sets one of the settings of the Redis connection.
func (c *config) setRedis(flag, v string) error {
	var err error
	switch {
	case v == "":
	case flag == "redis-url":
		c.redisOpts, err = redis.ParseURL(v)
		err = redisURLError(v, err, "redis://[user:password@]host:port/db, rediss://… or unix://…")
	case flag == "redis-cluster":
		c.clusterOpts, err = clusterOptions(v)
	case flag == "redis-sentinel":
		var addrs []string
		if addrs, err = hostPorts(v); err == nil {
			c.sentinelOpts = &redis.FailoverOptions{SentinelAddrs: addrs}
		}
	case flag == "replica-ack":
		c.replicaAck, err = strconv.Atoi(v)
		if err != nil || c.replicaAck < 0 {
			err = errors.New("want a number of replicas, 0 or more")
		}
	case flag == "replica-ack-timeout":
		c.replicaAckTimeout, err = time.ParseDuration(v)
		if err == nil && c.replicaAckTimeout < time.Millisecond {
			err = errors.New("want at least 1ms")
		}
	}
	return err
}

// versionedKey is one version of a signing or refresh key.
type versionedKey struct {
	version uint32
	secret  []byte
}

// keyList decodes a comma-separated list of VERSION:BASE64 keys, the
// current one first; a bare BASE64 is version 1. An empty value is one
// random key of version 1. Errors name a key by its place in the list,
// never by its value.
func keyList(v string) (ks []versionedKey, random bool, err error) {
	if strings.TrimSpace(v) == "" {
		k, _, _ := key("")
		return []versionedKey{{1, k}}, true, nil
	}
	items := strings.Split(v, ",")
	seen := make(map[uint32]bool, len(items))
	for i, item := range items {
		k, err := versioned(strings.TrimSpace(item))
		if err == nil && seen[k.version] {
			err = fmt.Errorf("version %d appears twice", k.version)
		}
		if err != nil {
			if len(items) > 1 {
				err = fmt.Errorf("key %d of %d: %w", i+1, len(items), err)
			}
			return nil, false, err
		}
		seen[k.version] = true
		ks = append(ks, k)
	}
	return ks, false, nil
}

// versioned decodes one VERSION:BASE64 key, or a bare BASE64 as version 1.
func versioned(item string) (versionedKey, error) {
	k := versionedKey{version: 1}
	if ver, b64, ok := strings.Cut(item, ":"); ok { // ':' is not in either base64 alphabet
		n, err := strconv.ParseUint(ver, 10, 32)
		if err != nil || n == 0 {
			return k, errors.New("the version before ':' must be a whole number from 1 to 4294967295")
		}
		k.version, item = uint32(n), b64
	}
	if item == "" {
		return k, errors.New("empty key")
	}
	var err error
	k.secret, _, err = key(item)
	return k, err
}

// key decodes a base64 key (standard or URL alphabet, padded or not), or
// makes a random one for an empty value.
func key(v string) (k []byte, random bool, err error) {
	if v == "" {
		k = make([]byte, minKeyLen)
		_, _ = rand.Read(k) // never fails as of Go 1.24
		return k, true, nil
	}
	v = strings.TrimRight(strings.TrimSpace(v), "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err = enc.DecodeString(v); err == nil {
			break
		}
	}
	switch {
	case err != nil:
		return nil, false, errors.New("not valid base64")
	case len(k) < minKeyLen:
		return nil, false, fmt.Errorf("%d bytes; want at least %d (e.g. openssl rand -base64 32)", len(k), minKeyLen)
	}
	return k, false, nil
}

// clusterOptions reads -redis-cluster: seed nodes as host:port,host:port,
// or a cluster URL for credentials and TLS (redis.ParseClusterURL).
func clusterOptions(v string) (*redis.ClusterOptions, error) {
	if strings.Contains(v, "://") {
		opts, err := redis.ParseClusterURL(v)
		return opts, redisURLError(v, err, "host:port,host:port,… or redis://[user:password@]host:port?addr=host:port&addr=…")
	}
	addrs, err := hostPorts(v)
	if err != nil {
		return nil, err
	}
	return &redis.ClusterOptions{Addrs: addrs}, nil
}

// hostPorts reads a list of addresses: host:port,host:port,…
func hostPorts(v string) ([]string, error) {
	var addrs []string
	for _, addr := range strings.Split(v, ",") {
		addr = strings.TrimSpace(addr)
		if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("node %q: want host:port", addr)
		}
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

// redisURLError makes err, from parsing the Redis URL raw, safe to print:
// the URL may hold a password. url.Parse's errors quote the whole URL, and
// their reason can quote a piece of it (a password with a "/" in it reads
// as a port), so they are replaced; go-redis's own errors quote a part
// after the host (the database, an option), never the user information,
// and the password is removed from the text should it appear all the same.
func redisURLError(raw string, err error, want string) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if strings.Contains(raw, "@") {
			return errors.New("not a valid URL (not repeated here: it may hold a password); want " + want)
		}
		return fmt.Errorf("not a valid URL: %v; want %s", ue.Err, want)
	}
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return errors.New(msg)
}
