package transport_test

import (
	"context"
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

	"github.com/jwtrefresh/jwtrefresh/transport"
)

// demoServer stands in for an API and its token endpoint. Access token
// "at-1" has expired; refresh token "rt-1" rotates to "at-2" and "rt-2".
// After revoke, every refresh is refused with invalid_grant.
func demoServer(revoked *atomic.Bool) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"at-1","token_type":"Bearer","expires_in":300,"refresh_token":"rt-1"}`)
	})
	mux.HandleFunc("POST /auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.PostFormValue("refresh_token") != "rt-1" || revoked.Load() {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"the refresh token is invalid"}`)
			return
		}
		fmt.Fprint(w, `{"access_token":"at-2","token_type":"Bearer","expires_in":300,"refresh_token":"rt-2"}`)
	})
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer at-2" || revoked.Load() {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="the access token expired"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "hello alice")
	})
	return httptest.NewServer(mux)
}

// A Go service wraps its http.Client. The expired access token draws a 401;
// the Transport refreshes once and sends the request again, and the caller
// sees only the 200. Hooks feed the counters.
func ExampleNew() {
	srv := demoServer(new(atomic.Bool))
	defer srv.Close()

	var unauthorized, refreshes, retries atomic.Int64
	store := transport.NewMemoryStore(&transport.Token{AccessToken: "at-1", RefreshToken: "rt-1"})
	rt, err := transport.New(srv.URL+"/auth/refresh", store, transport.WithHooks(transport.Hooks{
		Unauthorized: func(*http.Request) { unauthorized.Add(1) },
		Refreshed:    func(transport.RefreshInfo) { refreshes.Add(1) },
		Retried:      func(*http.Request, bool) { retries.Add(1) },
	}))
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: rt}

	resp, err := client.Get(srv.URL + "/api/me")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	fmt.Printf("401s %d, refreshes %d, retries %d\n", unauthorized.Load(), refreshes.Load(), retries.Load())

	tok, _ := store.Load(context.Background())
	fmt.Println("rotated refresh token saved:", tok.RefreshToken == "rt-2")
	// Output:
	// 200 hello alice
	// 401s 1, refreshes 1, retries 1
	// rotated refresh token saved: true
}

// A command-line tool: "login" saves the login response in a FileStore
// through the Transport, which records its refresh endpoint in it; "get"
// sends requests through the Transport, and when the session has ended it
// tells the user to log in again.
func ExampleNewFileStore() {
	revoked := new(atomic.Bool)
	srv := demoServer(revoked)
	defer srv.Close()
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// In a real tool: filepath.Join(os.UserConfigDir(), "mytool", "token.json").
	store, err := transport.NewFileStore(filepath.Join(dir, "mytool", "token.json"))
	if err != nil {
		log.Fatal(err)
	}

	// mytool login
	resp, err := http.PostForm(srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"secret"}})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := transport.ReadTokenResponse(resp)
	if err != nil {
		log.Fatal(err)
	}
	rt, err := transport.New(srv.URL+"/auth/refresh", store)
	if err != nil {
		log.Fatal(err)
	}
	if err := rt.Login(ctx, tok); err != nil {
		log.Fatal(err)
	}

	// mytool get /api/me, twice: the session is revoked in between.
	client := &http.Client{Transport: rt}
	for range 2 {
		resp, err := client.Get(srv.URL + "/api/me")
		if errors.Is(err, transport.ErrLoginRequired) {
			fmt.Println("session ended: run 'mytool login'") // and exit 2
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body))
		revoked.Store(true)
	}
	_, err = store.Load(ctx)
	fmt.Println("token file removed:", errors.Is(err, transport.ErrNoToken))
	// Output:
	// 200 hello alice
	// session ended: run 'mytool login'
	// token file removed: true
}

// A session is sent only to the server it was logged in to. A tool that
// takes its server from a flag builds its Transport from that flag; given
// another server, it finds the stored session recorded for the first one,
// and sends nothing.
func ExampleTransport_Login() {
	srv := demoServer(new(atomic.Bool))
	defer srv.Close()
	var received atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
	}))
	defer other.Close()
	ctx := context.Background()
	store := transport.NewMemoryStore(nil) // a FileStore in a real tool

	// mytool -server SRV login
	resp, err := http.PostForm(srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"secret"}})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := transport.ReadTokenResponse(resp)
	if err != nil {
		log.Fatal(err)
	}
	rt, err := transport.New(srv.URL+"/auth/refresh", store)
	if err != nil {
		log.Fatal(err)
	}
	if err := rt.Login(ctx, tok); err != nil {
		log.Fatal(err)
	}

	// mytool -server OTHER get /api/me
	rt, err = transport.New(other.URL+"/auth/refresh", store)
	if err != nil {
		log.Fatal(err)
	}
	_, err = (&http.Client{Transport: rt}).Get(other.URL + "/api/me")
	fmt.Println("foreign token:", errors.Is(err, transport.ErrForeignToken))
	fmt.Println("requests the other server received:", received.Load())
	// Output:
	// foreign token: true
	// requests the other server received: 0
}
