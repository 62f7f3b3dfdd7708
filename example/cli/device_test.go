package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestLoginDevice: -device names the device in the User-Agent of the
// login, which the server records for its session list; a name that
// would break the header's syntax is refused before anything is sent.
func TestLoginDevice(t *testing.T) {
	var mu sync.Mutex
	var agents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"good","token_type":"Bearer","expires_in":300,"refresh_token":"rt"}`)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, device string
		code         int
		agent        string // the User-Agent the server saw; "" for no request
		stderr       string
	}{
		{"none", "", 0, userAgent, ""},
		{"laptop", "laptop", 0, userAgent + " (laptop)", ""},
		{"with spaces", "alice's phone", 0, userAgent + " (alice's phone)", ""},
		{"parenthesis", "a)b", 1, "", "no parentheses"},
		{"control character", "a\nb", 1, "", "printable ASCII"},
		{"not ASCII", "téléphone", 1, "", "printable ASCII"},
		{"too long", strings.Repeat("x", 33), 1, "", "at most 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			agents = nil
			mu.Unlock()
			file := filepath.Join(dir, tc.name+".json")
			args := []string{"-server", srv.URL, "-token-file", file, "login", "-user", "alice"}
			if tc.device != "" {
				args = append(args, "-device", tc.device)
			}
			r := invoke(t, nil, "wonderland\n", args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit status %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.stderr)
			}
			mu.Lock()
			defer mu.Unlock()
			var want []string
			if tc.agent != "" {
				want = []string{tc.agent}
			}
			if fmt.Sprint(agents) != fmt.Sprint(want) {
				t.Errorf("User-Agent of the requests: %q, want %q", agents, want)
			}
		})
	}
}
