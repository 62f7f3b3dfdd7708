package main

import (
	"encoding/json"
	"expvar"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
)

// TestSessionEndsAtOnce: what the package doc promises. A session ended
// through this server, by its refresh token at /auth/revoke or by reuse of
// a refresh token, is refused by /api at once, while its access token has
// minutes to live.
func TestSessionEndsAtOnce(t *testing.T) {
	srv, _ := newTestServer(t, nil, "-reuse-grace", "0") // "Reuse" presents a token just used
	type pair struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	post := func(t *testing.T, path, body string) (int, pair) {
		t.Helper()
		resp, b := do(t, http.MethodPost, srv.URL+path, "application/x-www-form-urlencoded", body, "")
		var p pair
		_ = json.Unmarshal([]byte(b), &p)
		return resp.StatusCode, p
	}
	start := func(t *testing.T) pair {
		t.Helper()
		resp, b := do(t, http.MethodPost, srv.URL+"/login", "application/json", `{"username":"alice","password":"wonderland"}`, "")
		var p pair
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(b), &p) != nil {
			t.Fatalf("login: %d %s", resp.StatusCode, b)
		}
		if resp, _ := do(t, http.MethodGet, srv.URL+"/api/me", "", "", p.AccessToken); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/me: %d", resp.StatusCode)
		}
		return p
	}
	refused := func(t *testing.T, at string) {
		t.Helper()
		if resp, _ := do(t, http.MethodGet, srv.URL+"/api/me", "", "", at); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET /api/me with an access token of the ended session: %d, want 401", resp.StatusCode)
		}
	}
	t.Run("RevokedByRefreshToken", func(t *testing.T) {
		p := start(t)
		if status, _ := post(t, "/auth/revoke", url.Values{"token": {p.RefreshToken}}.Encode()); status != http.StatusOK {
			t.Fatalf("revoke: %d", status)
		}
		refused(t, p.AccessToken)
	})
	t.Run("Reuse", func(t *testing.T) {
		p := start(t)
		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {p.RefreshToken}}.Encode()
		status, next := post(t, "/auth/refresh", refresh)
		if status != http.StatusOK {
			t.Fatalf("refresh: %d", status)
		}
		if status, _ := post(t, "/auth/refresh", refresh); status != http.StatusBadRequest {
			t.Fatalf("the used refresh token again: %d, want 400", status)
		}
		refused(t, p.AccessToken)
		refused(t, next.AccessToken)
	})
}

// TestSessionCheckSetting: -session-check open answers from what the
// server knows while Redis is down, closed answers 503, off checks nothing
// (a revoked session's access token works until it expires).
func TestSessionCheckSetting(t *testing.T) {
	for _, tc := range []struct {
		mode            string
		revoked, outage int // statuses of /api/me
	}{
		{"open", http.StatusUnauthorized, http.StatusOK},
		{"closed", http.StatusUnauthorized, http.StatusServiceUnavailable},
		{"off", http.StatusOK, http.StatusOK},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			redis := redistest.StartServer(t)
			srv, counts := newTestServer(t, redis.Client(t), "-session-check", tc.mode)
			gone, live := login(t, srv), login(t, srv)
			if resp, body := do(t, http.MethodPost, srv.URL+"/auth/revoke", "application/x-www-form-urlencoded", "token="+gone, ""); resp.StatusCode != 200 {
				t.Fatalf("revoke: %d %s", resp.StatusCode, body)
			}
			if resp, _ := do(t, http.MethodGet, srv.URL+"/api/me", "", "", gone); resp.StatusCode != tc.revoked {
				t.Fatalf("a revoked session: %d, want %d", resp.StatusCode, tc.revoked)
			}
			if resp, _ := do(t, http.MethodGet, srv.URL+"/api/me", "", "", live); resp.StatusCode != http.StatusOK {
				t.Fatalf("a live session: %d", resp.StatusCode)
			}
			redis.Stop()
			// Until the server notices (the push connection breaks, then a
			// store read fails: degraded mode), its cached answer still
			// holds in every mode.
			for deadline := time.Now().Add(10 * time.Second); tc.mode != "off" && degraded(counts) == 0; time.Sleep(10 * time.Millisecond) {
				if resp, _ := do(t, http.MethodGet, srv.URL+"/api/me", "", "", live); resp.StatusCode != http.StatusOK && resp.StatusCode != tc.outage {
					t.Fatalf("a live session as Redis goes down: %d", resp.StatusCode)
				}
				if time.Now().After(deadline) {
					t.Fatal("no degraded mode 10s after Redis stopped")
				}
			}
			if resp, _ := do(t, http.MethodGet, srv.URL+"/api/me", "", "", live); resp.StatusCode != tc.outage {
				t.Fatalf("a live session with Redis down: %d, want %d", resp.StatusCode, tc.outage)
			}
		})
	}
}

// degraded is how often the server's session check entered degraded mode.
func degraded(counts *expvar.Map) int64 {
	if v, ok := counts.Get("check_degraded").(*expvar.Int); ok {
		return v.Value()
	}
	return 0
}
