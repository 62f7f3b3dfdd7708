package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/redis/go-redis/v9"
)

// Login, refresh, a retried refresh, and a stolen token coming back. The
// example runs on an in-process Redis; use your own client in production.
func Example() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer rdb.Close()

	keys, err := jwtrefresh.NewRefreshKeyring(jwtrefresh.RefreshKey{Version: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		panic(err)
	}
	store, err := redisstore.New(rdb, keys)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	login, _ := store.Create(ctx, jwtrefresh.NewSession{
		Subject: "alice",
		Claims:  []byte(`{"role":"admin"}`),
		Client:  jwtrefresh.ClientInfo{UserAgent: "example", Device: "laptop"},
	})
	fmt.Println("login: generation", login.Generation)

	// The client sends a random Idempotency-Key with each refresh.
	r1, _ := store.Rotate(ctx, login.RefreshToken, "key-1")
	fmt.Println("refresh: generation", r1.Generation, string(r1.Claims))

	// Its response was lost; it retries with the same token and key.
	retry, _ := store.Rotate(ctx, login.RefreshToken, "key-1")
	fmt.Println("retry: same token:", retry.RefreshToken == r1.RefreshToken, "replayed:", retry.Replayed)

	// Someone else presents the used token: reuse, every session revoked.
	// The error says whose.
	_, err = store.Rotate(ctx, login.RefreshToken, "")
	fmt.Println("reuse detected:", errors.Is(err, jwtrefresh.ErrReuseDetected))
	var reuse *jwtrefresh.ReuseError
	if errors.As(err, &reuse) {
		fmt.Println("revoked:", reuse.Revoked, "session(s) of", reuse.Subject, "(policy", reuse.Policy.String()+")")
	}
	_, err = store.Rotate(ctx, r1.RefreshToken, "")
	fmt.Println("the legitimate token now:", errors.Is(err, jwtrefresh.ErrInvalidToken))
	// Output:
	// login: generation 1
	// refresh: generation 2 {"role":"admin"}
	// retry: same token: true replayed: true
	// reuse detected: true
	// revoked: 1 session(s) of alice (policy subject)
	// the legitimate token now: true
}
