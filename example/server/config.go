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
	// Cluster of -redis-cluster; both nil: an in-process Redis.
	redisOpts   *redis.Options
	clusterOpts *redis.ClusterOptions
	accessTTL   time.Duration
	reuseGrace  time.Duration
	reusePolicy session.ReusePolicy
	// sessionCheck is how /api checks sessions: open, closed or off.
	sessionCheck string
	// reusePolicyName is the policy as configured: user or family.
	reusePolicyName string
	signingKey      []byte // HS256 secret
	refreshKey      []byte
	keyPrefix       string
	// Which keys were generated, to announce it.
	randomSigning, randomRefresh bool
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
	{flag: "access-ttl", env: "ACCESS_TTL", def: "5m", usage: "access token lifetime (a Go `duration`, whole seconds)"},
	{flag: "reuse-grace", env: "REUSE_GRACE", def: redisstore.DefaultReuseGrace.String(), usage: "reuse grace window (a Go `duration`, at most 1m; 0: strict one-time use)"},
	{flag: "reuse-policy", env: "REUSE_POLICY", def: "user", usage: "what reuse of a refresh token revokes: `user` (all the user's sessions) or family (that session)"},
	{flag: "session-check", env: "SESSION_CHECK", def: "open", usage: "how /api checks sessions: `open` (while Redis is down, answer from what the server knows), closed (503 instead) or off (no check: an access token works until it expires)"},
	{flag: "signing-key", env: "SIGNING_KEY", usage: "HS256 signing key: base64 of at least 32 bytes; empty: random", secret: true},
	{flag: "refresh-key", env: "REFRESH_KEY", usage: "refresh-token key: base64 of at least 32 bytes; empty: random", secret: true},
	{flag: "key-prefix", env: "KEY_PREFIX", def: redisstore.DefaultKeyPrefix, usage: "`prefix` of every Redis key"},
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
	type value struct{ v, from string }
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
	// -redis-url and -redis-cluster are two forms of one setting: a flag
	// wins over the environment, and two of the same rank conflict.
	if u, cl := resolved["redis-url"], resolved["redis-cluster"]; u.v != "" && cl.v != "" {
		switch {
		case given["redis-url"] && !given["redis-cluster"]:
			resolved["redis-cluster"] = value{}
		case given["redis-cluster"] && !given["redis-url"]:
			resolved["redis-url"] = value{}
		default:
			return nil, fmt.Errorf("%s and %s are both set: give one, a standalone Redis or a Cluster", u.from, cl.from)
		}
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
	return c, nil
}

func (c *config) set(s setting, v string) error {
	var err error
	switch s.flag {
	case "addr":
		if v == "" {
			return errors.New("empty address")
		}
		c.addr = v
	case "redis-url":
		if v != "" {
			c.redisOpts, err = redis.ParseURL(v)
			err = redisURLError(v, err, "redis://[user:password@]host:port/db, rediss://… or unix://…")
		}
	case "redis-cluster":
		if v != "" {
			c.clusterOpts, err = clusterOptions(v)
		}
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
		c.signingKey, c.randomSigning, err = key(v)
	case "refresh-key":
		c.refreshKey, c.randomRefresh, err = key(v)
	case "key-prefix":
		if strings.ContainsAny(v, "{}") {
			err = errors.New("must not contain { or }")
		}
		c.keyPrefix = v
	}
	return err
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
	opts := &redis.ClusterOptions{}
	for _, addr := range strings.Split(v, ",") {
		addr = strings.TrimSpace(addr)
		if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("node %q: want host:port", addr)
		}
		opts.Addrs = append(opts.Addrs, addr)
	}
	return opts, nil
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
