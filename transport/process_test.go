package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests that need separate OS processes re-execute this test binary with
// childEnv set; TestMain then runs the named child instead of the tests.
const childEnv = "TRANSPORT_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(mode string) error {
	ctx := context.Background()
	store, err := newFileStore(os.Getenv("JT_FILE"))
	if err != nil {
		return err
	}
	switch mode {
	case "request":
		return childRequests(store)
	case "save-crash":
		return childSaveCrash(ctx, store)
	case "hold-lock":
		_, unlock, err := store.Lock(ctx)
		if err != nil {
			return err
		}
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin) // until the parent closes stdin
		unlock()
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	return nil
}

// childRequests sends JT_N requests to JT_API through a Transport of the
// file store, once the JT_GATE file exists (if named).
func childRequests(store *fileStore) error {
	// Wait for the start signal, so that every process races.
	if gate := os.Getenv("JT_GATE"); gate != "" {
		fmt.Println("ready")
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
			if _, err := os.Stat(gate); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return errors.New("no start signal")
			}
		}
	}
	var opts []Option
	if os.Getenv("JT_DPOP") != "" {
		opts = append(opts, WithDPoP(DPoP{}))
	}
	tr, err := New(os.Getenv("JT_TOKEN_URL"), store, opts...)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: tr}
	n, _ := strconv.Atoi(os.Getenv("JT_N"))
	for range max(n, 1) {
		resp, err := client.Get(os.Getenv("JT_API"))
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
	}
	fmt.Println("ok")
	return nil
}

// childSaveCrash saves a token, killing itself at step JT_STEP of the Save.
func childSaveCrash(ctx context.Context, store *fileStore) error {
	step, _ := strconv.Atoi(os.Getenv("JT_STEP"))
	store.saveHook = func(s saveStep) error {
		if s == saveStep(step) {
			p, _ := os.FindProcess(os.Getpid())
			p.Kill()
			select {} // SIGKILL arrives
		}
		return nil
	}
	tok := &Token{AccessToken: "new", RefreshToken: "new-rt"}
	if os.Getenv("JT_DPOP") != "" {
		var err error
		if tok.DPoPKey, err = generateKey(algEdDSA); err != nil {
			return err
		}
		tok.TokenType = "DPoP"
	}
	return store.Save(ctx, tok)
}

// child prepares this test binary as a child process in mode.
func child(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + mode}, env...)...)
	cmd.Stderr = &lockedBuffer{}
	return cmd
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func stderrOf(cmd *exec.Cmd) string { return cmd.Stderr.(*lockedBuffer).String() }

// requestEnv is the environment of a "request" child.
func requestEnv(srv *authServer, file string) []string {
	env := []string{"JT_FILE=" + file, "JT_TOKEN_URL=" + srv.tokenURL(), "JT_API=" + srv.URL + "/api/me"}
	if srv.dpop {
		env = append(env, "JT_DPOP=1")
	}
	return env
}

// loginFor returns srv's login: bound to a key of its own with srv.dpop.
func loginFor(t *testing.T, srv *authServer) *Token {
	if !srv.dpop {
		return srv.login()
	}
	key := newKey(t, algES256)
	tok := srv.loginBound(mustThumbprint(t, key))
	tok.DPoPKey = key
	return tok
}

func TestProcessesShareOneRefresh(t *testing.T) { dpopModes(t, testProcessesShareOneRefresh) }

