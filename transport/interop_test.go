package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/dpop"
)

// interopEnv makes the interoperability tests fail, instead of skipping,
// when Node or the packages of testdata/interop (npm ci) are missing. CI
// sets it.
const interopEnv = "INTEROP_REQUIRED"

// nodeServer starts testdata/interop/server.mjs, an independent DPoP
// server (jose verifies the token endpoint's proofs, oauth4webapi guards
// the resource server), and returns its base URL.
func nodeServer(t *testing.T) string {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("testdata", "interop"))
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "oauth4webapi"))
	}
	if err != nil {
		if os.Getenv(interopEnv) != "" {
			t.Fatalf("%s is set, and Node or the packages are missing (run npm ci in %s): %v", interopEnv, dir, err)
		}
		t.Skipf("Node or the packages of %s are missing (npm ci there; %s=1 makes this a failure): %v", dir, interopEnv, err)
	}
	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	cmd.Stderr = &lockedBuffer{}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		t.Fatalf("node server: %q %v %s", line, err, stderrOf(cmd))
	}
	return base
}

// nodeCall sends a request to the Node server's admin or stats endpoints.
func nodeCall(t *testing.T, method, u string) map[string]int {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]int
	json.NewDecoder(resp.Body).Decode(&m)
	return m
}

// TestInteropIndependentDPoPServer: the Transport logs in, calls and
// refreshes against a DPoP server written with other libraries, for each
// algorithm of the keys it makes, and answers its nonces; the server
// refuses the same token with a proof by another key, or none.
func TestInteropIndependentDPoPServer(t *testing.T) {
	base := nodeServer(t)
	for _, alg := range []string{algES256, algEdDSA} {
		t.Run(alg, func(t *testing.T) { testInterop(t, base, alg) })
	}
}

func testInterop(t *testing.T, base, alg string) {
	ctx := context.Background()
	store := NewMemoryStore(nil)
	counts := &hookCounts{}
	tr, err := New(base+"/token", store, WithDPoP(DPoP{Algorithm: alg}), WithHooks(counts.hooks()))
	if err != nil {
		t.Fatal(err)
	}
	before := nodeCall(t, "GET", base+"/stats")
	nodeCall(t, "POST", base+"/admin/nonce") // the Transport has not seen it
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(`{"username":"alice"}`))
	resp, err := (&http.Client{Transport: tr.LoginTransport()}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ReadTokenResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Login(ctx, tok); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: tr}
	stored, _ := store.Load(ctx)
	jkt := mustThumbprint(t, stored.DPoPKey)
	me := func() {
		t.Helper()
		resp, err := client.Get(base + "/api/me")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Sub, Jkt string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.Jkt != jkt {
			t.Fatalf("GET /api/me: %d %+v %v; want 200 with jkt %s", resp.StatusCode, body, err, jkt)
		}
	}
	me()
	nodeCall(t, "POST", base+"/admin/expire")
	me() // 401 invalid_token, a refresh, the retry
	nodeCall(t, "POST", base+"/admin/nonce")
	me() // use_dpop_nonce, the retry
	after := nodeCall(t, "GET", base+"/stats")
	for k, want := range map[string]int{"logins": 1, "refreshes": 1, "nonceAsks": 2, "apiOK": 3, "apiRefused": 1, "proofErrors": 0} {
		if got := after[k] - before[k]; got != want {
			t.Errorf("server %s: %d, want %d", k, got, want)
		}
	}
	if got := counts.refreshed.Load(); got != 1 {
		t.Errorf("%d refreshes; want 1", got)
	}
	cur, err := tr.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refusesStolenToken(t, base, cur.AccessToken)
}

// refusesStolenToken: the Node server refuses the session's current access
// token with a proof by another key, and without a proof: the test's
// server does check what the Transport sends.
func refusesStolenToken(t *testing.T, base, at string) {
	t.Helper()
	resp, err := http.Get(base + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	nonce := resp.Header.Get("DPoP-Nonce")
	thief, err := dpop.NewProof(newKey(t, algES256), dpop.Claims{Method: "GET", URL: base + "/api/me", AccessToken: at, Nonce: nonce, IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]http.Header{
		"another key": {"Authorization": {"DPoP " + at}, "Dpop": {thief}},
		"no proof":    {"Authorization": {"Bearer " + at}},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/me", nil)
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d; want 401", name, resp.StatusCode)
		}
	}
}
