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
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
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
	redisURL := getenv("REDIS_URL") // redis://[user:password@]host:6379/0
	if redisURL == "" {
		return nil, nil, errors.New("REDIS_URL is not set") // redis.ParseURL would say only "invalid URL scheme"
	}
	opts, err := redis.ParseURL(redisURL)
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
	refreshSecrets, err := session.NewSecrets(session.Secret{Version: 1, Value: refreshKey})
	if err != nil {
		return nil, nil, err
	}
	store, err := redisstore.New(rdb) // one-time use (5 s grace for parallel refreshes); reuse revokes all the user's sessions
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
	svc, err := jwtrefresh.NewService(store, refreshSecrets, signing, "https://api.example.com", jwtrefresh.WithAudience("api"))
	if err != nil {
		return nil, nil, err
	}
	// The middleware accepts exactly what svc issues; the session check
	// refuses the access tokens of an ended session (logout, revocation,
	// reuse): at once on the instance that ended it, within milliseconds elsewhere.
	mw, err := svc.Middleware(middleware.WithSessionCheck(svc.SessionCheck(), 0))
	if err != nil {
		return nil, nil, err
	}

	mux := http.NewServeMux()
	// The token endpoints check their own credentials: never wrap them in mw,
	// which would refuse every refresh (its access token has expired).
	mux.Handle("/auth/", http.StripPrefix("/auth", svc.Handler())) // refresh, revoke, logout-all, sessions
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user := r.PostFormValue("username")
		if !checkPassword(user, r.PostFormValue("password")) { // yours
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintln(w, `{"error":"invalid_grant","error_description":"wrong user name or password"}`)
			return
		}
		tr, err := svc.Login(r.Context(), session.NewSession{Subject: user, Client: jwtrefresh.ClientInfoFrom(r)})
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
		"SIGNING_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1, 4}, 16)),
		"REFRESH_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2, 3}, 16)),
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
// before it expires (or after a 401) and retries. When the session ends
// (here: revoked by an administrator), the service logs in again.
func Example_goClient() {
	api, stop := startAPIServer()
	defer stop()
	apiURL := api.URL
	ctx := context.Background()

	// Log in once, then hand the tokens to the transport.
	login := func() (*transport.Token, error) {
		resp, err := http.PostForm(apiURL+"/login", url.Values{"username": {"alice"}, "password": {"wonderland"}})
		if err != nil {
			return nil, err
		}
		return transport.ReadTokenResponse(resp)
	}
	tok, err := login()
	if err != nil {
		log.Fatal(err)
	}
	store := transport.NewMemoryStore(tok)
	rt, err := transport.New(apiURL+"/auth/refresh", store)
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: rt}
	me := func() {
		resp, err := client.Get(apiURL + "/api/me") // expiry never shows here
		if errors.Is(err, transport.ErrLoginRequired) {
			// The session ended: revoked, reuse detected, or past its idle or
			// absolute lifetime. A service logs in again; the transport uses
			// the tokens saved in its store from the next request on.
			tok, err = login()
			if err != nil {
				log.Fatal(err)
			}
			err = rt.Login(ctx, tok) // saves it in the store
			if err != nil {
				log.Fatal(err)
			}
			fmt.Println("the session had ended: logged in again")
			resp, err = client.Get(apiURL + "/api/me")
		}
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Print(resp.StatusCode, " ", string(body))
	}
	me()

	// An administrator ends the session (RFC 7009 revocation).
	cur, err := store.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.PostForm(apiURL+"/auth/revoke", url.Values{"token": {cur.RefreshToken}})
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	me()
	// Output:
	// 200 hello alice
	// the session had ended: logged in again
	// 200 hello alice
}

// mytool is the CLI tool of the quick start: each invocation is a new
// process, which finds the session in a file.
type mytool struct {
	apiURL string
	store  transport.Store
}

func newMytool(apiURL, configDir string) (*mytool, error) {
	store, err := transport.NewFileStore(filepath.Join(configDir, "mytool", "token.json"))
	if err != nil {
		return nil, err
	}
	return &mytool{apiURL: apiURL, store: store}, nil
}

