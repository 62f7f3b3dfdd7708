//go:build unix

package example

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests build the example programs and run them as
// processes against real Redis (REDIS_URL in CI).
//
// Each test runs two server instances on one Redis with the same keys:
// "issuer" mints access tokens of one second, so that a test can let one
// expire without waiting long; "api" mints tokens of an hour and serves
// everything after the expiry. A refresh therefore yields a token that
// stays valid for the rest of the test, however slow the machine, and the
// counters of "api" at /debug/vars count exactly what the test did after
// the expiry. That the instances accept each other's tokens is part of
// what is tested: the deployment model is several instances on one Redis,
// behind one address (front), which routes to issuer until the test calls
// useAPI.
type pair struct {
	d           *deployment
	issuer, api *server
	front       *front
}

func newPair(t *testing.T) *pair {
	d := newDeployment(t)
	d.reuseGrace = shortGrace
	f := newFront(t)
	public := "PUBLIC_URL=" + f.url // the address clients use, which DPoP proofs name
	p := &pair{d: d, issuer: d.start(t, time.Second, public), api: d.start(t, time.Hour, public), front: f}
	f.route(t, p.issuer)
	return p
}

// useAPI routes the requests from now on to the api instance.
func (p *pair) useAPI(t *testing.T) { p.front.route(t, p.api) }

// TestExpiredAccessTokenIsRefreshed: log in with the CLI, let the access
// token expire, and `get` succeeds through exactly one refresh.
func TestExpiredAccessTokenIsRefreshed(t *testing.T) {
	p := newPair(t)
	laptop := newSession(t, p.d.bin, "laptop")
	laptop.login(t, p.front, "alice", "wonderland")
	laptop.waitExpiry(t)
	p.useAPI(t)

	r := laptop.cli(t, p.front, "", "get", "/api/me")
	if r.code != 0 {
		t.Fatalf("cli get /api/me after expiry: %v", r)
	}
	var me struct{ Sub, SID string }
	if err := json.Unmarshal([]byte(r.stdout), &me); err != nil || me.Sub != "alice" || me.SID == "" {
		t.Errorf("cli get /api/me = %q, want alice's identity and session (%v)", r.stdout, err)
	}
	p.api.wantCounters(t, map[string]int{"login": 0, "refresh": 1, "replay": 0, "reuse": 0})
	p.issuer.wantCounters(t, map[string]int{"login": 1, "refresh": 0})

	// The new token is used as is: no further refresh.
	if r := laptop.cli(t, p.front, "", "get", "/api/me"); r.code != 0 {
		t.Fatalf("second get: %v", r)
	}
	p.api.wantCounters(t, map[string]int{"refresh": 1})
}

// TestParallelCLIsRefreshOnce: ten CLI processes started together after the
// access token expired all succeed, and the refresh token is redeemed
// exactly once: the first process to lock the token file refreshes, the
// others adopt its tokens.
func TestParallelCLIsRefreshOnce(t *testing.T) {
	p := newPair(t)
	laptop := newSession(t, p.d.bin, "laptop")
	laptop.login(t, p.front, "alice", "wonderland")
	laptop.waitExpiry(t)
	p.useAPI(t)

	const n = 10
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = laptop.cli(t, p.front, "", "get", "/api/me")
		}()
	}
	close(start)
	wg.Wait()
	for i, r := range results {
		if r.code != 0 || !strings.Contains(r.stdout, `"sub":"alice"`) {
			t.Errorf("process %d: %v", i, r)
		}
	}
	p.api.wantCounters(t, map[string]int{"refresh": 1, "replay": 0, "reuse": 0})
}

// shortGrace is the reuse grace window of the servers of these tests, so
// that a thief's replay can come after it without a long wait.
const shortGrace = 500 * time.Millisecond

