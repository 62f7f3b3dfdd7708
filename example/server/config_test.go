package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
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
			if c.addr != "127.0.0.1:8080" || c.redisURL != "" || c.accessTTL != 5*time.Minute || c.reuseGrace != 0 ||
				c.reusePolicy != jwtrefresh.RevokeSubject || c.keyPrefix != "jwtrefresh:" {
				t.Errorf("defaults: %+v", c)
			}
			if !c.randomSigning || !c.randomRefresh || len(c.signingKey) != 32 || len(c.refreshKey) != 32 ||
				string(c.signingKey) == string(c.refreshKey) {
				t.Errorf("random keys: want two different 32-byte keys")
			}
		}},
		{"environment", nil, map[string]string{
			"ADDR": ":0", "REDIS_URL": "redis://r:6379/1", "ACCESS_TTL": "2s", "REUSE_GRACE": "1s",
			"REUSE_POLICY": "family", "SIGNING_KEY": std, "REFRESH_KEY": url, "KEY_PREFIX": "app:",
		}, func(t *testing.T, c *config) {
			if c.addr != ":0" || c.redisURL != "redis://r:6379/1" || c.accessTTL != 2*time.Second ||
				c.reuseGrace != time.Second || c.reusePolicy != jwtrefresh.RevokeFamily || c.keyPrefix != "app:" {
				t.Errorf("from the environment: %+v", c)
			}
			if c.randomSigning || c.randomRefresh || string(c.signingKey) != key+"\xff\xfe" || string(c.refreshKey) != key+"\xff\xfe" {
				t.Errorf("keys from the environment not decoded")
			}
		}},
		{"a flag wins over the environment", []string{"-access-ttl", "3s", "-reuse-policy", "user"},
			map[string]string{"ACCESS_TTL": "2s", "REUSE_POLICY": "family"}, func(t *testing.T, c *config) {
				if c.accessTTL != 3*time.Second || c.reusePolicy != jwtrefresh.RevokeSubject {
					t.Errorf("flag vs environment: %+v", c)
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
		{"negative grace", []string{"-reuse-grace", "-1s"}, nil, "negative"},
		{"unknown policy", nil, map[string]string{"REUSE_POLICY": "all"}, "want user or family"},
		{"short signing key", []string{"-signing-key", secret}, nil, "-signing-key: 12 bytes; want at least 32"},
		{"refresh key not base64", nil, map[string]string{"REFRESH_KEY": "not base64!" + secret}, "REFRESH_KEY: not valid base64"},
		{"prefix with a hash tag", []string{"-key-prefix", "{app}:"}, nil, "must not contain { or }"},
		{"empty address", []string{"-addr", ""}, nil, "empty address"},
		{"unknown flag", []string{"-port", "80"}, nil, "flag provided but not defined"},
		{"argument", []string{"serve"}, nil, `unexpected argument "serve"`},
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
