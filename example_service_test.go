package jwtrefresh_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

// A server that issues and verifies its own tokens: the endpoints under
// /auth/, its own login handler, and a protected route. (The example runs
// on an in-process Redis; use your Redis address in production, and read
// the secrets from your secret store.)
func ExampleService() {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer rdb.Close()

	refreshSecret := make([]byte, 32) // from your secret store; here random
	_, _ = rand.Read(refreshSecret)
	refreshSecrets, err := session.NewSecrets(session.Secret{Version: 1, Value: refreshSecret})
	if err != nil {
		log.Fatal(err)
	}
	store, err := redisstore.New(rdb)
	if err != nil {
		log.Fatal(err)
	}
	signing, err := keys.NewSet(must(keys.NewHS256("2026-01", []byte("example-signing-key-example-key32"))))
	if err != nil {
		log.Fatal(err)
	}
	svc, err := jwtrefresh.NewService(store, refreshSecrets, signing, "https://auth.example.com", jwtrefresh.WithAudience("api"))
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close() // ends the session check's subscription to the store
	mw, err := svc.Middleware(middleware.WithSessionCheck(svc.SessionCheck(), 0))
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", svc.Handler()))
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user := r.PostFormValue("username") // check the password here
		tr, err := svc.Login(r.Context(), session.NewSession{
			Subject: user,
			Claims:  json.RawMessage(`{"scope":"read"}`),
			Client:  jwtrefresh.ClientInfoFrom(r),
		})
		if err != nil {
			svc.WriteError(w, r, err)
			return
		}
		svc.WriteTokenResponse(w, r, tr)
	})
	mux.Handle("GET /api/me", mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s", c.Subject)
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	post := func(path string, form url.Values) (int, map[string]any) {
		resp, err := http.PostForm(srv.URL+path, form)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	status, login := post("/login", url.Values{"username": {"alice"}})
	fmt.Println("login:", status, login["token_type"], login["expires_in"])

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+login["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	me, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("me:", resp.StatusCode, string(me))

	rt := login["refresh_token"].(string)
	status, next := post("/auth/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	fmt.Println("refresh:", status, "new refresh token:", next["refresh_token"] != rt)

	// Another tab of the same browser refreshed at the same moment: within
	// the reuse grace window it gets the same new refresh token.
	status, tab := post("/auth/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	fmt.Println("racing refresh:", status, "same refresh token:", tab["refresh_token"] == next["refresh_token"])

	mr.SetTime(time.Now().Add(redisstore.DefaultReuseGrace)) // later (Redis's clock decides)
	status, reused := post("/auth/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	fmt.Println("used token again:", status, reused["error"])
	status, after := post("/auth/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next["refresh_token"].(string)}})
	fmt.Println("its successor after reuse detection:", status, after["error"])
	// Output:
	// login: 200 Bearer 300
	// me: 200 hello alice
	// refresh: 200 new refresh token: true
	// racing refresh: 200 same refresh token: true
	// used token again: 400 invalid_grant
	// its successor after reuse detection: 400 invalid_grant
}

// Session events come from the service's hook (WithEvents): count them
// (e.g. in an expvar.Map). WithLogger logs them. Events never carry a
// token or an idempotency key.
func Example_sessionEvents() {
	counts := map[string]int{} // an expvar.Map in a server
	hook := func(_ context.Context, e jwtrefresh.Event) {
		name := string(e.Kind)
		switch e.Kind {
		case jwtrefresh.EventRotate:
			name = "refresh"
		case jwtrefresh.EventReuseDetected:
			name = "reuse"
		}
		counts[name]++
	}

	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer rdb.Close()
	refreshSecret := make([]byte, 32)
	_, _ = rand.Read(refreshSecret)
	secrets := must(session.NewSecrets(session.Secret{Version: 1, Value: refreshSecret}))
	store := must(redisstore.New(rdb))
	signing := must(keys.NewSet(must(keys.NewHS256("k", []byte("example-signing-key-example-key32")))))
	svc := must(jwtrefresh.NewService(store, secrets, signing, "https://auth.example.com", jwtrefresh.WithEvents(hook)))

	ctx := context.Background()
	a := must(svc.Login(ctx, session.NewSession{Subject: "alice"}))
	b := must(svc.Refresh(ctx, a.RefreshToken, "idempotency-key-1", ""))
	_ = must(svc.Refresh(ctx, a.RefreshToken, "idempotency-key-1", "")) // a retry: replay
	mr.SetTime(time.Now().Add(redisstore.DefaultReuseGrace))            // past the reuse grace window
	_, _ = svc.Refresh(ctx, a.RefreshToken, "", "")                     // reuse
	_, _ = svc.Refresh(ctx, b.RefreshToken, "", "")                     // revoked by the reuse: no event
	must(svc.Login(ctx, session.NewSession{Subject: "alice"}))
	_, _ = svc.RevokeAll(ctx, "alice")
	fmt.Println(counts)
	// Output:
	// map[login:2 refresh:1 replay:1 reuse:1 revoke_all:1]
}
