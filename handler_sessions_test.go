package jwtrefresh_test

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// TestRevokeEndpoint: RFC 7009 over HTTP.
func TestRevokeEndpoint(t *testing.T) {
	e := newEnv(t, envConfig{})
	revoke := func(t *testing.T, ct, body string, header ...string) reply {
		t.Helper()
		return do(t, e.request(t, http.MethodPost, "/auth/revoke", ct, body, header...))
	}
	ok := func(t *testing.T, r reply) {
		t.Helper()
		if r.status != http.StatusOK || r.body != "" {
			t.Fatalf("status %d, body %q; want 200 and no body", r.status, r.body)
		}
		wantNoStore(t, r)
	}
	active := func(tj tokenJSON) bool {
		return e.me(t, tj.AccessToken).status == http.StatusOK
	}

	t.Run("RefreshToken", func(t *testing.T) {
		tj := e.login(t, "alice")
		if !active(tj) { // the session check now caches "active"
			t.Fatal("the access token does not work before the revocation")
		}
		ok(t, revoke(t, formType, form("token", tj.RefreshToken, "token_type_hint", "refresh_token")))
		wantError(t, e.refresh(t, tj.RefreshToken), 400, "invalid_grant")
		// Revoked through this service: refused at once, no clock moved.
		if active(tj) {
			t.Fatal("the access token still works right after its session was revoked")
		}
	})
	t.Run("OlderRefreshToken", func(t *testing.T) {
		tj := e.login(t, "alice")
		next := e.refresh(t, tj.RefreshToken).token(t)
		ok(t, revoke(t, "application/json", `{"token":"`+tj.RefreshToken+`"}`))
		wantError(t, e.refresh(t, next.RefreshToken), 400, "invalid_grant")
	})
	t.Run("AccessToken", func(t *testing.T) {
		tj := e.login(t, "alice")
		if !active(tj) {
			t.Fatal("fresh session not active")
		}
		ok(t, revoke(t, formType, form("token", tj.AccessToken, "token_type_hint", "access_token")))
		if active(tj) { // ended through this service: at once
			t.Fatal("the access token still works")
		}
		wantError(t, e.refresh(t, tj.RefreshToken), 400, "invalid_grant")
	})
	t.Run("WrongHintIgnored", func(t *testing.T) {
		tj := e.login(t, "alice")
		ok(t, revoke(t, formType, form("token", tj.RefreshToken, "token_type_hint", "access_token")))
		wantError(t, e.refresh(t, tj.RefreshToken), 400, "invalid_grant")
	})
	t.Run("ExpiredAccessTokenRevokesNothing", func(t *testing.T) {
		tj := e.login(t, "alice")
		e.clock.Add(6 * time.Minute)
		ok(t, revoke(t, formType, form("token", tj.AccessToken)))
		if r := e.refresh(t, tj.RefreshToken); r.status != 200 {
			t.Fatalf("an expired access token revoked its session: %d %s", r.status, r.body)
		}
	})
	t.Run("ForeignAccessTokenRevokesNothing", func(t *testing.T) {
		tj := e.login(t, "alice")
		other := newEnv(t, envConfig{backend: e.be}) // other keys
		forged := other.login(t, "alice").AccessToken
		ok(t, revoke(t, formType, form("token", forged)))
		if !active(tj) {
			t.Fatal("a token signed by other keys revoked a session")
		}
	})
	for name, tok := range map[string]string{
		"Unknown":     session.TokenPrefix + strings.Repeat("A", 144), /* a format-1 token's length */
		"Garbage":     "garbage",
		"JWTShaped":   "a.b.c",
		"OtherFormat": "jwtrt9_abc",
		"AlreadyUsed": "",
	} {
		t.Run(name, func(t *testing.T) {
			if tok == "" {
				tj := e.login(t, "alice")
				ok(t, revoke(t, formType, form("token", tj.RefreshToken)))
				tok = tj.RefreshToken
			}
			ok(t, revoke(t, formType, form("token", tok)))
		})
	}
	t.Run("NoToken", func(t *testing.T) {
		wantError(t, revoke(t, formType, form("token_type_hint", "refresh_token")), 400, "invalid_request")
	})
	t.Run("RepeatedToken", func(t *testing.T) {
		wantError(t, revoke(t, formType, form("token", "a", "token", "b")), 400, "invalid_request")
	})
	t.Run("TextPlain", func(t *testing.T) {
		wantError(t, revoke(t, "text/plain", "token=a"), 415, "invalid_request")
	})
	t.Run("TooLarge", func(t *testing.T) {
		wantError(t, revoke(t, formType, "token="+strings.Repeat("a", jwtrefresh.DefaultMaxBodySize)), 413, "invalid_request")
	})
}

