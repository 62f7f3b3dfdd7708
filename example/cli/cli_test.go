package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
	expired := filepath.Join(dir, "expired.json")
	if err := os.WriteFile(expired, []byte(`{"access_token":"old","token_type":"Bearer","refresh_token":"rt"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	unsafe := filepath.Join(dir, "unsafe.json")
	if err := os.WriteFile(unsafe, []byte(`{"access_token":"good","refresh_token":"rt"}`), 0o644); err != nil {
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
