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
			if c.sentinelOpts != nil || c.replicaAck != 0 || c.replicaAckTimeout != 0 {
				t.Errorf("defaults: Sentinels %+v, replica acks %d within %v; want none", c.sentinelOpts, c.replicaAck, c.replicaAckTimeout)
			}
			if !c.randomSigning || !c.randomRefresh || len(c.signingKeys) != 1 || len(c.refreshKeys) != 1 ||
				c.signingKeys[0].version != 1 || c.refreshKeys[0].version != 1 ||
				len(c.signingKeys[0].secret) != 32 || len(c.refreshKeys[0].secret) != 32 ||
				string(c.signingKeys[0].secret) == string(c.refreshKeys[0].secret) {
				t.Errorf("random keys: want two different 32-byte keys of version 1")
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
			want := []versionedKey{{1, []byte(key + "\xff\xfe")}}
			if c.randomSigning || c.randomRefresh || !sameKeys(c.signingKeys, want) || !sameKeys(c.refreshKeys, want) {
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
		{"Sentinels from the environment", nil, map[string]string{"REDIS_SENTINEL_ADDRS": "10.0.0.1:26379, 10.0.0.2:26379", "REDIS_SENTINEL_MASTER": "main"},
			func(t *testing.T, c *config) {
				o := c.sentinelOpts
				if c.redisOpts != nil || c.clusterOpts != nil || o == nil || o.MasterName != "main" ||
					!slices.Equal(o.SentinelAddrs, []string{"10.0.0.1:26379", "10.0.0.2:26379"}) {
					t.Errorf("Sentinels from the environment: %+v", o)
				}
			}},
		{"Sentinel flags", []string{"-redis-sentinel", "s1:26379", "-redis-sentinel-master", "m"}, nil,
			func(t *testing.T, c *config) {
				if o := c.sentinelOpts; o == nil || o.MasterName != "m" || !slices.Equal(o.SentinelAddrs, []string{"s1:26379"}) {
					t.Errorf("Sentinel flags: %+v", o)
				}
			}},
		{"a -redis-sentinel flag wins over REDIS_URL", []string{"-redis-sentinel", "s1:26379"},
			map[string]string{"REDIS_URL": "redis://r:6379/0", "REDIS_SENTINEL_MASTER": "m"}, func(t *testing.T, c *config) {
				if c.redisOpts != nil || c.sentinelOpts == nil {
					t.Errorf("redis %+v, Sentinels %+v; want the flag's Sentinels", c.redisOpts, c.sentinelOpts)
				}
			}},
		{"a -redis-url flag wins over REDIS_SENTINEL_ADDRS", []string{"-redis-url", "redis://r:6379/0"},
			map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m"}, func(t *testing.T, c *config) {
				if c.redisOpts == nil || c.sentinelOpts != nil {
					t.Errorf("redis %+v, Sentinels %+v; want the flag's standalone Redis", c.redisOpts, c.sentinelOpts)
				}
			}},
		{"replica acknowledgements", nil, map[string]string{"REDIS_URL": "redis://r:6379/0", "REDIS_REPLICA_ACK": "1", "REDIS_REPLICA_ACK_TIMEOUT": "250ms"},
			func(t *testing.T, c *config) {
				if c.replicaAck != 1 || c.replicaAckTimeout != 250*time.Millisecond {
					t.Errorf("replica acks %d within %v, want 1 within 250ms", c.replicaAck, c.replicaAckTimeout)
				}
			}},
		{"replica acknowledgements by flag, on Sentinels", []string{"-replica-ack", "2", "-replica-ack-timeout", "1s"},
			map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_REPLICA_ACK": "1"},
			func(t *testing.T, c *config) {
				if c.replicaAck != 2 || c.replicaAckTimeout != time.Second || c.sentinelOpts == nil {
					t.Errorf("replica acks %d within %v on %+v, want 2 within 1s on the Sentinels", c.replicaAck, c.replicaAckTimeout, c.sentinelOpts)
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
	okKey := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("ok", 16)))
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
		{"short key in a list", []string{"-refresh-key", "2:" + secret + ",1:" + okKey}, nil, "-refresh-key: key 1 of 2: 12 bytes; want at least 32"},
		{"version twice", nil, map[string]string{"SIGNING_KEY": "2:" + okKey + ",2:" + okKey}, "SIGNING_KEY: key 2 of 2: version 2 appears twice"},
		{"two bare keys", nil, map[string]string{"REFRESH_KEY": okKey + "," + okKey}, "REFRESH_KEY: key 2 of 2: version 1 appears twice"},
		{"version zero", []string{"-refresh-key", "0:" + okKey}, nil, "-refresh-key: the version before ':' must be a whole number from 1 to 4294967295"},
		{"version not a number", []string{"-signing-key", okKey + ",v2:" + okKey}, nil, "-signing-key: key 2 of 2: the version before ':' must be a whole number"},
		{"version too large", []string{"-signing-key", "4294967296:" + okKey}, nil, "the version before ':' must be a whole number"},
		{"empty key in a list", nil, map[string]string{"REFRESH_KEY": "2:" + okKey + ",,1:" + okKey}, "REFRESH_KEY: key 2 of 3: empty key"},
		{"version without a key", []string{"-refresh-key", "2:"}, nil, "-refresh-key: empty key"},
		{"bad base64 in a list", []string{"-refresh-key", "2:" + okKey + ",1:" + secret + "!"}, nil, "-refresh-key: key 2 of 2: not valid base64"},
		{"refresh key not base64", nil, map[string]string{"REFRESH_KEY": "not base64!" + secret}, "REFRESH_KEY: not valid base64"},
		{"prefix with a hash tag", []string{"-key-prefix", "{app}:"}, nil, "must not contain { or }"},
		{"unknown DPoP mode", nil, map[string]string{"DPOP": "on"}, `DPOP "on": want off, allowed or required`},
		{"relative public URL", []string{"-public-url", "/api"}, nil, `-public-url "/api": want an absolute http or https URL`},
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
		{"Sentinels without a master name", []string{"-redis-sentinel", "s1:26379"}, nil,
			"-redis-sentinel needs -redis-sentinel-master (env REDIS_SENTINEL_MASTER)"},
		{"a master name without Sentinels", nil, map[string]string{"REDIS_SENTINEL_MASTER": "m"},
			"REDIS_SENTINEL_MASTER is set without -redis-sentinel (env REDIS_SENTINEL_ADDRS)"},
		{"Redis and Sentinels in the environment", nil, map[string]string{"REDIS_URL": "redis://r:6379/0", "REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m"},
			"REDIS_URL and REDIS_SENTINEL_ADDRS are both set"},
		{"Cluster and Sentinel flags", []string{"-redis-cluster", "n1:7000", "-redis-sentinel", "s1:26379", "-redis-sentinel-master", "m"}, nil,
			"-redis-cluster and -redis-sentinel are both set"},
		{"Sentinel without a port", []string{"-redis-sentinel", "s1:26379,s2", "-redis-sentinel-master", "m"}, nil, `-redis-sentinel "s1:26379,s2": node "s2": want host:port`},
		{"replica acks without a timeout", nil, map[string]string{"REDIS_URL": "redis://r:6379/0", "REDIS_REPLICA_ACK": "1"},
			"REDIS_REPLICA_ACK needs -replica-ack-timeout (env REDIS_REPLICA_ACK_TIMEOUT)"},
		{"a timeout without replica acks", []string{"-redis-url", "redis://r:6379/0", "-replica-ack-timeout", "1s"}, nil,
			"-replica-ack-timeout is set but -replica-ack (env REDIS_REPLICA_ACK) is not"},
		{"a timeout with replica acks off", []string{"-redis-url", "redis://r:6379/0", "-replica-ack", "0", "-replica-ack-timeout", "1s"}, nil,
			"-replica-ack-timeout is set but -replica-ack"},
		{"negative replica acks", []string{"-replica-ack", "-1"}, nil, `-replica-ack "-1": want a number of replicas, 0 or more`},
		{"replica acks not a number", nil, map[string]string{"REDIS_REPLICA_ACK": "one"}, `REDIS_REPLICA_ACK "one": want a number of replicas`},
		{"ack timeout not a duration", []string{"-replica-ack-timeout", "soon"}, nil, `-replica-ack-timeout "soon"`},
		{"ack timeout below a millisecond", []string{"-replica-ack-timeout", "500us"}, nil, `-replica-ack-timeout "500us": want at least 1ms`},
		{"replica acks on the in-process Redis", []string{"-replica-ack", "1", "-replica-ack-timeout", "1s"}, nil,
			"-replica-ack needs a Redis with replicas (-redis-url, -redis-cluster or -redis-sentinel), not the in-process one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), okKey) {
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

func sameKeys(a, b []versionedKey) bool {
	return slices.EqualFunc(a, b, func(x, y versionedKey) bool {
		return x.version == y.version && string(x.secret) == string(y.secret)
	})
}

// TestKeyLists: -signing-key and -refresh-key take comma-separated
// VERSION:BASE64 keys, the current one first; a bare BASE64 is version 1.
func TestKeyLists(t *testing.T) {
	k := func(c byte) []byte { return []byte(strings.Repeat(string(c), 31) + "!") }
	b64 := func(c byte) string { return base64.StdEncoding.EncodeToString(k(c)) }
	for _, tc := range []struct {
		name, value string
		want        []versionedKey
	}{
		{"bare", b64('a'), []versionedKey{{1, k('a')}}},
		{"versioned", "7:" + b64('a'), []versionedKey{{7, k('a')}}},
		{"current first", "2:" + b64('b') + ",1:" + b64('a'), []versionedKey{{2, k('b')}, {1, k('a')}}},
		{"an old key first", "1:" + b64('a') + ",2:" + b64('b'), []versionedKey{{1, k('a')}, {2, k('b')}}},
		{"a bare key among versioned ones, spaces", " 3:" + b64('c') + " , " + b64('a') + " ,4294967295:" + b64('b'),
			[]versionedKey{{3, k('c')}, {1, k('a')}, {4294967295, k('b')}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig([]string{"-signing-key", tc.value}, func(v string) string {
				return map[string]string{"REFRESH_KEY": tc.value}[v]
			}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !sameKeys(c.signingKeys, tc.want) || !sameKeys(c.refreshKeys, tc.want) {
				t.Errorf("signing keys %v, refresh keys %v, want %v", c.signingKeys, c.refreshKeys, tc.want)
			}
		})
	}
}
