package example

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"

	"github.com/alicebob/miniredis/v2"
	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/transport"
	"github.com/redis/go-redis/v9"
)

// The quick starts of README.md are excerpts of this file (TestREADME
// checks it line by line): the API server, a Go client and a CLI tool,
// run offline against an in-process Redis.

// newAPIServer is the API server quick start. getenv is os.Getenv in a
// real server; closeRedis releases the Redis client.
func newAPIServer(getenv func(string) string) (h http.Handler, closeRedis func() error, err error) {
	// Redis: redisstore requires ContextTimeoutEnabled, so that deadlines bound every call.
	opts, err := redis.ParseURL(getenv("REDIS_URL")) // redis://[user:password@]host:6379/0
	if err != nil {
		return nil, nil, err
	}
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts) // redis.NewClusterClient for a Redis Cluster
	defer func() {
		if err != nil {
			rdb.Close()
		}
	}()
	// Keys: 32+ random bytes each (openssl rand -base64 32), the same on every instance.
	signingKey, err := base64.StdEncoding.DecodeString(getenv("SIGNING_KEY"))
	if err != nil {
		return nil, nil, err
	}
	refreshKey, err := base64.StdEncoding.DecodeString(getenv("REFRESH_KEY"))
	if err != nil {
		return nil, nil, err
	}

	// Refresh tokens: opaque, one-time use, rotated at every refresh, kept in Redis.
	refreshKeys, err := jwtrefresh.NewRefreshKeyring(jwtrefresh.RefreshKey{Version: 1, Secret: refreshKey})
	if err != nil {
		return nil, nil, err
	}
	store, err := redisstore.New(rdb, refreshKeys) // strict one-time use; reuse revokes all the user's sessions
	if err != nil {
		return nil, nil, err
	}
	// Access tokens: JWTs that live 5 minutes, verified without I/O.
	key, err := keys.NewHS256("2026-01", signingKey)
	if err != nil {
		return nil, nil, err
	}
	signing, err := keys.NewSet(key)
	if err != nil {
		return nil, nil, err
	}
	svc, err := jwtrefresh.NewService(store, signing, "https://api.example.com", jwtrefresh.WithAudience("api"))
	if err != nil {
		return nil, nil, err
	}
	// The middleware accepts exactly what svc issues; the session check
	// refuses the access tokens of an ended session (logout, revocation,
	// reuse): at once on the instance that ended it, within 5 s elsewhere.
	mw, err := svc.Middleware(middleware.WithSessionCheck(svc.SessionCheck(), 0))
	if err != nil {
		return nil, nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", svc.Handler())) // refresh, revoke, logout-all, sessions
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user := r.PostFormValue("username")
		if !checkPassword(user, r.PostFormValue("password")) { // yours
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintln(w, `{"error":"invalid_grant","error_description":"wrong user name or password"}`)
			return
		}
		tr, err := svc.Login(r.Context(), jwtrefresh.NewSession{Subject: user, Client: jwtrefresh.ClientInfoFrom(r)})
		if err != nil {
			svc.WriteError(w, r, err) // 503 temporarily_unavailable when Redis is down
			return
		}
		svc.WriteTokenResponse(w, r, tr) // {"access_token","token_type","expires_in","refresh_token"}
	})
	mux.Handle("GET /api/me", mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := middleware.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s\n", claims.Subject)
	})))
	return mux, rdb.Close, nil
}

func checkPassword(user, password string) bool {
	return user == "alice" && subtle.ConstantTimeCompare([]byte(password), []byte("wonderland")) == 1
}

// startAPIServer runs newAPIServer on an in-process Redis.
func startAPIServer() (srv *httptest.Server, stop func()) {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	env := map[string]string{
		"REDIS_URL":   "redis://" + mr.Addr() + "/0",
		"SIGNING_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)),
		"REFRESH_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32)),
	}
	h, closeRedis, err := newAPIServer(func(k string) string { return env[k] })
	if err != nil {
		log.Fatal(err)
	}
	srv = httptest.NewServer(h)
	return srv, func() { srv.Close(); closeRedis(); mr.Close() }
}

// An API server: login, the token endpoints under /auth/, and a protected
// route.
func Example_apiServer() {
	api, stop := startAPIServer()
	defer stop()

	resp, err := http.Get(api.URL + "/api/me")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))

	resp, err = http.PostForm(api.URL+"/login", url.Values{"username": {"alice"}, "password": {"wonderland"}})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := transport.ReadTokenResponse(resp)
	fmt.Println("login:", err, tok.ExpiresIn, "s")
	// Output:
	// 401 Bearer realm="api"
	// login: <nil> 300 s
}

// A Go client: the transport attaches the access token, refreshes it
// before it expires (or after a 401) and retries.
func Example_goClient() {
	api, stop := startAPIServer()
	defer stop()
	apiURL := api.URL

	// Log in once, then hand the tokens to the transport.
	resp, err := http.PostForm(apiURL+"/login", url.Values{"username": {"alice"}, "password": {"wonderland"}})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := transport.ReadTokenResponse(resp)
	if err != nil {
		log.Fatal(err)
	}
	rt, err := transport.New(apiURL+"/auth/refresh", transport.NewMemoryStore(tok))
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: rt}

	resp, err = client.Get(apiURL + "/api/me") // expiry never shows here
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output: 200 hello alice
}

// A command-line tool: the session lives in a file, so each invocation
// (a new process) finds it, and parallel invocations share one refresh.
func Example_cliTool() {
	api, stop := startAPIServer()
	defer stop()
	apiURL := api.URL
	ctx := context.Background()
	configDir, err := os.MkdirTemp("", "quickstart") // os.UserConfigDir() in a real tool
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(configDir)

	store, err := transport.NewFileStore(filepath.Join(configDir, "mytool", "token.json"))
	if err != nil {
		log.Fatal(err)
	}

	// mytool login
	resp, err := http.PostForm(apiURL+"/login", url.Values{"username": {"alice"}, "password": {"wonderland"}})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := transport.ReadTokenResponse(resp)
	if err != nil {
		log.Fatal(err) // a *transport.ResponseError: wrong password, server down, …
	}
	err = store.Save(ctx, tok) // mode 0600
	if err != nil {
		log.Fatal(err)
	}

	get := func(path string) {
		// mytool get PATH
		rt, err := transport.New(apiURL+"/auth/refresh", store)
		if err != nil {
			log.Fatal(err)
		}
		resp, err := (&http.Client{Transport: rt}).Get(apiURL + path)
		if errors.Is(err, transport.ErrLoginRequired) {
			fmt.Println("session ended: run 'mytool login'") // and exit with status 2
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Print(string(body))
	}
	get("/api/me")

	// mytool logout: end the session at the server, then forget it
	tok, err = store.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	resp, err = http.PostForm(apiURL+"/auth/revoke", url.Values{"token": {tok.RefreshToken}})
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	err = store.Clear(ctx)
	if err != nil {
		log.Fatal(err)
	}
	get("/api/me")
	// Output:
	// hello alice
	// session ended: run 'mytool login'
}