// TestReplayedRefreshTokenLogsEveryoneOut: a thief's copy of the token file
// of a Bearer session (-dpop=false; TestStolenBoundSessionIsRefused is the
// DPoP case) holds a refresh token that the owner has since used.
// Presenting it after the reuse grace window is reuse: the thief's CLI is
// told to run login (exit status 2), and every session of the user is
// revoked, the owner's
// included.
func TestReplayedRefreshTokenLogsEveryoneOut(t *testing.T) {
	p := newPair(t)
	laptop := newBearerSession(t, p.d.bin, "laptop")
	laptop.login(t, p.front, "alice", "wonderland")
	phone := newBearerSession(t, p.d.bin, "phone")
	phone.login(t, p.front, "alice", "wonderland")
	bob := newSession(t, p.d.bin, "bob")
	bob.login(t, p.front, "bob", "builder")
	stolen := laptop.copyTo(t, "stolen")
	laptop.waitExpiry(t)
	p.useAPI(t)

	if r := laptop.cli(t, p.front, "", "get", "/api/me"); r.code != 0 {
		t.Fatalf("the owner's get after expiry: %v", r)
	}
	time.Sleep(shortGrace) // within it, the thief would get the owner's new token
	r := stolen.cli(t, p.front, "", "get", "/api/me")
	if r.code != 2 || !strings.Contains(r.stderr, "run login") || r.stdout != "" {
		t.Fatalf("the thief's get with a used refresh token: %v; want exit status 2 and \"run login\"", r)
	}
	p.api.wantCounters(t, map[string]int{"refresh": 1, "reuse": 1})

	// The owner's current refresh token died with the reuse.
	if status, code := refresh(t, p.api, laptop.refreshToken(t)); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Errorf("the owner's current refresh token after the reuse: %d %s, want 400 invalid_grant", status, code)
	}
	// So did alice's other session, whose access token has expired.
	phone.waitExpiry(t)
	if r := phone.cli(t, p.front, "", "get", "/api/me"); r.code != 2 || !strings.Contains(r.stderr, "run login") {
		t.Errorf("alice's phone after the reuse: %v; want exit status 2 and \"run login\"", r)
	}
	// Another user is not affected; bob's access token has expired by now,
	// so his CLI refreshes (the second refresh counted below).
	bob.waitExpiry(t)
	if r := bob.cli(t, p.front, "", "get", "/api/me"); r.code != 0 {
		t.Errorf("bob after alice's reuse: %v", r)
	}
	// The thief's file was cleared: the CLI now says it is not logged in.
	if r := stolen.cli(t, p.front, "", "get", "/api/me"); r.code != 2 || !strings.Contains(r.stderr, "not logged in") {
		t.Errorf("the thief's second get: %v; want \"not logged in\", exit status 2", r)
	}
	p.api.wantCounters(t, map[string]int{"refresh": 2, "reuse": 1}) // bob's
}

