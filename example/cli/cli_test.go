package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// fake stands in for the demo server: /login accepts alice/wonderland;
// every refresh is refused (invalid_grant), and /api/me accepts only
// "good", so an expired token means "log in again".
func fake(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" || string(body) != `{"username":"alice","password":"wonderland"}` {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"unknown user or wrong password"}`)
			return
		}
		fmt.Fprint(w, `{"access_token":"good","token_type":"Bearer","expires_in":300,"refresh_token":"rt"}`)
	})
	mux.HandleFunc("POST /auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"the refresh token is invalid"}`)
	})
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"sub":"alice"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type invocation struct {
	stdout, stderr string
	code           int
}

func invoke(t *testing.T, vars map[string]string, stdin string, args ...string) invocation {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(context.Background(), args, env{
		getenv: func(k string) string { return vars[k] },
		stdin:  strings.NewReader(stdin),
		stdout: &stdout, stderr: &stderr,
	})
	return invocation{stdout.String(), stderr.String(), code}
}

func TestExitStatus(t *testing.T) {
	srv := fake(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "token.json")
	expired := writeSession(t, dir, "expired.json", `{"access_token":"old","token_type":"Bearer","refresh_token":"rt"}`, srv.URL)
	unsafe := writeSession(t, dir, "unsafe.json", `{"access_token":"good","refresh_token":"rt"}`, srv.URL)
	if err := os.Chmod(unsafe, 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SERVER_URL": srv.URL}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		stdin  string
		args   []string
		code   int
		stderr string // a substring of standard error
		stdout string // a substring of standard output
	}{
		{"no command", env, "", nil, 1, "no command given", ""},
		{"unknown command", env, "", []string{"status"}, 1, `unknown command "status"`, ""},
		{"bad flag", env, "", []string{"-verbose", "get", "/"}, 1, "flag provided but not defined", ""},
		{"help", env, "", []string{"-h"}, 0, "usage: cli", ""},
		{"command help", env, "", []string{"get", "-h"}, 0, "usage: cli get PATH", ""},
		{"too many arguments", env, "", []string{"-token-file", file, "get", "/a", "/b"}, 1, "want 1 argument", ""},
		{"relative path", env, "", []string{"-token-file", file, "get", "api/me"}, 1, "must start with /", ""},
		{"bad server URL", map[string]string{"SERVER_URL": "ftp://example.com"}, "", []string{"-token-file", file, "get", "/"}, 1, `"ftp://example.com"`, ""},
		{"not logged in", env, "", []string{"-token-file", file, "get", "/api/me"}, 2, "not logged in: run login", ""},
		{"token file from the environment", map[string]string{"SERVER_URL": srv.URL, "TOKEN_FILE": expired}, "", []string{"get", "/api/me"}, 2, "the session has ended", ""},
		{"refresh refused", env, "", []string{"get", "-token-file", expired, "/api/me"}, 2, "run login", ""},
		{"unsafe token file", env, "", []string{"-token-file", unsafe, "get", "/api/me"}, 1, "chmod 600", ""},
		{"logout without a session", env, "", []string{"-token-file", file, "logout"}, 0, "", "not logged in"},
		{"login without -user", env, "", []string{"-token-file", file, "login"}, 1, "-user is required", ""},
		{"login with an empty password", env, "\n", []string{"-token-file", file, "login", "-user", "alice"}, 1, "empty password", ""},
		{"login refused", env, "builder\n", []string{"-token-file", file, "login", "-user", "alice"}, 1, "wrong user name or password", ""},
		{"login", env, "wonderland\r\n", []string{"-token-file", file, "login", "-user", "alice"}, 0, "", "logged in as alice"},
		{"get after login", env, "", []string{"-token-file", file, "get", "/api/me"}, 0, "", `{"sub":"alice"}`},
		{"HTTP error", env, "", []string{"-token-file", file, "get", "/missing"}, 1, "GET /missing: 404 Not Found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := invoke(t, tc.env, tc.stdin, tc.args...)
			if got.code != tc.code || !strings.Contains(got.stderr, tc.stderr) || !strings.Contains(got.stdout, tc.stdout) {
				t.Errorf("cli %v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					tc.args, got.code, got.stdout, got.stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file after login: %v %v, want mode 0600", fi.Mode(), err)
	}
	if _, err := os.Stat(expired); !os.IsNotExist(err) {
		t.Errorf("a refused refresh left the token file in place (%v)", err)
	}
}

func TestFirstLine(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"secret\n", "secret", ""},
		{"secret\r\nmore\n", "secret", ""},
		{"secret", "secret", ""},
		{"pass word with spaces \n", "pass word with spaces ", ""},
		{"", "", ""},
		{strings.Repeat("x", maxPassword), "", "longer than"},
	} {
		got, err := firstLine(strings.NewReader(tc.in))
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("firstLine(%.20q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// writeSession writes a token file recording server's token endpoint, as
// a login to server would, and returns its path. token is a JSON object
// without the record.
func writeSession(t *testing.T, dir, name, token, server string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	token = strings.TrimSuffix(token, "}") + `,"refresh_url":"` + server + refreshPath + `"}`
	if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// counting is a server that counts the requests it receives and answers
// each with 401: one that must never see the session.
func counting(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestSessionStaysWithItsServer (R4): a session logged in to one server is
// never sent to another: every command given another -server stops before
// it sends anything, names both servers, and keeps the token file.
func TestSessionStaysWithItsServer(t *testing.T) {
	home := fake(t)
	other, received := counting(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "token.json")
	if r := invoke(t, nil, "wonderland\n", "-server", home.URL, "-token-file", file, "login", "-user", "alice"); r.code != 0 {
		t.Fatalf("login: %+v", r)
	}
	saved, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(saved), `"refresh_url":"`+home.URL+refreshPath+`"`) {
		t.Fatalf("the token file after login does not record %s: %s, %v", home.URL+refreshPath, saved, err)
	}
	for _, args := range [][]string{{"get", "/api/me"}, {"post", "/api/echo"}, {"sessions"}, {"logout"}, {"logout-all"}} {
		t.Run(args[0], func(t *testing.T) {
			r := invoke(t, nil, "{}", append([]string{"-server", other.URL, "-token-file", file}, args...)...)
			want := "belongs to " + home.URL + ", not " + other.URL + "; nothing was sent"
			if r.code != 1 || !strings.Contains(r.stderr, want) || r.stdout != "" {
				t.Errorf("cli -server OTHER %v: %+v; want exit 1 and %q", args, r, want)
			}
		})
	}
	if n := received.Load(); n != 0 {
		t.Errorf("the other server received %d requests, want 0", n)
	}
	if now, err := os.ReadFile(file); err != nil || string(now) != string(saved) {
		t.Errorf("the token file changed: %s, %v", now, err)
	}
	// The same origin, spelt differently, is the session's server.
	same := strings.Replace(home.URL, "http://127.0.0.1", "HTTP://127.0.0.1", 1) + "/"
	if r := invoke(t, nil, "", "-server", same, "-token-file", file, "get", "/api/me"); r.code != 0 || r.stdout != `{"sub":"alice"}` {
		t.Errorf("get from %s: %+v", same, r)
	}
}

// TestSessionRecord (R4): a token file without a record of its server, or
// with one of another server, is not sent anywhere: the CLI asks for a new
// login, or names the server it belongs to. With a record of this server,
// the request goes out.
func TestSessionRecord(t *testing.T) {
	srv, received := counting(t)
	dir := t.TempDir()
	env := map[string]string{"SERVER_URL": srv.URL}
	tok := `{"access_token":"good","refresh_token":"rt"`
	for _, tc := range []struct {
		name, token string
		code        int
		want        string
		sent        int64
	}{
		{"no record", tok + `}`, 2, "does not record which server it belongs to: run login", 0},
		{"another server", tok + `,"refresh_url":"https://api.example.com/auth/refresh"}`, 1,
			"belongs to https://api.example.com, not " + srv.URL + "; nothing was sent", 0},
		{"another path", tok + `,"refresh_url":"` + srv.URL + `/v2/auth/refresh"}`, 1,
			"belongs to " + srv.URL + "/v2, not " + srv.URL + "; nothing was sent", 0},
		{"not a URL", tok + `,"refresh_url":"%zz"}`, 1, "belongs to another server, not " + srv.URL, 0},
		{"this server", tok + `,"refresh_url":"` + srv.URL + refreshPath + `"}`, 1, "GET /api/me: 401 Unauthorized", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(tc.token), 0o600); err != nil {
				t.Fatal(err)
			}
			before := received.Load()
			r := invoke(t, env, "", "-token-file", path, "get", "/api/me")
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("get: %+v; want exit %d and %q", r, tc.code, tc.want)
			}
			if n := received.Load() - before; n != tc.sent {
				t.Errorf("the server received %d requests, want %d", n, tc.sent)
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"HTTP://Example.COM:80/api", "http://example.com"},
		{"https://example.com:443", "https://example.com"},
		{"https://example.com:8443/", "https://example.com:8443"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"http://[::1]", "http://[::1]"},
	} {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := origin(u); got != tc.want {
			t.Errorf("origin(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
