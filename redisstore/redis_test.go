package redisstore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/redis/go-redis/v9"
)

// TestKeysExpire: with real (millisecond) TTLs, abandoned sessions and their
// subject's index vanish from Redis by themselves; the keys are counted with
// SCAN on every master.
func TestKeysExpire(t *testing.T) {
	redistest.Each(t, func(t *testing.T, b *redistest.Backend) {
		ctx := context.Background()
		const idle = time.Second // short, yet long enough for a loaded machine to count the keys first
		prefix := b.Prefix(t)
		s, err := redisstore.New(b.Client, newKeys(t), redisstore.WithKeyPrefix(prefix),
			redisstore.WithIdleTimeout(idle), redisstore.WithMaxSessions(3))
		if err != nil {
			t.Fatal(err)
		}
		for range 5 { // two beyond the cap: evicted, not piled up
			login(t, s, "alice")
		}
		g := login(t, s, "bob")
		if _, err := s.Rotate(ctx, g.RefreshToken, ""); err != nil {
			t.Fatal(err)
		}
		keys, err := b.Keys(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 3+1+2 { // alice's 3 families, bob's 1, two indexes
			t.Fatalf("%d keys %v, want 6", len(keys), keys)
		}
		for _, k := range keys {
			if typ := b.Client.Type(ctx, k).Val(); typ == "zset" {
				if n := b.Client.ZCard(ctx, k).Val(); n > 3 {
					t.Fatalf("index %s has %d entries, want at most 3", k, n)
				}
			}
			// Keys outlive their deadline by up to a tenth of the idle timeout.
			if ttl, maxTTL := b.Client.PTTL(ctx, k).Val(), idle+idle/10; ttl <= 0 || ttl > maxTTL {
				t.Fatalf("key %s has TTL %v, want (0, %v]", k, ttl, maxTTL)
			}
		}
		for deadline := time.Now().Add(10 * time.Second); len(keys) > 0; {
			if time.Now().After(deadline) {
				t.Fatalf("keys still there after 10s: %v", keys)
			}
			b.Wait(50 * time.Millisecond)
			if keys, err = b.Keys(ctx, prefix); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestSubjectSharesOneSlot: every key of a subject hashes to one Cluster slot.
func TestSubjectSharesOneSlot(t *testing.T) {
	b := redistest.NewCluster(t)
	ctx := context.Background()
	prefix := b.Prefix(t)
	s, err := redisstore.New(b.Client, newKeys(t), redisstore.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		login(t, s, "alice")
	}
	keys, err := b.Keys(ctx, prefix)
	if err != nil || len(keys) != 5 {
		t.Fatalf("keys %v, %v; want 5", keys, err)
	}
	slots := map[int64]bool{}
	for _, k := range keys {
		slots[b.Client.ClusterKeySlot(ctx, k).Val()] = true
	}
	if len(slots) != 1 {
		t.Fatalf("alice's keys are in %d slots, want 1", len(slots))
	}
}

// TestNothingUsableAtRest: a dump of Redis holds no token, secret or
// idempotency key, only hashes.
func TestNothingUsableAtRest(t *testing.T) {
	b := redistest.NewStandalone(t)
	ctx := context.Background()
	prefix := b.Prefix(t)
	keys := newKeys(t)
	s, err := redisstore.New(b.Client, keys, redisstore.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	const ik = "idempotency-key-0123456789"
	g := login(t, s, "alice")
	r, err := s.Rotate(ctx, g.RefreshToken, ik)
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	names, _ := b.Keys(ctx, prefix)
	for _, k := range names {
		dump.WriteString(k)
		for f, v := range b.Client.HGetAll(ctx, k).Val() {
			dump.WriteString(f + v)
		}
		for _, m := range b.Client.ZRange(ctx, k, 0, -1).Val() {
			dump.WriteString(m)
		}
	}
	if dump.Len() == 0 {
		t.Fatal("empty dump")
	}
	for _, tok := range []string{g.RefreshToken, r.RefreshToken} {
		p, err := keys.Parse(tok)
		if err != nil {
			t.Fatal(err)
		}
		for what, secret := range map[string]string{
			"token":         tok,
			"token body":    tok[len(jwtrefresh.RefreshTokenPrefix):],
			"secret":        string(p.Secret[:]),
			"secret base64": base64.RawURLEncoding.EncodeToString(p.Secret[:]),
		} {
			if strings.Contains(dump.String(), secret) {
				t.Errorf("Redis holds a %s", what)
			}
		}
	}
	if strings.Contains(dump.String(), ik) {
		t.Error("Redis holds the idempotency key")
	}
}

// TestLogsNoSecrets: events are logged with subject and session, never a
// token or an idempotency key.
func TestLogsNoSecrets(t *testing.T) {
	b := redistest.NewInProcess(t)
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newStore(t, b, redisstore.WithLogger(logger))
	ctx := context.Background()
	const ik = "idempotency-key-0123456789"
	g := login(t, s, "alice")
	r, err := s.Rotate(ctx, g.RefreshToken, ik)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(ctx, g.RefreshToken, ik); err != nil {
		t.Fatal(err)
	}
	r2, err := s.Rotate(ctx, r.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(ctx, r.RefreshToken, ""); !errors.Is(err, jwtrefresh.ErrReuseDetected) {
		t.Fatalf("reuse: %v", err)
	}
	_, _ = s.RevokeToken(ctx, r2.RefreshToken)
	_, _ = s.RevokeAll(ctx, "alice")
	out := buf.String()
	for _, secret := range []string{g.RefreshToken, r.RefreshToken, r2.RefreshToken, ik, jwtrefresh.RefreshTokenPrefix} {
		if strings.Contains(out, secret) {
			t.Fatalf("log holds a secret: %s", out)
		}
	}
	for _, want := range []string{`"kind":"login"`, `"kind":"rotate"`, `"kind":"replay"`, `"kind":"reuse_detected"`,
		`"level":"WARN"`, `"sid":"` + g.SessionID + `"`, `"sub":"alice"`, `"kind":"revoke_all"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	keys := newKeys(t)
	good := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer good.Close()
	noCtx := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer noCtx.Close()
	noCtxCluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer noCtxCluster.Close()
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}, ContextTimeoutEnabled: true})
	defer ring.Close()
	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
		keys *jwtrefresh.RefreshKeyring
		opts []redisstore.Option
		want error
	}{
		{"Brace", good, keys, []redisstore.Option{redisstore.WithKeyPrefix("app{x}:")}, redisstore.ErrKeyPrefix},
		{"ClosingBrace", good, keys, []redisstore.Option{redisstore.WithKeyPrefix("app}:")}, redisstore.ErrKeyPrefix},
		{"NoContextTimeouts", noCtx, keys, nil, redisstore.ErrClientConfig},
		{"NoContextTimeoutsCluster", noCtxCluster, keys, nil, redisstore.ErrClientConfig},
		{"NilClient", nil, keys, nil, redisstore.ErrConfig},
		{"TypedNilClient", (*redis.Client)(nil), keys, nil, redisstore.ErrConfig},
		{"TypedNilClusterClient", (*redis.ClusterClient)(nil), keys, nil, redisstore.ErrConfig},
		{"NilOption", good, keys, []redisstore.Option{redisstore.WithTimeout(time.Second), nil}, redisstore.ErrConfig},
		{"NilKeys", good, nil, nil, redisstore.ErrConfig},
		{"ZeroKeyring", good, &jwtrefresh.RefreshKeyring{}, nil, redisstore.ErrConfig},
		{"NegativeGrace", good, keys, []redisstore.Option{redisstore.WithReuseGrace(-1)}, redisstore.ErrConfig},
		{"ZeroIdle", good, keys, []redisstore.Option{redisstore.WithIdleTimeout(0)}, redisstore.ErrConfig},
		{"SubMillisecondIdle", good, keys, []redisstore.Option{redisstore.WithIdleTimeout(time.Microsecond)}, redisstore.ErrConfig},
		{"NegativeAbsolute", good, keys, []redisstore.Option{redisstore.WithAbsoluteLifetime(-time.Second)}, redisstore.ErrConfig},
		{"ZeroMax", good, keys, []redisstore.Option{redisstore.WithMaxSessions(0)}, redisstore.ErrConfig},
		{"ZeroTimeout", good, keys, []redisstore.Option{redisstore.WithTimeout(0)}, redisstore.ErrConfig},
		{"UnknownPolicy", good, keys, []redisstore.Option{redisstore.WithReusePolicy(9)}, redisstore.ErrConfig},
		{"NilClock", good, keys, []redisstore.Option{redisstore.WithClock(nil)}, redisstore.ErrConfig},
		{"NegativeReplicas", good, keys, []redisstore.Option{redisstore.WithReplicaAck(-1, time.Second)}, redisstore.ErrConfig},
		{"ZeroAckTimeout", good, keys, []redisstore.Option{redisstore.WithReplicaAck(1, 0)}, redisstore.ErrConfig},
		{"AckOnRing", ring, keys, []redisstore.Option{redisstore.WithReplicaAck(1, time.Second)}, redisstore.ErrConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := redisstore.New(tc.rdb, tc.keys, tc.opts...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("New: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := redisstore.New(good, keys); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}
