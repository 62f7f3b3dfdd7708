package jwtrefresh_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

// A resource server that verifies access tokens without running the token
// service gets the session check from the store: a logout through the
// token service is pushed to it. (The token service runs in the same
// process here, on an in-process Redis; in production it is another
// server, and the resource server verifies with the issuer's JWKS.)
func ExampleNewSessionCheck() {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer rdb.Close()
	signing := must(keys.NewSet(must(keys.NewHS256("k", []byte("example-signing-key-example-key32")))))

	// The token service, elsewhere.
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	secrets := must(session.NewSecrets(session.Secret{Version: 1, Value: secret}))
	svc := must(jwtrefresh.NewService(must(redisstore.New(rdb)), secrets, signing, "https://auth.example.com"))
	defer svc.Close()

	// The resource server: the same Redis and key prefix, no secret.
	store, err := redisstore.New(rdb)
	if err != nil {
		log.Fatal(err)
	}
	check, stop, err := jwtrefresh.NewSessionCheck(store, jwtrefresh.WithAccessTokenTTL(5*time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	defer stop() // ends its subscription to pushed revocations
	mw, err := middleware.New(signing, middleware.WithIssuer("https://auth.example.com"),
		middleware.WithTokenType(jwtrefresh.AccessTokenType), middleware.WithSessionCheck(check, 0))
	if err != nil {
		log.Fatal(err)
	}
	api := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))

	ctx := context.Background()
	tokens := must(svc.Login(ctx, session.NewSession{Subject: "alice"}))
	get := func() int {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
		r.Header.Set("Authorization", "Bearer "+tokens.AccessToken)
		api.ServeHTTP(w, r)
		return w.Code
	}
	fmt.Println("before logout:", get())
	if err := svc.RevokeSession(ctx, "alice", tokens.SessionID); err != nil {
		log.Fatal(err)
	}
	// The end reaches the resource server within milliseconds.
	for deadline := time.Now().Add(5 * time.Second); get() == http.StatusOK && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("after logout:", get())
	// Output:
	// before logout: 200
	// after logout: 401
}
