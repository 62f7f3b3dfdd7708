package redisstore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
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
		s := newClient(t, b, newSecrets(t), prefix, redisstore.WithLifetime(idle, 0), redisstore.WithMaxSessions(3))
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
		if len(keys) != 3+1+2+1 { // alice's 3 families, bob's 1, two indexes, the index key
			t.Fatalf("%d keys %v, want 7", len(keys), keys)
		}
		for _, k := range keys {
			if strings.HasPrefix(k, prefix+"meta:") {
				continue // the wrapped subject-index key lives as long as the deployment
			}
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
		for deadline := time.Now().Add(10 * time.Second); len(keys) > 1; {
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
	s := newClient(t, b, newSecrets(t), prefix)
	for range 4 {
		login(t, s, "alice")
	}
	keys, err := b.Keys(ctx, prefix+"{")
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
	secrets := newSecrets(t)
	s := newClient(t, b, secrets, prefix)
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
		p, err := secrets.Parse(tok)
		if err != nil {
			t.Fatal(err)
		}
		for what, secret := range map[string]string{
			"token":        tok,
			"token body":   tok[len(session.TokenPrefix):],
			"proof":        string(p.Proof[:]),
			"proof base64": base64.RawURLEncoding.EncodeToString(p.Proof[:]),
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

func TestNewRefusesBadConfig(t *testing.T) {
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
		opts []redisstore.Option
	}{
		{"Brace", good, []redisstore.Option{redisstore.WithKeyPrefix("app{x}:")}},
		{"ClosingBrace", good, []redisstore.Option{redisstore.WithKeyPrefix("app}:")}},
		{"NoContextTimeouts", noCtx, nil},
		{"NoContextTimeoutsCluster", noCtxCluster, nil},
		{"NilClient", nil, nil},
		{"TypedNilClient", (*redis.Client)(nil), nil},
		{"TypedNilClusterClient", (*redis.ClusterClient)(nil), nil},
		{"NilOption", good, []redisstore.Option{redisstore.WithMaxSessions(3), nil}},
		{"NegativeGrace", good, []redisstore.Option{redisstore.WithReuseGrace(-1)}},
		{"GraceOverAMinute", good, []redisstore.Option{redisstore.WithReuseGrace(time.Minute + time.Millisecond)}},
		{"ZeroIdle", good, []redisstore.Option{redisstore.WithLifetime(0, 0)}},
		{"SubMillisecondIdle", good, []redisstore.Option{redisstore.WithLifetime(time.Microsecond, 0)}},
		{"NegativeAbsolute", good, []redisstore.Option{redisstore.WithLifetime(time.Hour, -time.Second)}},
		{"ZeroMax", good, []redisstore.Option{redisstore.WithMaxSessions(0)}},
		{"ZeroTimeout", good, []redisstore.Option{redisstore.WithTimeout(0)}},
		{"UnknownPolicy", good, []redisstore.Option{redisstore.WithReusePolicy(9)}},
		{"NilClock", good, []redisstore.Option{redisstore.WithClock(nil)}},
		{"ZeroReplicas", good, []redisstore.Option{redisstore.WithReplicaAck(0, time.Second)}},
		{"NegativeReplicas", good, []redisstore.Option{redisstore.WithReplicaAck(-1, time.Second)}},
		{"ZeroAckTimeout", good, []redisstore.Option{redisstore.WithReplicaAck(1, 0)}},
		{"AckOnRing", ring, []redisstore.Option{redisstore.WithReplicaAck(1, time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := redisstore.New(tc.rdb, tc.opts...)
			if !errors.Is(err, redisstore.ErrInvalidConfig) || s != nil {
				t.Fatalf("New: %v, %v; want ErrInvalidConfig", s, err)
			}
		})
	}
	if _, err := redisstore.New(good); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, d := range []time.Duration{0, time.Minute} {
		if _, err := redisstore.New(good, redisstore.WithReuseGrace(d)); err != nil {
			t.Fatalf("WithReuseGrace(%v): %v", d, err)
		}
	}
}

// TestTamperedRecord: a session record edited in Redis behind the
// service's back (its subject, its claims, or its seal removed) is refused
// at every refresh and lookup, with nothing changed: the family is neither
// rotated nor revoked, and restoring the record restores the session.
func TestTamperedRecord(t *testing.T) {
	redistest.Each(t, func(t *testing.T, b *redistest.Backend) {
		ctx := context.Background()
		prefix := b.Prefix(t)
		s := newClient(t, b, newSecrets(t), prefix)
		login(t, s, "alice")
		g, err := s.Create(ctx, session.NewSession{Subject: "bob", Claims: []byte(`{"role":"user"}`)})
		if err != nil {
			t.Fatal(err)
		}
		cur, err := s.Rotate(ctx, g.RefreshToken, "idempotency-key-k")
		if err != nil {
			t.Fatal(err)
		}
		fam := prefix + s.tag("bob") + ":f:" + g.SessionID
		before := b.Client.HGetAll(ctx, fam).Val()
		for name, edit := range map[string]func(){
			"Subject":     func() { b.Client.HSet(ctx, fam, "sc", `5:alice{"role":"user"}`) },
			"Claims":      func() { b.Client.HSet(ctx, fam, "sc", `3:bob{"role":"admin"}`) },
			"NoClaims":    func() { b.Client.HSet(ctx, fam, "sc", `3:bob`) },
			"SealDeleted": func() { b.Client.HDel(ctx, fam, "sl") },
			"SealEdited":  func() { b.Client.HSet(ctx, fam, "sl", strings.Repeat("a", 40)) },
		} {
			t.Run(name, func(t *testing.T) {
				edit()
				defer b.Client.HSet(ctx, fam, before)
				for what, tok := range map[string]string{"current": cur.RefreshToken, "parent": g.RefreshToken} {
					for _, ik := range []string{"", "idempotency-key-k"} {
						_, err := s.Rotate(ctx, tok, ik)
						if !errors.Is(err, errTampered) && !errors.Is(err, session.ErrInvalidToken) {
							t.Fatalf("%s token (key %q) of an edited record: %v, want it refused", what, ik, err)
						}
					}
				}
				if r, err := s.Lookup(ctx, cur.RefreshToken); err != nil || (r.Outcome != session.Tampered && r.Outcome != session.Invalid) || r.Subject != "" {
					t.Fatalf("Lookup of an edited record: %+v, %v", r, err)
				}
				if after := b.Client.HGetAll(ctx, fam).Val(); len(after) == 0 || after["c"] != before["c"] || after["p"] != before["p"] {
					t.Fatalf("refusing the edited record changed it: %v, was %v", after, before)
				}
			})
		}
		// A record whose subject or claims were edited is Tampered (an
		// event for the service), not merely invalid.
		b.Client.HSet(ctx, fam, "sc", `5:alice{"role":"user"}`)
		if _, err := s.Rotate(ctx, cur.RefreshToken, ""); !errors.Is(err, errTampered) {
			t.Fatalf("edited subject: %v, want tampered", err)
		}
		b.Client.HSet(ctx, fam, before)
		if r, err := s.Rotate(ctx, cur.RefreshToken, ""); err != nil || r.Subject != "bob" {
			t.Fatalf("the restored record: %+v, %v", r, err)
		}
		if n, err := s.Sessions(ctx, "alice"); err != nil || len(n) != 1 {
			t.Fatalf("alice's sessions: %v, %v", n, err)
		}
	})
}

// TestOldFormatRefused: a record without a seal (written before records
// were sealed, or with its seal fields removed) is not refreshed: nothing
// could tell an old record from an edited one.
func TestOldFormatRefused(t *testing.T) {
	b := redistest.NewStandalone(t)
	ctx := context.Background()
	prefix := b.Prefix(t)
	s := newClient(t, b, newSecrets(t), prefix)
	g := login(t, s, "alice")
	fam := prefix + s.tag("alice") + ":f:" + g.SessionID
	b.Client.HDel(ctx, fam, "sl")
	b.Client.HSet(ctx, fam, "v", "2")
	if _, err := s.Rotate(ctx, g.RefreshToken, ""); !errors.Is(err, session.ErrInvalidToken) {
		t.Fatalf("an unsealed record: %v, want invalid", err)
	}
	if c := b.Client.HGet(ctx, fam, "c").Val(); c == "" {
		t.Fatal("refusing the unsealed record deleted it")
	}
}

// TestEarlierFieldOrder: a record written with the earlier field order
// (no "p" or "ik" until the first rotation, the seal and commitment last)
// is read as before: it rotates, answers a lookup and is listed.
func TestEarlierFieldOrder(t *testing.T) {
	redistest.Each(t, func(t *testing.T, b *redistest.Backend) {
		ctx := context.Background()
		prefix := b.Prefix(t)
		s := newClient(t, b, newSecrets(t), prefix)
		g := login(t, s, "alice")
		fam := prefix + s.tag("alice") + ":f:" + g.SessionID
		rec := b.Client.HGetAll(ctx, fam).Val()
		if rec["p"] != "" || rec["ik"] != "" {
			t.Fatalf("a new record names a parent or key: %v", rec)
		}
		var earlier []any
		for _, f := range []string{"c", "lu", "id", "abs", "gc", "sc", "ct", "ci", "sl", "n", "v"} {
			earlier = append(earlier, f, rec[f])
		}
		ttl := b.Client.PTTL(ctx, fam).Val()
		b.Client.Del(ctx, fam)
		b.Client.HSet(ctx, fam, earlier...)
		b.Client.PExpire(ctx, fam, ttl)
		cur, err := s.Rotate(ctx, g.RefreshToken, "idempotency-key-1")
		if err != nil || cur.Subject != "alice" {
			t.Fatalf("rotating the earlier record: %+v, %v", cur, err)
		}
		if r, err := s.Lookup(ctx, cur.RefreshToken); err != nil || r.Outcome != session.Found {
			t.Fatalf("lookup: %+v, %v", r, err)
		}
		if _, err := s.Rotate(ctx, cur.RefreshToken, "idempotency-key-1"); err == nil {
			t.Fatal("the parent's idempotency key was accepted again")
		}
		if _, err := s.Rotate(ctx, cur.RefreshToken, "idempotency-key-2"); err != nil {
			t.Fatalf("second rotation: %v", err)
		}
		if l, err := s.Sessions(ctx, "alice"); err != nil || len(l) != 1 {
			t.Fatalf("sessions: %v, %v", l, err)
		}
	})
}

// TestNoCommitmentNoHeal: a record without the commitment to its current
// token's child (written before records carried one, or stripped of it)
// never heals; its next rotation writes one.
func TestNoCommitmentNoHeal(t *testing.T) {
	b := redistest.NewStandalone(t)
	ctx := context.Background()
	prefix := b.Prefix(t)
	s := newClient(t, b, newSecrets(t), prefix)
	g := login(t, s, "alice")
	fam := prefix + s.tag("alice") + ":f:" + g.SessionID
	lostChild := func(rt string) string {
		t.Helper()
		tok, err := s.secrets.Parse(rt)
		if err != nil {
			t.Fatal(err)
		}
		child, _ := s.secrets.Child(tok, tok.Version)
		enc, err := s.secrets.Encode(child)
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	if n := b.Client.HDel(ctx, fam, "n").Val(); n != 1 {
		t.Fatalf("HDEL n: %d, want 1 (the login stores the commitment)", n)
	}
	before := b.Client.HGetAll(ctx, fam).Val()
	if _, err := s.Rotate(ctx, lostChild(g.RefreshToken), ""); !errors.Is(err, session.ErrInvalidToken) {
		t.Fatalf("one ahead of a record without a commitment: %v, want invalid", err)
	}
	if after := b.Client.HGetAll(ctx, fam).Val(); after["c"] != before["c"] || after["lu"] != before["lu"] {
		t.Fatalf("refusing changed the record: %v, was %v", after, before)
	}
	r, err := s.Rotate(ctx, g.RefreshToken, "") // the current token: a plain rotation
	if err != nil {
		t.Fatal(err)
	}
	rot, err := s.rotation(lostChild(r.RefreshToken), "")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.st.Rotate(ctx, rot); err != nil || res.Outcome != session.Healed {
		t.Fatalf("after a rotation wrote the commitment: %+v, %v; want Healed", res, err)
	}
}
