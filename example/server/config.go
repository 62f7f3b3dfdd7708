package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
)

// minKeyLen is the least number of bytes of a signing or refresh key.
const minKeyLen = 32

// config is the server's configuration: each flag, else its environment
// variable, else the default.
type config struct {
	addr        string
	redisURL    string // "": an in-process Redis
	accessTTL   time.Duration
	reuseGrace  time.Duration
	reusePolicy jwtrefresh.ReusePolicy
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
	secret                bool // never echoed in errors or usage
}

var settings = []setting{
	{flag: "addr", env: "ADDR", def: "127.0.0.1:8080", usage: "listen `address`; port 0 picks a free port (see the \"listening\" log line)"},
	{flag: "redis-url", env: "REDIS_URL", usage: "Redis `URL`, e.g. redis://127.0.0.1:6379/0; empty: an in-process Redis (demo only)"},
	{flag: "access-ttl", env: "ACCESS_TTL", def: "5m", usage: "access token lifetime (a Go `duration`, whole seconds)"},
	{flag: "reuse-grace", env: "REUSE_GRACE", def: "0", usage: "reuse grace window (a Go `duration`; 0: strict one-time use)"},
	{flag: "reuse-policy", env: "REUSE_POLICY", def: "user", usage: "what reuse of a refresh token revokes: `user` (all the user's sessions) or family (that session)"},
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

	c := &config{}
	for _, s := range settings {
		v, from := *values[s.flag], "-"+s.flag
		if !given[s.flag] {
			if e := getenv(s.env); e != "" {
				v, from = e, s.env
			}
		}
		if err := c.set(s, v); err != nil {
			if s.secret {
				return nil, fmt.Errorf("%s: %w", from, err)
			}
			return nil, fmt.Errorf("%s %q: %w", from, v, err)
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
		c.redisURL = v
	case "access-ttl":
		c.accessTTL, err = time.ParseDuration(v)
		if err == nil && (c.accessTTL < time.Second || c.accessTTL%time.Second != 0) {
			err = errors.New("want a whole number of seconds, at least 1s")
		}
	case "reuse-grace":
		c.reuseGrace, err = time.ParseDuration(v)
		if err == nil && c.reuseGrace < 0 {
			err = errors.New("negative")
		}
	case "reuse-policy":
		switch v {
		case "user":
			c.reusePolicy = jwtrefresh.RevokeSubject
		case "family":
			c.reusePolicy = jwtrefresh.RevokeFamily
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