// TestStolenBoundSessionIsRefused: a thief who has the token file of a
// DPoP-bound session (the CLI's default) but not its key file is refused
// at the API and at the refresh endpoint, with the CLI and by hand;
// nothing is rotated or revoked, and the owner's session goes on.
func TestStolenBoundSessionIsRefused(t *testing.T) {
	p := newPair(t)
	p.useAPI(t)
	laptop := newSession(t, p.d.bin, "laptop")
	laptop.login(t, p.front, "alice", "wonderland")
	if keys, _ := filepath.Glob(laptop.path + ".dpop-*.key"); len(keys) != 1 {
		t.Fatalf("key files %q beside the token file; want one", keys)
	}
	// The tokens alone, sent as Bearer tokens: the CLI's first request is
	// refused (the access token is still valid), then its refresh.
	data, err := os.ReadFile(laptop.path)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	if err := json.Unmarshal(data, &tok); err != nil {
		t.Fatal(err)
	}
	tok["token_type"] = "Bearer"
	delete(tok, "dpop_jkt")
	thief := newBearerSession(t, p.d.bin, "thief")
	data, _ = json.Marshal(tok)
	if err := os.WriteFile(thief.path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := thief.cli(t, p.front, "", "get", "/api/me"); r.code == 0 {
		t.Fatalf("the thief's get: %v; want a refusal", r)
	}
	if status, code := refresh(t, p.api, tok["refresh_token"].(string)); status != http.StatusBadRequest {
		t.Errorf("the thief's refresh by hand: %d %s; want 400", status, code)
	}
	p.api.wantCounters(t, map[string]int{"refresh": 0, "reuse": 0, "revoke": 0, "dpop_refused": 2})
	if r := laptop.cli(t, p.front, "", "get", "/api/me"); r.code != 0 || !strings.Contains(r.stdout, `"dpop_bound":true`) {
		t.Errorf("the owner's get after the theft: %v", r)
	}
}

// refresh presents a refresh token at srv's token endpoint, as any OAuth
// 2.0 client would, and returns the status and error code.
func refresh(t *testing.T, srv *server, rt string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(srv.url+"/auth/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

// TestCLICommands runs every CLI command and its documented failures.
func TestCLICommands(t *testing.T) {
	p := newPair(t)
	p.useAPI(t)
	api := p.front // the address DPoP proofs name
	laptop := newSession(t, p.d.bin, "laptop")
	phone := newSession(t, p.d.bin, "phone")
	bob := newSession(t, p.d.bin, "bob")

	t.Run("not logged in", func(t *testing.T) {
		for _, args := range [][]string{{"get", "/api/me"}, {"sessions"}, {"logout-all"}} {
			if r := laptop.cli(t, api, "", args...); r.code != 2 || !strings.Contains(r.stderr, "run login") {
				t.Errorf("cli %v without a session: %v", args, r)
			}
		}
		if r := laptop.cli(t, api, "", "logout"); r.code != 0 || !strings.Contains(r.stdout, "not logged in") {
			t.Errorf("cli logout without a session: %v", r)
		}
	})
	t.Run("usage errors exit 1", func(t *testing.T) {
		for _, args := range [][]string{{}, {"frobnicate"}, {"get"}, {"get", "api/me"}, {"login"}, {"get", "-nope", "/"}} {
			if r := laptop.cli(t, api, "", args...); r.code != 1 || r.stderr == "" {
				t.Errorf("cli %v: %v; want exit status 1 and a message", args, r)
			}
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		r := laptop.cli(t, api, "not-the-password\n", "login", "-user", "alice")
		if r.code != 1 || !strings.Contains(r.stderr, "wrong user name or password") {
			t.Errorf("login with a wrong password: %v", r)
		}
	})

	laptop.login(t, api, "alice", "wonderland")
	phone.login(t, api, "alice", "wonderland")
	bob.login(t, api, "bob", "builder")

	t.Run("sessions", func(t *testing.T) {
		r := laptop.cli(t, api, "", "sessions")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || len(lines) != 3 || strings.Count(r.stdout, "\n* ") != 1 {
			t.Errorf("sessions: want a header and two sessions, one marked current: %v", r)
		}
	})
	t.Run("post echoes", func(t *testing.T) {
		const body = `{"hello":"world"}`
		if r := laptop.cli(t, api, body, "post", "/api/echo"); r.code != 0 || r.stdout != body {
			t.Errorf("post /api/echo: %v; want %s", r, body)
		}
	})
	t.Run("HTTP errors exit 1", func(t *testing.T) {
		if r := laptop.cli(t, api, "", "get", "/no/such/path"); r.code != 1 || !strings.Contains(r.stderr, "404") {
			t.Errorf("get of a missing path: %v", r)
		}
	})
	t.Run("logout ends this session only", func(t *testing.T) {
		if r := phone.cli(t, api, "", "logout"); r.code != 0 || !strings.Contains(r.stdout, "logged out") {
			t.Fatalf("logout: %v", r)
		}
		if r := phone.cli(t, api, "", "get", "/api/me"); r.code != 2 {
			t.Errorf("get after logout: %v", r)
		}
		r := laptop.cli(t, api, "", "sessions")
		if r.code != 0 || len(strings.Split(strings.TrimSpace(r.stdout), "\n")) != 2 {
			t.Errorf("sessions after the phone's logout: want one: %v", r)
		}
	})
	t.Run("logout-all", func(t *testing.T) {
		phone.login(t, api, "alice", "wonderland")
		r := laptop.cli(t, api, "", "logout-all")
		if r.code != 0 || !strings.Contains(r.stdout, "logged out of 2 session(s)") {
			t.Fatalf("logout-all: %v", r)
		}
		// The phone's access token is still within its hour, but the
		// server's session check refuses it; the refresh then fails.
		if r := phone.cli(t, api, "", "get", "/api/me"); r.code != 2 || !strings.Contains(r.stderr, "run login") {
			t.Errorf("the phone after logout-all: %v", r)
		}
		if r := bob.cli(t, api, "", "get", "/api/me"); r.code != 0 {
			t.Errorf("bob after alice's logout-all: %v", r)
		}
	})
	p.api.wantCounters(t, map[string]int{"login": 4, "revoke": 1, "revoke_all": 1, "reuse": 0})
}

// TestClient runs the load client across expiries of three-second access
// tokens (long enough that a request retried after a refresh arrives
// before the new token expires, even on a loaded machine): no request
// fails, and the refreshes it reports are exactly the rotations the server
// counted.
func TestClient(t *testing.T) {
	d := newDeployment(t)
	srv := d.start(t, 3*time.Second)
	r := run(t, d.bin, "client", "", "-server", srv.url, "-workers", "4", "-duration", "7s", "-interval", "10ms")
	if r.code != 0 {
		t.Fatalf("client: %v", r)
	}
	got := summary(t, r.stdout)
	if got["failures"] != 0 || got["requests"] == 0 || got["refreshes"] == 0 {
		t.Errorf("client summary %v: want requests, refreshes and no failures", got)
	}
	srv.wantCounters(t, map[string]int{"login": 1, "refresh": got["refreshes"], "revoke": 1, "reuse": 0})
}

// summary reads the client's last line, name=number pairs.
func summary(t *testing.T, stdout string) map[string]int {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	last := lines[len(lines)-1]
	got := map[string]int{}
	for _, f := range strings.Fields(last) {
		k, v, _ := strings.Cut(f, "=")
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("last line %q is not name=number pairs", last)
		}
		got[k] = n
	}
	for _, k := range []string{"requests", "unauthorized", "refreshes", "retries", "failures"} {
		if _, ok := got[k]; !ok {
			t.Errorf("last line %q lacks %s", last, k)
		}
	}
	return got
}

// TestClientBurst: the client's burst mode sends 8 requests at once with
// an expired access token that the transport was not told expires, so it
// cannot refresh first: 8 answers are 401, one refresh serves them all,
// 8 requests are sent again and succeed. The server counts the one
// rotation.
func TestClientBurst(t *testing.T) {
	d := newDeployment(t)
	// Two seconds: the retries, right after the refresh, use a new token
	// that surely lives until they arrive.
	srv := d.start(t, 2*time.Second)
	r := run(t, d.bin, "client", "", "-server", srv.url, "-burst", "8")
	if r.code != 0 {
		t.Fatalf("client -burst 8: %v", r)
	}
	got := summary(t, r.stdout)
	want := map[string]int{"requests": 8, "unauthorized": 8, "refreshes": 1, "retries": 8, "failures": 0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (%v)", k, got[k], v, r)
		}
	}
	if !strings.Contains(r.stdout, "access token refreshed after a 401") {
		t.Errorf("no refresh after a 401 reported: %s", r.stdout)
	}
	srv.wantCounters(t, map[string]int{"login": 1, "refresh": 1, "replay": 0, "reuse": 0, "revoke": 1})
}

// TestClientSIGTERM: SIGTERM ends the client early; it still revokes its
// session at the server (counted there), prints its summary and exits 0.
func TestClientSIGTERM(t *testing.T) {
	d := newDeployment(t)
	srv := d.start(t, time.Hour)
	cmd := exec.Command(filepath.Join(d.bin, "client"), "-server", srv.url, "-workers", "2", "-duration", "10m")
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out []string
	next := func() (string, bool) {
		select {
		case l, ok := <-lines:
			out = append(out, l)
			return l, ok
		case <-time.After(commandTimeout):
			_ = cmd.Process.Kill()
			t.Fatalf("the client said nothing for %v: %q", commandTimeout, out)
			return "", false
		}
	}
	if l, _ := next(); !strings.HasPrefix(l, "logged in as alice") {
		t.Fatalf("first line %q, want the login", l)
	}
	srv.wantCounters(t, map[string]int{"login": 1, "revoke": 0})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for { // to the end of its output
		if _, ok := next(); !ok {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("client after SIGTERM: %v; want exit status 0\nstdout %q\nstderr %s", err, out, stderr.String())
	}
	text := strings.Join(out, "\n")
	for _, want := range []string{"interrupted: stopped early", "logged out: the session is revoked", "failures=0"} {
		if !strings.Contains(text, want) {
			t.Errorf("stdout lacks %q: %s", want, text)
		}
	}
	srv.wantCounters(t, map[string]int{"login": 1, "revoke": 1})
}

// TestRedisCluster: the server on a Redis Cluster (REDIS_CLUSTER_ADDRS),
// with the CLI across an expiry: exactly one refresh, then a thief's
// replay of the used refresh token, after the reuse grace window, is
// detected.
func TestRedisCluster(t *testing.T) {
	d := newClusterDeployment(t)
	d.reuseGrace = shortGrace
	srv := d.start(t, time.Second)
	laptop := newBearerSession(t, d.bin, "laptop") // a Bearer session: its token file is all a thief needs
	laptop.login(t, srv, "alice", "wonderland")
	stolen := laptop.copyTo(t, "stolen")
	laptop.waitExpiry(t)
	if r := laptop.cli(t, srv, "", "get", "/api/me"); r.code != 0 || !strings.Contains(r.stdout, `"sub":"alice"`) {
		t.Fatalf("get after expiry: %v", r)
	}
	time.Sleep(shortGrace)
	if r := stolen.cli(t, srv, "", "get", "/api/me"); r.code != 2 || !strings.Contains(r.stderr, "run login") {
		t.Errorf("the thief's get: %v; want exit status 2 and \"run login\"", r)
	}
	srv.wantCounters(t, map[string]int{"login": 1, "refresh": 1, "reuse": 1})
}

// TestCLIRefusesAnotherServer: a session logged in to one server is not
// sent to another: the CLI stops with exit status 1, and the other server
// (counting every request) receives nothing.
func TestCLIRefusesAnotherServer(t *testing.T) {
	d := newDeployment(t)
	srv := d.start(t, time.Hour)
	var received atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(other.Close)
	laptop := newSession(t, d.bin, "laptop")
	laptop.login(t, srv, "alice", "wonderland")
	r := run(t, d.bin, "cli", "", "-server", other.URL, "-token-file", laptop.path, "get", "/api/me")
	if r.code != 1 || !strings.Contains(r.stderr, "belongs to "+srv.url+", not "+other.URL+"; nothing was sent") {
		t.Errorf("get from another server: %v", r)
	}
	if n := received.Load(); n != 0 {
		t.Errorf("the other server received %d requests, want 0", n)
	}
	if r := laptop.cli(t, srv, "", "get", "/api/me"); r.code != 0 {
		t.Errorf("the session at its own server afterwards: %v", r)
	}
}

// TestServerRefusesToStart: a bad configuration or an unreachable Redis
// ends the server at once with exit status 1 and a message naming the
// cause, and never echoes a key.
func TestServerRefusesToStart(t *testing.T) {
	bin := buildPrograms(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unreachable Redis", []string{"-redis-url", "redis://127.0.0.1:1/0"}, "redis at 127.0.0.1:1"},
		{"malformed Redis URL with a password", []string{"-redis-url", "redis://app:c2VjcmV0@127.0.0.1:port/0"}, "-redis-url: not a valid URL"},
		{"short signing key", []string{"-signing-key", "c2VjcmV0LWtleQ=="}, "-signing-key: 10 bytes; want at least 32"},
		{"fractional TTL", []string{"-access-ttl", "1500ms"}, "whole number of seconds"},
		{"unknown policy", []string{"-reuse-policy", "everyone"}, "want user or family"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, bin, "server", "", append([]string{"-addr", "127.0.0.1:0"}, tc.args...)...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%v", r)
			}
			if strings.Contains(r.stderr, "c2VjcmV0") {
				t.Errorf("the key was echoed: %s", r.stderr)
			}
		})
	}
}
