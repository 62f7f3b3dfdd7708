package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	env := func(k string) string { return map[string]string{"SERVER_URL": "http://127.0.0.1:9"}[k] }
	cfg, err := parseFlags(nil, env, io.Discard)
	if err != nil || cfg.server != "http://127.0.0.1:9" || cfg.user != "alice" || cfg.workers != 8 ||
		cfg.duration != 10*time.Second || cfg.interval != 20*time.Millisecond {
		t.Errorf("defaults with SERVER_URL: %+v, %v", cfg, err)
	}
	cfg, err = parseFlags([]string{"-server", "http://h:1", "-workers", "3"}, env, io.Discard)
	if err != nil || cfg.server != "http://h:1" || cfg.workers != 3 || cfg.burst != 0 {
		t.Errorf("flags: %+v, %v", cfg, err)
	}
	if cfg, err = parseFlags([]string{"-burst", "8"}, env, io.Discard); err != nil || cfg.burst != 8 {
		t.Errorf("-burst 8: %+v, %v", cfg, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-workers", "0"}, "want 1 to 1000"},
		{[]string{"-duration", "0s"}, "positive"},
		{[]string{"-interval", "-1ms"}, "negative"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-duration", "soon"}, "invalid value"},
		{[]string{"-burst", "1001"}, "-burst 1001: want 1 to 1000"},
		{[]string{"-burst", "-1"}, "want 1 to 1000"},
		{[]string{"-burst", "8", "-workers", "2"}, "-burst and -workers"},
		{[]string{"-duration", "2s", "-burst", "8"}, "-burst and -duration"},
	} {
		if _, err := parseFlags(tc.args, env, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%v) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// TestLoginFailureExits1: a failed login (here: nothing listens) is exit
// status 1 with a message, and no summary line.
func TestLoginFailureExits1(t *testing.T) {
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"-server", "http://127.0.0.1:1", "-duration", "1s"},
		func(string) string { return "" }, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "client:") || strings.Contains(stdout.String(), "requests=") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

// fakeAPI stands in for the demo server: a login, /api/me and /api/echo
// that accept the access token it issues (a JWT that expires in 5 minutes,
// not signed: the client only reads its exp), and a revocation endpoint
// that counts the revocations of the refresh token "rt". onRequest, when
// set, is called at each API request.
type fakeAPI struct {
	*httptest.Server
	revoked   atomic.Int64
	requests  atomic.Int64
	onRequest func(n int64)
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{}
	at := "eyJhbGciOiJIUzI1NiJ9." +
		base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"exp":%d}`, time.Now().Add(5*time.Minute).Unix())) + ".c2ln"
	api := func(w http.ResponseWriter, r *http.Request) {
		if f.onRequest != nil {
			f.onRequest(f.requests.Add(1))
		}
		if r.Header.Get("Authorization") != "Bearer "+at {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			_, _ = io.Copy(w, r.Body)
			return
		}
		fmt.Fprint(w, `{"sub":"alice"}`)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":300,"refresh_token":"rt"}`, at)
	})
	mux.HandleFunc("GET /api/me", api)
	mux.HandleFunc("POST /api/echo", api)
	mux.HandleFunc("POST /auth/revoke", func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("token") == "rt" {
			f.revoked.Add(1)
		}
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// TestSignalRevokes (B6): a signal (the cancelled ctx that
// signal.NotifyContext gives run) ends the run early, yet the login
// completes, the revocation reaches the server exactly once, the summary
// is printed and the exit status is 0.
func TestSignalRevokes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		already bool // the signal came before run started
	}{
		{"before the login", []string{"-duration", "1m"}, true},
		{"while the workers run", []string{"-duration", "1m", "-interval", "0"}, false},
		{"while the burst waits", []string{"-burst", "4"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			ctx, signal := context.WithCancel(context.Background())
			defer signal()
			if tc.already {
				signal()
			} else {
				api.onRequest = func(n int64) {
					if n == 50 {
						signal()
					}
				}
			}
			var stdout, stderr strings.Builder
			code := run(ctx, append([]string{"-server", api.URL}, tc.args...), func(string) string { return "" }, &stdout, &stderr)
			if code != 0 || api.revoked.Load() != 1 {
				t.Errorf("exit %d, %d revocations; want exit 0 and 1 revocation\nstdout %s\nstderr %s",
					code, api.revoked.Load(), stdout.String(), stderr.String())
			}
			for _, want := range []string{"interrupted: stopped early", "logged out: the session is revoked", "failures=0"} {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q: %s", want, stdout.String())
				}
			}
		})
	}
}
