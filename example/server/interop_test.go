package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenIDClientDPoP runs testdata/interop/dpop.mjs, Node's openid-client
// (v6, an independent DPoP implementation), against the example server:
// for ES256, EdDSA and PS256 keys, a login bound to the key, refreshes with
// proofs, the protected route with the DPoP scheme, and a thief's refusals.
// It needs node and `npm ci --prefix example/server/testdata/interop`; CI
// sets INTEROP_REQUIRED=1, which turns their absence into a failure.
func TestOpenIDClientDPoP(t *testing.T) {
	dir := filepath.Join("testdata", "interop")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "openid-client", "package.json"))
	}
	if err != nil {
		if os.Getenv("INTEROP_REQUIRED") != "" {
			t.Fatalf("INTEROP_REQUIRED is set but node or openid-client is missing (npm ci --prefix %s): %v", dir, err)
		}
		t.Skipf("node or openid-client missing (npm ci --prefix %s): %v", dir, err)
	}
	srv, counts := newDPoPServer(t, "allowed")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "dpop.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SERVER_URL="+srv.URL)
	out, err := cmd.CombinedOutput()
	t.Logf("openid-client:\n%s", out)
	if err != nil {
		t.Fatalf("dpop.mjs: %v", err)
	}
	const perAlg = 11
	if n := strings.Count(string(out), "\nok  ") + boolInt(strings.HasPrefix(string(out), "ok  ")); n != 3*perAlg {
		t.Fatalf("%d checks passed, want %d", n, 3*perAlg)
	}
	if got := counts.Get("dpop_refused").String(); got != "6" {
		t.Fatalf("sessions.dpop_refused = %s, want 6 (two per key type)", got)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
