package redisstore_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

// floorScript is the floor Rotate is measured against: the cheapest one-key
// script, run the same way (EVALSHA) on the same client.
var floorScript = redis.NewScript(`return redis.call('EXISTS', KEYS[1])`)

// swapScript is a bare rotation, reported beside the floor (op=Swap): the
// compare-and-set of the root package's floor endpoint (HGET, compare,
// HSET one field), without expiry, seal, idempotency or reuse detection.
var swapScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'c') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[2])
return 1
`)

// BenchmarkRotate measures a rotation as the token service makes it, the
// token string aside: building the Rotation (child derivation, seal keys,
// key hash) and one EVALSHA of the rotation script with its seal check,
// beside a bare EVALSHA (op=Floor) and a bare compare-and-set rotation
// (op=Swap, swapScript), in the same run, sequentially and with 50
// goroutines (parallelism 25 × 2 cores on the reference machine). The
// sub-benchmarks are named op=… so that benchstat sets them side by side:
//
//	go test -run '^$' -bench Rotate -benchmem -count 10 ./redisstore > out.txt
//	benchstat -col /op out.txt
func BenchmarkRotate(b *testing.B) {
	be := redistest.NewStandalone(b)
	s := newStore(b, be)
	ctx := context.Background()
	prefix := be.Prefix(b)
	if err := floorScript.Run(ctx, be.Client, []string{prefix + "floor"}).Err(); err != nil {
		b.Fatal(err)
	}
	var subjects atomic.Int64
	newChain := func(b *testing.B) session.Token {
		tok, err := s.secrets.Parse(login(b, s, fmt.Sprint("bench-", subjects.Add(1))).RefreshToken)
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
	rotate := func(b *testing.B, tok session.Token) session.Token {
		rot, err := s.secrets.Rotation(tok, "")
		if err != nil {
			b.Fatal(err)
		}
		r, err := s.st.Rotate(ctx, rot)
		if err != nil || r.Outcome != session.Rotated {
			b.Fatal(r.Outcome, err)
		}
		return rot.Child
	}
	floor := func(b *testing.B, key string) {
		if err := floorScript.Run(ctx, be.Client, []string{key}).Err(); err != nil {
			b.Fatal(err)
		}
	}
	// swap rotates a 32-byte value at key, as the floor endpoint does.
	swap := func(b *testing.B, key string, cur, next []byte) {
		if n, err := swapScript.Run(ctx, be.Client, []string{key}, cur, next).Int(); err != nil || n != 1 {
			b.Fatal(n, err)
		}
	}
	a, z := bytes.Repeat([]byte{'a'}, 32), bytes.Repeat([]byte{'z'}, 32)
	newSwap := func(b *testing.B) string {
		key := fmt.Sprint(prefix, "swap-", subjects.Add(1))
		if err := be.Client.HSet(ctx, key, "c", a).Err(); err != nil {
			b.Fatal(err)
		}
		return key
	}

	b.Run("Sequential", func(b *testing.B) {
		b.Run("op=Floor", func(b *testing.B) {
			defer serverTime(b, be)()
			defer be.StartCPU(b).Stop()
			b.ReportAllocs()
			for b.Loop() {
				floor(b, prefix+"floor")
			}
		})
		b.Run("op=Swap", func(b *testing.B) {
			key := newSwap(b)
			defer serverTime(b, be)()
			defer be.StartCPU(b).Stop()
			b.ReportAllocs()
			for b.Loop() {
				swap(b, key, a, z)
				a, z = z, a
			}
		})
		b.Run("op=Rotate", func(b *testing.B) {
			tok := newChain(b)
			defer serverTime(b, be)()
			defer be.StartCPU(b).Stop()
			b.ReportAllocs()
			for b.Loop() {
				tok = rotate(b, tok)
			}
		})
	})
	b.Run("Parallel", func(b *testing.B) {
		b.Run("op=Floor", func(b *testing.B) {
			defer serverTime(b, be)()
			defer be.StartCPU(b).Stop()
			b.ReportAllocs()
			b.SetParallelism(25)
			b.RunParallel(func(pb *testing.PB) {
				key := fmt.Sprint(prefix, "floor-", subjects.Add(1))
				for pb.Next() {
					floor(b, key)
				}
			})
		})
		b.Run("op=Swap", func(b *testing.B) {
			defer serverTime(b, be)()
			defer be.StartCPU(b).Stop()
			b.ReportAllocs()
			b.SetParallelism(25)
			b.RunParallel(func(pb *testing.PB) {
				key, cur, next := newSwap(b), a, z
				for pb.Next() {
					swap(b, key, cur, next)
					cur, next = next, cur
				}
			})
		})
		b.Run("op=Rotate", func(b *testing.B) {
			defer serverTime(b, be)()
			defer be.StartCPU(b).Stop()
			b.ReportAllocs()
			b.SetParallelism(25)
			b.RunParallel(func(pb *testing.PB) {
				tok := newChain(b)
				for pb.Next() {
					tok = rotate(b, tok)
				}
			})
		})
	})
}

// BenchmarkRotateInterleaved alternates a bare EVALSHA and a rotation on
// one client and times each, so that both latencies come from the same
// moments: on a shared, noisy machine the floor and Rotate of
// BenchmarkRotate run seconds apart and drift apart. It reports
// floor-µs/op, rotate-µs/op and their quotient x-floor, Rotate's
// sequential throughput as a fraction of the floor's. (With concurrent
// callers alternating, queueing would make both latencies alike: the
// parallel comparison is BenchmarkRotate's.)
func BenchmarkRotateInterleaved(b *testing.B) {
	be := redistest.NewStandalone(b)
	s := newStore(b, be)
	ctx := context.Background()
	key := []string{be.Prefix(b) + "floor"}
	tok, err := s.secrets.Parse(login(b, s, "bench").RefreshToken)
	if err != nil {
		b.Fatal(err)
	}
	var floor, rotate time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := floorScript.Run(ctx, be.Client, key).Err(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		rot, err := s.secrets.Rotation(tok, "")
		if err != nil {
			b.Fatal(err)
		}
		if r, err := s.st.Rotate(ctx, rot); err != nil || r.Outcome != session.Rotated {
			b.Fatal(r.Outcome, err)
		}
		rotate += time.Since(t1)
		floor += t1.Sub(t0)
		tok = rot.Child
	}
	n := float64(b.N) * float64(time.Microsecond)
	b.ReportMetric(float64(floor)/n, "floor-µs/op")
	b.ReportMetric(float64(rotate)/n, "rotate-µs/op")
	b.ReportMetric(float64(floor)/float64(rotate), "x-floor")
}

// BenchmarkActive measures the session check of the middleware hook (one
// read-only script, which compares with the server's clock) beside a bare
// HMGET of the same two fields, in the same run.
func BenchmarkActive(b *testing.B) {
	be := redistest.NewStandalone(b)
	prefix := be.Prefix(b)
	s := newClient(b, be, newSecrets(b), prefix)
	g := login(b, s, "alice")
	key := prefix + s.tag("alice") + ":f:" + g.SessionID // the layout of store.go
	ctx := context.Background()
	if n, err := be.Client.Exists(ctx, key).Result(); err != nil || n != 1 {
		b.Fatalf("family key %s: %d, %v", key, n, err)
	}
	b.Run("op=HMGET", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := be.Client.HMGet(ctx, key, "sc", "lu").Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=Active", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ok, err := s.Active(ctx, "alice", g.SessionID); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
}

// serverTime reports Redis's own time per EVALSHA ("redis-µs/op", from INFO
// commandstats) when the server is private to this benchmark (REDIS_URL
// unset): on a shared server other clients' scripts would be counted too.
// Call it before the loop and defer the function it returns.
func serverTime(b *testing.B, be *redistest.Backend) func() {
	if os.Getenv("REDIS_URL") != "" || be.Mini != nil {
		return func() {}
	}
	c, ok := be.Client.(*redis.Client)
	if !ok {
		return func() {}
	}
	read := func() (calls, usec float64) {
		info, err := c.Info(context.Background(), "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:"); ok {
				for _, kv := range strings.Split(rest, ",") {
					k, v, _ := strings.Cut(kv, "=")
					switch k {
					case "calls":
						calls, _ = strconv.ParseFloat(v, 64)
					case "usec":
						usec, _ = strconv.ParseFloat(v, 64)
					}
				}
			}
		}
		return calls, usec
	}
	calls0, usec0 := read()
	return func() {
		calls, usec := read()
		if calls > calls0 {
			b.ReportMetric((usec-usec0)/(calls-calls0), "redis-µs/op")
		}
	}
}
