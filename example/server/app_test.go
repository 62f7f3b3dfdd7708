package main

import (
	"encoding/json"
	"expvar"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// newTestServer runs the app, configured by args, on rdb (real Redis from
// redistest unless given) behind a real HTTP server.
func newTestServer(t *testing.T, rdb redis.UniversalClient, args ...string) (*httptest.Server, *expvar.Map) {
	t.Helper()
	cfg, err := parseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rdb == nil {
		b := redistest.NewStandalone(t)
		rdb, cfg.keyPrefix = b.Client, b.Prefix(t)
	}
	counts := new(expvar.Map)
	a, h, err := newApp(cfg, rdb, slog.New(slog.DiscardHandler), counts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.svc.Close() })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, counts
}

func do(t *testing.T, method, url, contentType, body, bearer string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func errorCode(body string) string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error
}

func TestLogin(t *testing.T) {
	srv, counts := newTestServer(t, nil)
	const js = "application/json"
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code                    string // error code, "" for success
	}{
		{"json", js, `{"username":"alice","password":"wonderland"}`, 200, ""},
		{"form", "application/x-www-form-urlencoded", "username=bob&password=builder", 200, ""},
		{"json with charset", js + "; charset=utf-8", `{"username":"bob","password":"builder"}`, 200, ""},
		{"wrong password", js, `{"username":"alice","password":"builder"}`, 400, "invalid_grant"},
		{"unknown user", js, `{"username":"mallory","password":"wonderland"}`, 400, "invalid_grant"},
		{"password of another case", js, `{"username":"alice","password":"Wonderland"}`, 400, "invalid_grant"},
		{"missing password", js, `{"username":"alice"}`, 400, "invalid_request"},
		{"malformed json", js, `{"username":"alice",`, 400, "invalid_request"},
		{"two objects", js, `{"username":"alice","password":"wonderland"}{}`, 400, "invalid_request"},
		{"repeated form field", "application/x-www-form-urlencoded", "username=alice&username=bob&password=wonderland", 400, "invalid_request"},
		{"oversized", js, `{"username":"alice","password":"` + strings.Repeat("x", 5<<10) + `"}`, 413, "invalid_request"},
		{"plain text", "text/plain", "alice:wonderland", 415, "invalid_request"},
		{"no content type", "", `{"username":"alice","password":"wonderland"}`, 415, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, http.MethodPost, srv.URL+"/login", tc.contentType, tc.body, "")
			if resp.StatusCode != tc.status || errorCode(body) != tc.code {
				t.Fatalf("%d %s, want %d %q", resp.StatusCode, body, tc.status, tc.code)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			// The 415 names every content type the endpoint accepts.
			if tc.status == http.StatusUnsupportedMediaType &&
				!strings.Contains(body, `"error_description":"the content type must be application/json or application/x-www-form-urlencoded"`) {
				t.Errorf("415 body %s does not name both accepted content types", body)
			}
			if tc.code != "" {
				return
			}
			var tok struct {
				AccessToken, TokenType, RefreshToken string `json:",omitempty"`
				ExpiresIn                            int    `json:"expires_in"`
			}
			if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.ExpiresIn != 300 {
				t.Errorf("token response %s (%v)", body, err)
			}
		})
	}
	if resp, _ := do(t, http.MethodGet, srv.URL+"/login", "", "", ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /login: %d, want 405", resp.StatusCode)
	}
	if got := counts.Get("login").String(); got != "3" {
		t.Errorf("sessions.login = %s, want 3", got)
	}
}

// TestLoginRedisDown: an unreachable store is 503 with Retry-After, never
// a refusal of the credentials.
func TestLoginRedisDown(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	srv, _ := newTestServer(t, rdb)
	resp, body := do(t, http.MethodPost, srv.URL+"/login", "application/json", `{"username":"alice","password":"wonderland"}`, "")
	if resp.StatusCode != http.StatusServiceUnavailable || errorCode(body) != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("%d %v %s, want 503 temporarily_unavailable with Retry-After", resp.StatusCode, resp.Header, body)
	}
}

func login(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	resp, body := do(t, http.MethodPost, srv.URL+"/login", "application/json", `{"username":"alice","password":"wonderland"}`, "")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	return tok.AccessToken
}

func TestAPI(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	at := login(t, srv)

	t.Run("me", func(t *testing.T) {
		resp, body := do(t, http.MethodGet, srv.URL+"/api/me", "", "", at)
		var me struct{ Sub, SID, Name string }
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &me) != nil || me.Sub != "alice" || me.SID == "" || me.Name != "Alice Liddell" {
			t.Errorf("GET /api/me: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("echo", func(t *testing.T) {
		resp, body := do(t, http.MethodPost, srv.URL+"/api/echo", "text/csv", "a,b\n1,2\n", at)
		if resp.StatusCode != 200 || body != "a,b\n1,2\n" || resp.Header.Get("Content-Type") != "text/csv" {
			t.Errorf("POST /api/echo: %d %q %v", resp.StatusCode, body, resp.Header)
		}
		resp, body = do(t, http.MethodPost, srv.URL+"/api/echo", "text/plain", strings.Repeat("x", maxEchoBody+1), at)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || errorCode(body) != "invalid_request" {
			t.Errorf("oversized echo: %d %s", resp.StatusCode, body)
		}
	})
	for _, tc := range []struct{ name, token, wantChallenge string }{
		{"no token", "", `Bearer realm="api"`},
		{"garbage token", "garbage", `error="invalid_token"`},
		{"tampered token", at[:len(at)-2] + "xx", `error="invalid_token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []struct{ method, path string }{{"GET", "/api/me"}, {"POST", "/api/echo"}} {
				resp, _ := do(t, r.method, srv.URL+r.path, "text/plain", "x", tc.token)
				if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tc.wantChallenge) {
					t.Errorf("%s %s: %d %q, want 401 with %s", r.method, r.path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.wantChallenge)
				}
			}
		})
	}
	t.Run("revoked session", func(t *testing.T) {
		at := login(t, srv)
		if resp, body := do(t, http.MethodPost, srv.URL+"/auth/revoke", "application/x-www-form-urlencoded", "token="+at, ""); resp.StatusCode != 200 {
			t.Fatalf("revoke: %d %s", resp.StatusCode, body)
		}
		// The session check refuses the access token before it expires.
		resp, _ := do(t, http.MethodGet, srv.URL+"/api/me", "", "", at)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("GET /api/me with a revoked session: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

// TestVars: expvar's JSON, without the command line (it may carry keys).
func TestVars(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	resp, body := do(t, http.MethodGet, srv.URL+"/debug/vars", "", "", "")
	var vars map[string]json.RawMessage
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &vars) != nil {
		t.Fatalf("GET /debug/vars: %d %s", resp.StatusCode, body)
	}
	if _, ok := vars["memstats"]; !ok {
		t.Errorf("memstats missing: %s", body)
	}
	if _, ok := vars["cmdline"]; ok {
		t.Errorf("cmdline published")
	}
}
