package redisstore_test

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/redis/go-redis/v9"
)

func newKeys(t testing.TB) *jwtrefresh.RefreshKeyring {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	k, err := jwtrefresh.NewRefreshKeyring(jwtrefresh.RefreshKey{Version: 1, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newStore(t testing.TB, b *redistest.Backend, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	opts = append([]redisstore.Option{redisstore.WithKeyPrefix(b.Prefix(t))}, opts...)
	s, err := redisstore.New(b.Client, newKeys(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func login(t testing.TB, s jwtrefresh.Store, subject string) jwtrefresh.Grant {
	t.Helper()
	g, err := s.Create(context.Background(), jwtrefresh.NewSession{Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// commandCounter is a go-redis hook counting the commands sent, those inside
// pipelines included, by name.
type commandCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func countCommands(c redis.UniversalClient) *commandCounter {
	cc := &commandCounter{n: map[string]int{}}
	c.AddHook(cc)
	return cc
}

func (cc *commandCounter) add(cmds ...redis.Cmder) {
	cc.mu.Lock()
	for _, c := range cmds {
		cc.n[strings.ToLower(c.Name())]++
	}
	cc.mu.Unlock()
}

// take returns the counts so far and resets them.
func (cc *commandCounter) take() map[string]int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	n := cc.n
	cc.n = map[string]int{}
	return n
}

func (cc *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (cc *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		cc.add(cmd)
		return next(ctx, cmd)
	}
}

func (cc *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		cc.add(cmds...)
		return next(ctx, cmds)
	}
}
