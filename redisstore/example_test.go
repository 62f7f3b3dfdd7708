package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

// A store as the token service drives it: a login, a refresh, its retry,
// a racing refresh, and a stolen token coming back. Applications hand the store to
// jwtrefresh.NewService, which does all of this behind its endpoints. The
// example runs on an in-process Redis; use your own client in production.
func Example() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer rdb.Close()
	store, err := redisstore.New(rdb, redisstore.WithMaxSessions(10))
	if err != nil {
		panic(err)
	}

	value := make([]byte, 32) // from your secret store; here random
	_, _ = rand.Read(value)
	secrets, _ := session.NewSecrets(session.Secret{Version: 1, Value: value})
	ctx := context.Background()
	index, err := secrets.Index(ctx, store)
	if err != nil {
		panic(err)
	}

	first, child, seal := index.NewFamily("alice")
	_, err = store.Create(ctx, first, child, session.NewSession{Subject: "alice", Claims: []byte(`{"role":"admin"}`)}, seal)
	fmt.Println("login:", err == nil)

	// The client sends a random Idempotency-Key, new for each refresh.
	key := rand.Text()
	rot, _ := secrets.Rotation(first, key)
	r, _ := store.Rotate(ctx, rot)
	fmt.Println("refresh:", r.Outcome == session.Rotated, r.Subject, string(r.Claims))

	// Its response was lost; it retries with the same token and key.
	retry, _ := secrets.Rotation(first, key)
	r, _ = store.Rotate(ctx, retry)
	fmt.Println("retry replayed:", r.Outcome == session.Replayed)

	// Another tab refreshed at the same moment without a key: within the
	// reuse grace window it gets the same new token.
	tab, _ := secrets.Rotation(first, "")
	r, _ = store.Rotate(ctx, tab)
	fmt.Println("racing tab replayed:", r.Outcome == session.Replayed)

	// Later, someone presents the used token again: reuse, every session
	// revoked. (The in-process Redis's clock jumps past the window.)
	mr.SetTime(time.Now().Add(redisstore.DefaultReuseGrace + time.Second))
	stolen, _ := secrets.Rotation(first, "")
	r, _ = store.Rotate(ctx, stolen)
	fmt.Println("reuse:", r.Outcome == session.Reused, r.Ended, "session(s) of", r.Subject, "revoked")
	next, _ := secrets.Rotation(rot.Child, "")
	r, _ = store.Rotate(ctx, next)
	fmt.Println("the legitimate token now invalid:", r.Outcome == session.Invalid)
	// Output:
	// login: true
	// refresh: true alice {"role":"admin"}
	// retry replayed: true
	// racing tab replayed: true
	// reuse: true 1 session(s) of alice revoked
	// the legitimate token now invalid: true
}
