package jwtrefresh_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
)

// TestRedaction: no verb of fmt, on the value or a pointer, and no slog
// handler prints a token of a TokenResponse; the JSON body of a token
// response still carries them. (Store results carry no token at all.)
func TestRedaction(t *testing.T) {
	const at, rt = "eyJhbGciOiJIUzI1NiJ9.access-secret.sig", "jwtrt1_refresh-secret"
	exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tr := jwtrefresh.TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: 300, RefreshToken: rt,
		Subject: "alice", SessionID: "sid-1", Expiry: exp, RefreshExpiry: exp}
	secrets := []string{at, rt, "access-secret", "refresh-secret"}
	leaks := func(out string) bool {
		for _, s := range secrets {
			if strings.Contains(out, s) || strings.Contains(strings.ToLower(out), hex.EncodeToString([]byte(s))) {
				return true
			}
		}
		return false
	}
	for name, v := range map[string]any{"TokenResponse": tr, "*TokenResponse": &tr} {
		t.Run(name, func(t *testing.T) {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"} {
				out := fmt.Sprintf(verb, v)
				if leaks(out) {
					t.Errorf("%s prints a token: %s", verb, out)
				}
				if !strings.Contains(out, "REDACTED(") || !strings.Contains(out, `"alice"`) {
					t.Errorf("%s: %s, want the subject and the tokens' lengths", verb, out)
				}
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
			slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
			if leaks(buf.String()) || !strings.Contains(buf.String(), "alice") {
				t.Errorf("slog: %s", buf.String())
			}
		})
	}
	body, err := json.Marshal(tr)
	if err != nil || !strings.Contains(string(body), at) || !strings.Contains(string(body), rt) {
		t.Fatalf("JSON body %s (%v): want both tokens", body, err)
	}
}
