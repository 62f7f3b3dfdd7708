package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
)

func TestParseConfig(t *testing.T) {
	key := strings.Repeat("k", 32)
	std := base64.StdEncoding.EncodeToString([]byte(key + "\xff\xfe"))    // padded, with + or /
	url := base64.RawURLEncoding.EncodeToString([]byte(key + "\xff\xfe")) // unpadded, with - or _
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c *config)
	}{
		{"defaults", nil, nil, func(t *testing.T, c *config) {
			if c.addr != "127.0.0.1:8080" || c.redisOpts != nil || c.clusterOpts != nil || c.accessTTL != 5*time.Minute ||
				c.reuseGrace != redisstore.DefaultReuseGrace || c.reusePolicy != session.RevokeSubject || c.keyPrefix != "jwtrefresh:" ||
				c.sessionCheck != "open" {
				t.Errorf("defaults: %+v", c)
			}
			if !c.randomSigning || !c.randomRefresh || len(c.signingKey) != 32 || len(c.refreshKey) != 32 ||
				string(c.signingKey) == string(c.refreshKey) {
				t.Errorf("random keys: want two different 32-byte keys")
			}
		}},
		{"environment", nil, map[string]string{
			"ADDR": ":0", "REDIS_URL": "redis://r:6379/1", "ACCESS_TTL": "2s", "REUSE_GRACE": "1s",
			"REUSE_POLICY": "family", "SIGNING_KEY": std, "REFRESH_KEY": url, "KEY_PREFIX": "app:", "SESSION_CHECK": "closed",
		}, func(t *testing.T, c *config) {
			if c.addr != ":0" || c.redisOpts == nil || c.redisOpts.Addr != "r:6379" || c.redisOpts.DB != 1 || c.accessTTL != 2*time.Second ||
				c.reuseGrace != time.Second || c.reusePolicy != session.RevokeFamily || c.keyPrefix != "app:" || c.sessionCheck != "closed" {
				t.Errorf("from the environment: %+v", c)
			}
			if c.randomSigning || c.randomRefresh || string(c.signingKey) != key+"\xff\xfe" || string(c.refreshKey) != key+"\xff\xfe" {
				t.Errorf("keys from the environment not decoded")
			}
		}},
		{"a flag wins over the environment", []string{"-access-ttl", "3s", "-reuse-policy", "user"},
			map[string]string{"ACCESS_TTL": "2s", "REUSE_POLICY": "family"}, func(t *testing.T, c *config) {
				if c.accessTTL != 3*time.Second || c.reusePolicy != session.RevokeSubject {
					t.Errorf("flag vs environment: %+v", c)
				}
			}},
		{"cluster nodes", nil, map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000, 10.0.0.2:7000,[::1]:7000"},
			func(t *testing.T, c *config) {
				if c.redisOpts != nil || c.clusterOpts == nil || !slices.Equal(c.clusterOpts.Addrs, []string{"10.0.0.1:7000", "10.0.0.2:7000", "[::1]:7000"}) {
					t.Errorf("cluster from the environment: %+v", c.clusterOpts)
				}
			}},
		{"cluster URL", []string{"-redis-cluster", "rediss://u:pw@n1:7000?addr=n2:7000&addr=n3:7000"}, nil,
			func(t *testing.T, c *config) {
				o := c.clusterOpts
				if o == nil || !slices.Equal(o.Addrs, []string{"n1:7000", "n2:7000", "n3:7000"}) || o.Username != "u" || o.Password != "pw" || o.TLSConfig == nil {
					t.Errorf("cluster URL: %+v", o)
				}
			}},
		{"a -redis-url flag wins over REDIS_CLUSTER_ADDRS", []string{"-redis-url", "redis://r:6379/0"},
			map[string]string{"REDIS_CLUSTER_ADDRS": "n1:7000"}, func(t *testing.T, c *config) {
				if c.redisOpts == nil || c.clusterOpts != nil {
					t.Errorf("redis %+v, cluster %+v; want the flag's standalone Redis", c.redisOpts, c.clusterOpts)
				}
			}},
		{"a -redis-cluster flag wins over REDIS_URL", []string{"-redis-cluster", "n1:7000"},
			map[string]string{"REDIS_URL": "redis://r:6379/0"}, func(t *testing.T, c *config) {
				if c.redisOpts != nil || c.clusterOpts == nil {
					t.Errorf("redis %+v, cluster %+v; want the flag's Cluster", c.redisOpts, c.clusterOpts)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	const secret = "c2hvcnQtc2VjcmV0" // base64 of 12 bytes
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"ttl not a duration", []string{"-access-ttl", "soon"}, nil, `-access-ttl "soon"`},
		{"ttl below a second", []string{"-access-ttl", "500ms"}, nil, "at least 1s"},
		{"ttl fraction", nil, map[string]string{"ACCESS_TTL": "1.5s"}, `ACCESS_TTL "1.5s": want a whole number of seconds`},
		{"negative grace", []string{"-reuse-grace", "-1s"}, nil, "negative or longer is refused"},
		{"grace over a minute", nil, map[string]string{"REUSE_GRACE": "61s"}, `REUSE_GRACE "61s": want 0 (strict) to 1m`},
		{"unknown session check", []string{"-session-check", "strict"}, nil, `-session-check "strict": want open, closed or off`},
		{"unknown policy", nil, map[string]string{"REUSE_POLICY": "all"}, "want user or family"},
		{"short signing key", []string{"-signing-key", secret}, nil, "-signing-key: 12 bytes; want at least 32"},
		{"refresh key not base64", nil, map[string]string{"REFRESH_KEY": "not base64!" + secret}, "REFRESH_KEY: not valid base64"},
		{"prefix with a hash tag", []string{"-key-prefix", "{app}:"}, nil, "must not contain { or }"},
		{"empty address", []string{"-addr", ""}, nil, "empty address"},
		{"unknown flag", []string{"-port", "80"}, nil, "flag provided but not defined"},
		{"argument", []string{"serve"}, nil, `unexpected argument "serve"`},
		{"Redis and Cluster in the environment", nil, map[string]string{"REDIS_URL": "redis://r:6379/0", "REDIS_CLUSTER_ADDRS": "n1:7000"},
			"REDIS_URL and REDIS_CLUSTER_ADDRS are both set"},
		{"Redis and Cluster flags", []string{"-redis-url", "redis://r:6379/0", "-redis-cluster", "n1:7000"}, nil,
			"-redis-url and -redis-cluster are both set"},
		{"cluster node without a port", []string{"-redis-cluster", "n1:7000,n2"}, nil, `-redis-cluster: node "n2": want host:port`},
		{"Redis URL scheme", nil, map[string]string{"REDIS_URL": "http://r:6379/0"}, "REDIS_URL: redis: invalid URL scheme: http"},
		{"Redis URL database", []string{"-redis-url", "redis://r:6379/zero"}, nil, `-redis-url: redis: invalid database number: "zero"`},
		{"Redis URL port", []string{"-redis-url", "redis://r:port/0"}, nil, `-redis-url: not a valid URL: invalid port ":port" after host`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the key was echoed: %v", err)
			}
		})
	}
	if _, err := parseConfig([]string{"-h"}, func(string) string { return "" }, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

// TestRedisPasswordNeverShown (B4): a malformed Redis URL is an error that
// says what is wrong without the password, however the URL is broken.
func TestRedisPasswordNeverShown(t *testing.T) {
	const pw = "Pa55w0rd-hunter2"
	for _, tc := range []struct{ name, flag, value, want string }{
		{"bad port", "-redis-url", "redis://user:" + pw + "@host:port/0", "not a valid URL (not repeated here: it may hold a password)"},
		{"slash in the password", "-redis-url", "redis://user:" + pw + "/x@host:6379/0", "not a valid URL (not repeated here"},
		{"control character", "-redis-url", "redis://:" + pw + "@host:6379/0\x7f", "not a valid URL (not repeated here"},
		{"bad database", "-redis-url", "redis://:" + pw + "@host:6379/" + pw, "invalid database number"},
		{"unknown option", "-redis-url", "redis://:" + pw + "@host:6379/0?" + pw + "=1", "unexpected option"},
		{"scheme", "-redis-url", "redsi://:" + pw + "@host:6379/0", "invalid URL scheme: redsi"},
		{"cluster URL, bad port", "-redis-cluster", "redis://u:" + pw + "@n1:port?addr=n2:7000", "not a valid URL (not repeated here"},
		{"cluster URL, unknown option", "-redis-cluster", "redis://u:" + pw + "@n1:7000?" + pw + "=1", "unexpected option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]string{tc.flag, tc.value}, func(string) string { return "" }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), tc.flag+": ") {
				t.Fatalf("error %v, want one starting with %s and containing %q", err, tc.flag, tc.want)
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "hunter") {
				t.Errorf("the password was printed: %v", err)
			}
		})
	}
}
