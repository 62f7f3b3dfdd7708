//go:build unix

package example

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Bounds on the programs, generous for a loaded 2-core machine and race
// builds. They only stop a hung test; nothing asserts durations.
const (
	buildTimeout   = 10 * time.Minute
	startTimeout   = time.Minute
	commandTimeout = time.Minute
	stopTimeout    = 30 * time.Second
)

// bins holds the example programs, built once per test binary.
var bins struct {
	once sync.Once
	dir  string
	err  error
}

// buildPrograms builds server, client and cli with go build (with -race
// when the tests run with it, so the programs' own races fail the tests)
// and returns the directory holding them. The directory is removed by
// TestMain.
func buildPrograms(t *testing.T) string {
	t.Helper()
	bins.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			bins.err = fmt.Errorf("the go command is needed to build the example programs: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "jwtrefresh-e2e-")
		if err != nil {
			bins.err = err
			return
		}
		bins.dir = dir
		args := []string{"build", "-o", dir + string(filepath.Separator)}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./server", "./client", "./cli")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, goTool, args...).CombinedOutput()
		if err != nil {
			bins.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// deployment is what several server instances share: one Redis, one key
// prefix (deleted when the test ends) and the same keys.
type deployment struct {
	bin string
	// redisEnv names the Redis, REDIS_URL or REDIS_CLUSTER_ADDRS.
	redisEnv               string
	prefix                 string
	signingKey, refreshKey string
	// reuseGrace is the servers' -reuse-grace; 0 for the default.
	reuseGrace time.Duration
}

func newDeployment(t *testing.T) *deployment {
	t.Helper()
	bin := buildPrograms(t)
	b := redistest.NewStandalone(t) // REDIS_URL in CI; REDIS_REQUIRED=1 forbids a fallback
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://" + b.Addr
	}
	return &deployment{bin: bin, redisEnv: "REDIS_URL=" + url, prefix: b.Prefix(t), signingKey: randomKey(), refreshKey: randomKey()}
}

// newClusterDeployment is a deployment on the Redis Cluster at
// REDIS_CLUSTER_ADDRS (else a private one).
func newClusterDeployment(t *testing.T) *deployment {
	t.Helper()
	bin := buildPrograms(t)
	b := redistest.NewCluster(t)
	addrs := b.Client.(*redis.ClusterClient).Options().Addrs
	return &deployment{bin: bin, redisEnv: "REDIS_CLUSTER_ADDRS=" + strings.Join(addrs, ","), prefix: b.Prefix(t),
		signingKey: randomKey(), refreshKey: randomKey()}
}

func randomKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// server is a running example server process.
type server struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{} // closed when its log has been read to the end

	mu  sync.Mutex
	log strings.Builder // guarded by mu
}

// start runs a server instance of d with the given access-token lifetime
// on a free port, and env, waits until it listens, and stops it (SIGTERM,
// then checks the graceful exit) when the test ends.
func (d *deployment) start(t *testing.T, accessTTL time.Duration, env ...string) *server {
	t.Helper()
	args := []string{"-addr", "127.0.0.1:0", "-key-prefix", d.prefix, "-access-ttl", accessTTL.String()}
	if d.reuseGrace != 0 {
		args = append(args, "-reuse-grace", d.reuseGrace.String())
	}
	cmd := exec.Command(filepath.Join(d.bin, "server"), args...)
	// The keys and the Redis through the environment, as the
	// documentation advises (a Redis URL may hold a password).
	cmd.Env = append(append(cleanEnv(), d.redisEnv, "SIGNING_KEY="+d.signingKey, "REFRESH_KEY="+d.refreshKey), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	listening := make(chan string, 1)
	go s.readLog(stderr, listening) // ends when the process closes stderr
	t.Cleanup(func() { s.stop(t) })

	select {
	case s.url = <-listening:
	case <-s.done:
		t.Fatalf("the server exited before listening:\n%s", s.logText())
	case <-time.After(startTimeout):
		t.Fatalf("the server did not listen within %v:\n%s", startTimeout, s.logText())
	}
	return s
}

func (s *server) readLog(r io.Reader, listening chan<- string) {
	defer close(s.done)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.log.WriteString(line + "\n")
		s.mu.Unlock()
		if strings.Contains(line, "msg=listening") {
			for _, f := range strings.Fields(line) {
				if u, ok := strings.CutPrefix(f, "url="); ok {
					listening <- u
				}
			}
		}
	}
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// stop shuts the server down with SIGTERM and checks that it exits 0 and
// logged its final counters.
func (s *server) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("the server did not stop within %v of SIGTERM", stopTimeout)
	}
	err := s.cmd.Wait()
	log := s.logText()
	if err != nil {
		t.Errorf("server exit: %v", err)
	}
	if !strings.Contains(log, "stopped; session counters") {
		t.Errorf("the server did not log its counters at shutdown")
	}
	if t.Failed() {
		t.Logf("server log (%s):\n%s", s.url, log)
	}
}