// TestSessionEndpoints: logout-all, list, revoke one; authenticated by the
// access token through the middleware and its session check.
func TestSessionEndpoints(t *testing.T) {
	e := newEnv(t, envConfig{})
	bearer := func(at string) []string { return []string{"Authorization", "Bearer " + at} }
	list := func(t *testing.T, at string) []map[string]any {
		t.Helper()
		r := do(t, e.request(t, http.MethodGet, "/auth/sessions", "", "", bearer(at)...))
		if r.status != 200 {
			t.Fatalf("sessions: %d %s", r.status, r.body)
		}
		wantNoStore(t, r)
		var out struct{ Sessions []map[string]any }
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			t.Fatal(err)
		}
		return out.Sessions
	}

	phone, laptop := e.login(t, "bob"), e.login(t, "bob")
	e.login(t, "carol")
	sessions := list(t, laptop.AccessToken)
	if len(sessions) != 2 {
		t.Fatalf("bob has %d sessions, want 2: %v", len(sessions), sessions)
	}
	var current int
	for _, s := range sessions {
		if s["current"] == true {
			current++
		}
		for _, k := range []string{"id", "created", "last_used", "expires", "user_agent", "ip"} {
			if s[k] == nil || s[k] == "" {
				t.Fatalf("session %v lacks %q", s, k)
			}
		}
	}
	if current != 1 {
		t.Fatalf("%d sessions marked current", current)
	}
	phoneID := sessionID(t, e, phone.AccessToken)

	// Revoke the phone from the laptop.
	del := func(at, id string) reply {
		return do(t, e.request(t, http.MethodDelete, "/auth/sessions/"+id, "", "", bearer(at)...))
	}
	if r := del(laptop.AccessToken, phoneID); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if r := e.me(t, phone.AccessToken); r.status != 401 {
		t.Fatalf("the revoked phone's token: %d", r.status)
	}
	wantError(t, e.refresh(t, phone.RefreshToken), 400, "invalid_grant")
	wantError(t, del(laptop.AccessToken, phoneID), 404, "not_found")
	wantError(t, del(laptop.AccessToken, "not-a-session"), 404, "not_found")
	carol := e.login(t, "carol")
	wantError(t, del(laptop.AccessToken, sessionID(t, e, carol.AccessToken)), 404, "not_found") // not bob's
	if r := e.me(t, carol.AccessToken); r.status != 200 {
		t.Fatal("bob revoked carol's session")
	}

	// The revoked phone cannot use the session endpoints either.
	r := do(t, e.request(t, http.MethodPost, "/auth/logout-all", "", "", bearer(phone.AccessToken)...))
	if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("logout-all with a revoked session: %d %s", r.status, r.header)
	}
	wantNoStore(t, r)

	// Logout everywhere.
	tablet := e.login(t, "bob")
	r = do(t, e.request(t, http.MethodPost, "/auth/logout-all", "", "", bearer(laptop.AccessToken)...))
	if r.status != 200 || r.body != `{"revoked":2}` {
		t.Fatalf("logout-all: %d %s", r.status, r.body)
	}
	wantNoStore(t, r)
	for _, tj := range []tokenJSON{laptop, tablet} {
		if r := e.me(t, tj.AccessToken); r.status != 401 {
			t.Fatalf("token after logout-all: %d", r.status)
		}
		wantError(t, e.refresh(t, tj.RefreshToken), 400, "invalid_grant")
	}
	if r := e.me(t, carol.AccessToken); r.status != 200 {
		t.Fatal("bob's logout-all ended carol's session")
	}

	// Without a token: RFC 6750 answers.
	for _, req := range []*http.Request{
		e.request(t, http.MethodGet, "/auth/sessions", "", ""),
		e.request(t, http.MethodPost, "/auth/logout-all", "", ""),
		e.request(t, http.MethodDelete, "/auth/sessions/"+phoneID, "", ""),
	} {
		r := do(t, req)
		if r.status != 401 || r.header.Get("WWW-Authenticate") != `Bearer realm="api"` {
			t.Fatalf("%s %s without a token: %d %q", req.Method, req.URL.Path, r.status, r.header.Get("WWW-Authenticate"))
		}
		wantNoStore(t, r)
	}
	// An expired token.
	e.clock.Add(6 * time.Minute)
	r = do(t, e.request(t, http.MethodGet, "/auth/sessions", "", "", bearer(carol.AccessToken)...))
	if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "expired") {
		t.Fatalf("expired token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}

func sessionID(t *testing.T, e *env, at string) string {
	t.Helper()
	r := e.me(t, at)
	var me struct{ Sid string }
	if err := json.Unmarshal([]byte(r.body), &me); err != nil || me.Sid == "" {
		t.Fatalf("/api/me: %d %s", r.status, r.body)
	}
	return me.Sid
}

// TestJWKSEndpoint: published for asymmetric keys, revalidated by ETag,
// and changed by a key rotation at once.
func TestJWKSEndpoint(t *testing.T) {
	k1 := must(keys.NewEdDSA("ed-1", ed25519.NewKeyFromSeed(randomBytes(32))))
	set := must(keys.NewSet(k1))
	e := newEnv(t, envConfig{keys: set})
	get := func(header ...string) reply {
		return do(t, e.request(t, http.MethodGet, "/auth/jwks.json", "", "", header...))
	}
	r := get()
	etag := r.header.Get("ETag")
	if r.status != 200 || etag == "" || r.header.Get("Cache-Control") != "no-cache" || r.header.Get("Pragma") != "" ||
		!strings.Contains(r.body, `"kid":"ed-1"`) || strings.Contains(r.body, `"d"`) {
		t.Fatalf("JWKS: %d %v %s", r.status, r.header, r.body)
	}
	if r := get("If-None-Match", etag); r.status != http.StatusNotModified || r.body != "" {
		t.Fatalf("If-None-Match: %d %q", r.status, r.body)
	}
	if r := get("If-None-Match", `"other", W/`+etag); r.status != http.StatusNotModified {
		t.Fatalf("If-None-Match list: %d", r.status)
	}
	if r := do(t, e.request(t, http.MethodHead, "/auth/jwks.json", "", "")); r.status != 200 || r.body != "" {
		t.Fatalf("HEAD: %d %q", r.status, r.body)
	}

	k2 := must(keys.NewEdDSA("ed-2", ed25519.NewKeyFromSeed(randomBytes(32))))
	if err := set.Replace(k2, k1); err != nil {
		t.Fatal(err)
	}
	r = get("If-None-Match", etag)
	if r.status != 200 || r.header.Get("ETag") == etag || !strings.Contains(r.body, `"kid":"ed-2"`) {
		t.Fatalf("after rotation: %d %s", r.status, r.body)
	}
	// Tokens are now signed by the new key and verify with the new JWKS.
	pub := must(keys.ParseJWKS([]byte(r.body)))
	tr := must(e.svc.Login(t.Context(), session.NewSession{Subject: "alice"}))
	if _, err := must(e.svc.Middleware()).Verify(t.Context(), tr.AccessToken); err != nil || len(pub) != 2 {
		t.Fatalf("token after rotation: %v (%d keys)", err, len(pub))
	}
}
