package main

import (
	"encoding/base64"
	"encoding/json"
	"expvar"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	srv := httptest.NewUnstartedServer(nil)
	cfg.publicURL = "http://" + srv.Listener.Addr().String()
	a, h, err := newApp(cfg, rdb, slog.New(slog.DiscardHandler), counts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.svc.Close() })
	srv.Config.Handler = h
	srv.Start()
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
				checkDescription(t, body)
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
	if got := counts.Get("login").String(); got != "3" {
		t.Errorf("sessions.login = %s, want 3", got)
	}
}

// checkDescription checks that an error body's error_description is
// present and within RFC 6749 §5.2's character set (printable ASCII
// without '"' and '\\').
func checkDescription(t *testing.T, body string) {
	t.Helper()
	var e struct {
		Description *string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Description == nil {
		t.Errorf("error body %s without error_description (%v)", body, err)
		return
	}
	for _, c := range []byte(*e.Description) {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Errorf("error_description %q has %q, outside RFC 6749 §5.2's set", *e.Description, c)
		}
	}
}

// TestMethodNotAllowed: the server's own routes answer another method
// like the token endpoints do: 405 with Allow and a JSON error body, not
// the mux's plain text.
func TestMethodNotAllowed(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "/login", "POST"}, {"PUT", "/login", "POST"}, {"DELETE", "/api/me", "GET, HEAD"},
		{"POST", "/api/me", "GET, HEAD"}, {"GET", "/api/echo", "POST"}, {"PATCH", "/api/echo", "POST"},
		{"GET", "/auth/refresh", "POST"}, // the library's, for comparison
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			resp, body := do(t, tc.method, srv.URL+tc.path, "application/json", `{}`, "")
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow ||
				resp.Header.Get("Content-Type") != "application/json" || errorCode(body) != "invalid_request" {
				t.Fatalf("%d, Allow %q, Content-Type %q, %s; want 405, Allow %q, a JSON invalid_request",
					resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Get("Content-Type"), body, tc.allow)
			}
			checkDescription(t, body)
		})
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

// TestKeyRotation: the rotation sequence of the README on servers sharing
// one Redis. A new key is first added as an older key everywhere, then made
// current, then the old one is dropped: access and refresh tokens issued
// under the old keys keep working until the old keys are dropped, and every
// server verifies the tokens of the others as soon as it holds their key.
func TestKeyRotation(t *testing.T) {
	b := redistest.NewStandalone(t)
	prefix := b.Prefix(t)
	key := func(c byte) string {
		return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(c), 31) + "!"))
	}
	server := func(signing, refresh string) *httptest.Server {
		cfg, err := parseConfig([]string{"-signing-key", signing, "-refresh-key", refresh, "-key-prefix", prefix},
			func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		_, h, err := newApp(cfg, b.Client, slog.New(slog.DiscardHandler), new(expvar.Map))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv
	}
	s1, r1, s2, r2 := key('s'), key('r'), key('S'), key('R')
	old := server(s1, r1)                                 // before: bare keys are version 1
	added := server("1:"+s1+",2:"+s2, "1:"+r1+",2:"+r2)   // step 1: the new keys only verify
	current := server("2:"+s2+",1:"+s1, "2:"+r2+",1:"+r1) // step 2: the new keys sign
	dropped := server("2:"+s2, "2:"+r2)                   // step 3: the old keys are gone
	servers := map[*httptest.Server]string{old: "old", added: "added", current: "current", dropped: "dropped"}

	tok1 := loginTokens(t, old)
	wantKID(t, tok1.AccessToken, "example-1")
	tok2 := refreshTokens(t, current, tok1.RefreshToken, 200) // an old refresh token works after the switch
	wantKID(t, tok2.AccessToken, "example-2")
	// In the order of the steps: a server that holds only the new key
	// learns the subject-index key from one that held both before it.
	for _, c := range []struct {
		srv  *httptest.Server
		want [2]int // status of GET /api/me with tok1's and tok2's access token
	}{{old, [2]int{200, 401}}, {added, [2]int{200, 200}}, {current, [2]int{200, 200}}, {dropped, [2]int{401, 200}}} {
		for i, at := range []string{tok1.AccessToken, tok2.AccessToken} {
			if resp, body := do(t, http.MethodGet, c.srv.URL+"/api/me", "", "", at); resp.StatusCode != c.want[i] {
				t.Errorf("%s server, access token %d: %d %s, want %d", servers[c.srv], i+1, resp.StatusCode, body, c.want[i])
			}
		}
	}
	// A refresh token under the new key works on the server that dropped
	// the old one; one under the old key no longer does.
	refreshTokens(t, dropped, tok2.RefreshToken, 200)
	refreshTokens(t, dropped, loginTokens(t, added).RefreshToken, 400)
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func loginTokens(t *testing.T, srv *httptest.Server) tokens {
	t.Helper()
	resp, body := do(t, http.MethodPost, srv.URL+"/login", "application/json", `{"username":"alice","password":"wonderland"}`, "")
	var tok tokens
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	return tok
}

// refreshTokens refreshes rt on srv and checks the status (400 must be
// invalid_grant).
func refreshTokens(t *testing.T, srv *httptest.Server, rt string, status int) tokens {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
	resp, body := do(t, http.MethodPost, srv.URL+"/auth/refresh", "application/x-www-form-urlencoded", form, "")
	var tok tokens
	if resp.StatusCode != status || (status == 200 && json.Unmarshal([]byte(body), &tok) != nil) ||
		(status == 400 && errorCode(body) != "invalid_grant") {
		t.Fatalf("refresh: %d %s, want %d", resp.StatusCode, body, status)
	}
	return tok
}

// wantKID checks the kid header of a JWT.
func wantKID(t *testing.T, jwt, want string) {
	t.Helper()
	head, _, _ := strings.Cut(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	var h struct{ KID string }
	if err != nil || json.Unmarshal(raw, &h) != nil || h.KID != want {
		t.Errorf("access token kid %q (header %s), want %q", h.KID, raw, want)
	}
}