// counters reads the "sessions" map at /debug/vars.
func (s *server) counters(t *testing.T) map[string]int {
	t.Helper()
	resp, err := http.Get(s.url + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var vars struct {
		Sessions map[string]int `json:"sessions"`
		Cmdline  []string       `json:"cmdline"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		t.Fatalf("GET /debug/vars: %v", err)
	}
	if vars.Cmdline != nil {
		t.Errorf("/debug/vars publishes the command line, which may carry keys")
	}
	return vars.Sessions
}

// wantCounters checks the counters named in want, exactly.
func (s *server) wantCounters(t *testing.T, want map[string]int) {
	t.Helper()
	got := s.counters(t)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("server %s: sessions.%s = %d, want %d (all: %v)", s.url, k, got[k], v, got)
		}
	}
}

// result is what a program run printed and its exit status.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit status %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// run runs program name from dir with stdin and args.
func run(t *testing.T, dir, name, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, name), args...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %v", name, args, commandTimeout)
	}
	return r
}

// cleanEnv is the test's environment without the programs' settings, so
// that a developer's shell cannot change what a test runs.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "ADDR", "REDIS_URL", "REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_ADDRS", "REDIS_SENTINEL_MASTER", "REDIS_REPLICA_ACK",
			"REDIS_REPLICA_ACK_TIMEOUT", "ACCESS_TTL", "REUSE_GRACE", "REUSE_POLICY", "SESSION_CHECK", "SIGNING_KEY", "REFRESH_KEY",
			"KEY_PREFIX", "SERVER_URL", "TOKEN_FILE", "DPOP", "PUBLIC_URL":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// endpoint is where the CLI sends its requests: a server instance, or the
// front that stands for a deployment's one address.
type endpoint interface{ baseURL() string }

func (s *server) baseURL() string { return s.url }

// front is a deployment's one address, as a load balancer gives it: a
// reverse proxy that sends every request to the instance chosen with
// route. Sessions are bound to their server's origin (the CLI refuses to
// send one elsewhere), so instances are reached through it.
type front struct {
	url    string
	target atomic.Pointer[url.URL]
}

// newFront returns a front routing nowhere yet: its URL is the instances'
// PUBLIC_URL, which DPoP proofs name.
func newFront(t *testing.T) *front {
	f := &front{}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(f.target.Load()) }}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// route sends the requests from now on to s.
func (f *front) route(t *testing.T, s *server) {
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	f.target.Store(u)
}

func (f *front) baseURL() string { return f.url }

// cliSession is a CLI token file: one login on one device.
type cliSession struct {
	bin    string
	path   string
	bearer bool // -dpop=false: its logins are Bearer sessions
}

func newSession(t *testing.T, bin, name string) *cliSession {
	return &cliSession{bin: bin, path: filepath.Join(t.TempDir(), name+".json")}
}

// newBearerSession is a cliSession whose logins are Bearer sessions
// (-dpop=false), whose stolen token file is all a thief needs.
func newBearerSession(t *testing.T, bin, name string) *cliSession {
	s := newSession(t, bin, name)
	s.bearer = true
	return s
}

// cli runs the CLI against at with this token file.
func (s *cliSession) cli(t *testing.T, at endpoint, stdin string, args ...string) result {
	t.Helper()
	global := []string{"-server", at.baseURL(), "-token-file", s.path}
	if s.bearer {
		global = append(global, "-dpop=false")
	}
	return run(t, s.bin, "cli", stdin, append(global, args...)...)
}

// login logs user in through at and checks it worked.
func (s *cliSession) login(t *testing.T, at endpoint, user, password string) {
	t.Helper()
	r := s.cli(t, at, password+"\n", "login", "-user", user)
	if r.code != 0 || !strings.Contains(r.stdout, "logged in as "+user) {
		t.Fatalf("cli login -user %s: %v", user, r)
	}
}

// waitExpiry waits until the access token in the file has expired by the
// client's own clock, which is what makes the CLI refresh before it sends
// a request. It polls the file's expiry rather than sleeping a guess.
func (s *cliSession) waitExpiry(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Expiry time.Time `json:"expiry"`
	}
	if err := json.Unmarshal(data, &tok); err != nil || tok.Expiry.IsZero() {
		t.Fatalf("token file without an expiry (%v): %s", err, data)
	}
	for !time.Now().After(tok.Expiry) {
		time.Sleep(time.Until(tok.Expiry) + time.Millisecond)
	}
}

// copyTo copies the token file, with the record of its server in it, as a
// thief would.
func (s *cliSession) copyTo(t *testing.T, name string) *cliSession {
	t.Helper()
	c := newSession(t, s.bin, name)
	c.bearer = s.bearer
	data, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// refreshToken reads the file's current refresh token.
func (s *cliSession) refreshToken(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(data, &tok); err != nil || tok.RefreshToken == "" {
		t.Fatalf("token file without a refresh token (%v)", err)
	}
	return tok.RefreshToken
}