// mytool login
func (t *mytool) login(ctx context.Context, user, password string) error {
	resp, err := http.PostForm(t.apiURL+"/login", url.Values{"username": {user}, "password": {password}})
	if err != nil {
		return err
	}
	tok, err := transport.ReadTokenResponse(resp)
	var re *transport.ResponseError
	if errors.As(err, &re) && re.Code == "invalid_grant" {
		return errors.New("wrong user name or password")
	}
	if err != nil {
		return err // a *transport.ResponseError: server down, …
	}
	rt, err := transport.New(t.apiURL+"/auth/refresh", t.store)
	if err != nil {
		return err
	}
	return rt.Login(ctx, tok) // saved with the refresh URL it belongs to, mode 0600
}

// mytool get PATH
func (t *mytool) get(ctx context.Context, path string) error {
	rt, err := transport.New(t.apiURL+"/auth/refresh", t.store)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.apiURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if errors.Is(err, transport.ErrLoginRequired) {
		return fmt.Errorf("session ended: run 'mytool login' (%w)", transport.ErrLoginRequired) // exit status 2
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	_, err = io.Copy(os.Stdout, resp.Body)
	return err
}

// mytool logout: end the session at the server, then forget it
func (t *mytool) logout(ctx context.Context) error {
	tok, err := t.store.Load(ctx)
	if err != nil {
		return err
	}
	resp, err := http.PostForm(t.apiURL+"/auth/revoke", url.Values{"token": {tok.RefreshToken}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK { // e.g. 503: the session is still alive, keep its file
		return fmt.Errorf("logout failed (%s): try again", resp.Status)
	}
	return t.store.Clear(ctx)
}

// A command-line tool: the session lives in a file, so each invocation
// (a new process) finds it, and parallel invocations share one refresh.
func Example_cliTool() {
	api, stop := startAPIServer()
	defer stop()
	ctx := context.Background()
	configDir, err := os.MkdirTemp("", "quickstart") // os.UserConfigDir() in a real tool
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(configDir)
	tool, err := newMytool(api.URL, configDir)
	if err != nil {
		log.Fatal(err)
	}

	fmt.Println(tool.login(ctx, "alice", "wrong"))
	fmt.Println(tool.login(ctx, "alice", "wonderland"))
	fmt.Println(tool.get(ctx, "/api/me"))
	fmt.Println(tool.logout(ctx))
	err = tool.get(ctx, "/api/me")
	fmt.Println(err, errors.Is(err, transport.ErrLoginRequired))
	// Output:
	// wrong user name or password
	// <nil>
	// hello alice
	// <nil>
	// <nil>
	// session ended: run 'mytool login' (transport: login required) true
}

// TestQuickStartErrors: the quick starts' error paths say what is wrong:
// an unset REDIS_URL is named (redis.ParseURL would say only "invalid URL
// scheme"), and a logout the server did not confirm keeps the token file,
// whose session is still alive.
func TestQuickStartErrors(t *testing.T) {
	t.Run("REDIS_URL not set", func(t *testing.T) {
		_, _, err := newAPIServer(func(string) string { return "" })
		if err == nil || err.Error() != "REDIS_URL is not set" {
			t.Errorf("newAPIServer without REDIS_URL: %v", err)
		}
	})
	t.Run("logout refused", func(t *testing.T) {
		var revocations atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			revocations.Add(1)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		tool, err := newMytool(srv.URL, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		if err := tool.store.Save(ctx, &transport.Token{AccessToken: "at", TokenType: "Bearer", RefreshToken: "rt"}); err != nil {
			t.Fatal(err)
		}
		err = tool.logout(ctx)
		if err == nil || err.Error() != "logout failed (503 Service Unavailable): try again" || revocations.Load() != 1 {
			t.Errorf("logout answered 503: %v after %d revocations, want the failure after 1", err, revocations.Load())
		}
		if tok, err := tool.store.Load(ctx); err != nil || tok.RefreshToken != "rt" {
			t.Errorf("token file after the failed logout: %+v, %v; want it kept", tok, err)
		}
	})
}