// racers runs procs "request" children with env, released at once by
// creating the file gate, and checks that each succeeded.
func racers(t *testing.T, procs int, env []string, gate string) {
	t.Helper()
	var cmds []*exec.Cmd
	var outs []*bufio.Reader
	for range procs {
		cmd := child(t, "request", append(env, "JT_GATE="+gate)...)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		outs = append(outs, bufio.NewReader(stdout))
	}
	for i, out := range outs {
		if line, err := out.ReadString('\n'); line != "ready\n" {
			t.Fatalf("child %d: %q %v %s", i, line, err, stderrOf(cmds[i]))
		}
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds {
		rest, _ := io.ReadAll(outs[i])
		if err := cmd.Wait(); err != nil || string(rest) != "ok\n" {
			t.Errorf("child %d: %v %q %s", i, err, rest, stderrOf(cmd))
		}
	}
}

func testProcessesShareOneRefresh(t *testing.T, dpop bool) {
	const procs = 8
	srv := newAuthServer(t, time.Now)
	srv.dpop = dpop
	first := loginFor(t, srv)
	srv.expireAccess()
	first.Expiry = time.Now().Add(-time.Second)
	dir := privateDir(t)
	file := dir + "/cli/token.json"
	store, err := newFileStore(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	racers(t, procs, append(requestEnv(srv, file), "JT_N=3"), dir+"/go")
	wantStats(t, srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1})
	tok, err := store.Load(context.Background())
	if err != nil || tok.RefreshToken != srv.currentRefreshToken(first.RefreshToken) || tok.IdempotencyKey != "" {
		t.Errorf("file holds %v, %v; want the rotated token and no pending key", tok, err)
	}
	if dpop {
		// The refresh, and three requests per process.
		wantProofs(t, srv, 1+3*procs, 0, 0)
		if !sameKey(tok.DPoPKey, first.DPoPKey) {
			t.Error("the file store lost the session's key")
		}
	}
}

func TestCrashMidRefreshResumes(t *testing.T) { dpopModes(t, testCrashMidRefreshResumes) }

func testCrashMidRefreshResumes(t *testing.T, dpop bool) {
	srv := newAuthServer(t, time.Now)
	srv.dpop = dpop
	srv.opaque = true
	arrived, release := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	srv.afterRotate = func(w http.ResponseWriter, r *http.Request) bool {
		if held.Swap(true) {
			return false
		}
		close(arrived) // the rotation is committed; hold its answer
		<-release
		return true
	}
	first := loginFor(t, srv)
	srv.expireAccess()
	file := privateDir(t) + "/token.json"
	store, _ := newFileStore(file)
	if err := store.Save(context.Background(), first); err != nil {
		t.Fatal(err)
	}

	victim := child(t, "request", requestEnv(srv, file)...)
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(time.Minute):
		victim.Process.Kill()
		t.Fatalf("the refresh never arrived: %s", stderrOf(victim))
	}
	victim.Process.Kill() // SIGKILL on Unix
	victim.Wait()
	close(release)

	tok, err := store.Load(context.Background())
	if err != nil || tok.RefreshToken != first.RefreshToken || tok.IdempotencyKey == "" || tok.IdempotencyKey != srv.Keys()[0] {
		t.Fatalf("after the crash the file holds %v, %v; want the old token with the refresh's key", tok, err)
	}
	survivor := child(t, "request", requestEnv(srv, file)...)
	if out, err := survivor.Output(); err != nil || string(out) != "ok\n" {
		t.Fatalf("survivor: %v %q %s", err, out, stderrOf(survivor))
	}
	wantStats(t, srv.Stats(), serverStats{RefreshRequests: 2, Rotations: 1, Replays: 1, Unauthorized: 2})
	if keys := srv.Keys(); keys[0] != keys[1] {
		t.Errorf("keys %q; the survivor must resume with the saved key", keys)
	}
	if tok, _ := store.Load(context.Background()); tok.RefreshToken != srv.currentRefreshToken(first.RefreshToken) {
		t.Error("the survivor did not save the rotated token")
	}
	if dpop {
		// Each process's request (401) and the refresh, and the survivor's retry.
		wantProofs(t, srv, 5, 0, 0)
	}
}

func TestFileStoreLockAcrossProcesses(t *testing.T) {
	file := privateDir(t) + "/token.json"
	holder := child(t, "hold-lock", "JT_FILE="+file)
	stdin, _ := holder.StdinPipe()
	stdout, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "locked\n" {
		t.Fatalf("holder: %q %v %s", line, err, stderrOf(holder))
	}
	store, _ := newFileStore(file)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := store.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("locked a file another process holds: %v", err)
	}
	stdin.Close()
	_, unlock, err := store.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := holder.Wait(); err != nil {
		t.Errorf("holder: %v %s", err, stderrOf(holder))
	}
}
