package jwtrefresh_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// familyKey is the Redis key of subject's session sid (redisstore's
// layout: <prefix>{<tag>}:f:<sid>).
func (e *env) familyKey(t *testing.T, subject, sid string) string {
	t.Helper()
	id := must(e.secrets.Index(context.Background(), e.store)).SubjectID(subject)
	return e.cfg.prefix + "{" + hex.EncodeToString(id[:4]) + "}:f:" + sid
}

// TestTamperedRecord: whoever can write to Redis edits bob's session
// record to name alice, or to give bob other claims. Bob's refresh token
// then mints nothing: the refresh is invalid_grant, nothing is rotated or
// revoked, and an EventTampered is reported. Restored, the record works.
func TestTamperedRecord(t *testing.T) {
	var ev eventCounter
	e := newEnv(t, envConfig{svcOpts: []jwtrefresh.Option{jwtrefresh.WithEvents(ev.hook)}})
	ctx := context.Background()
	alice := e.login(t, "alice")
	bob := e.login(t, "bob")
	sid := sessionID(t, e, bob.AccessToken)
	key := e.familyKey(t, "bob", sid)
	before := e.be.Client.HGetAll(ctx, key).Val()
	if before["sc"] != "3:bob" {
		t.Fatalf("record %v: the test's idea of the layout is wrong", before)
	}
	for name, sc := range map[string]string{
		"Subject":      "5:alice",
		"Claims":       `3:bob{"role":"admin"}`,
		"SubjectShift": `3:bobx`,
	} {
		t.Run(name, func(t *testing.T) {
			e.be.Client.HSet(ctx, key, "sc", sc)
			defer e.be.Client.HSet(ctx, key, before)
			tampered := ev.get(jwtrefresh.EventTampered)
			wantError(t, e.refresh(t, bob.RefreshToken), 400, "invalid_grant")
			wantError(t, e.refresh(t, bob.RefreshToken, "Idempotency-Key", "tampered-record-key-1"), 400, "invalid_grant")
			if n := ev.get(jwtrefresh.EventTampered) - tampered; n != 2 {
				t.Fatalf("%d tampered events for two refused refreshes, want 2", n)
			}
			after := e.be.Client.HGetAll(ctx, key).Val()
			if after["c"] != before["c"] || after["p"] != before["p"] || after["lu"] != before["lu"] {
				t.Fatalf("refusing changed the record: %v, was %v", after, before)
			}
		})
	}
	if ev.get(jwtrefresh.EventRotate) != 0 || ev.get(jwtrefresh.EventRevoke) != 0 || ev.get(jwtrefresh.EventReuseDetected) != 0 {
		t.Fatalf("events %v: the refusals rotated or revoked something", ev.n)
	}
	// Nothing was used up or revoked: restored, bob's token refreshes as
	// bob, and alice's session is untouched.
	r := e.refresh(t, bob.RefreshToken)
	if r.status != 200 {
		t.Fatalf("the restored record: %d %s", r.status, r.body)
	}
	if me := e.me(t, r.token(t).AccessToken); !strings.Contains(me.body, `"sub":"bob"`) {
		t.Fatalf("/api/me after the restore: %s", me.body)
	}
	if r := e.refresh(t, alice.RefreshToken); r.status != 200 {
		t.Fatalf("alice: %d %s", r.status, r.body)
	}
}

// TestLogoutAllAfterSecretRetired: a session begun under refresh-token
// secret 1 and refreshed while secrets 2 and 1 were configured is still
// listed, and ended by logout everywhere, once secret 1 is retired.
func TestLogoutAllAfterSecretRetired(t *testing.T) {
	s1 := session.Secret{Version: 1, Value: randomBytes(32)}
	s2 := session.Secret{Version: 2, Value: randomBytes(32)}
	old := newEnv(t, envConfig{secrets: must(session.NewSecrets(s1))})
	phase := func(secrets *session.Secrets) *env {
		c := old.cfg
		c.secrets, c.wrapServer = secrets, nil
		return newEnv(t, c)
	}
	tj := old.login(t, "alice")
	during := phase(must(session.NewSecrets(s2, s1)))
	r := during.refresh(t, tj.RefreshToken)
	if r.status != 200 {
		t.Fatalf("refresh while both secrets are configured: %d %s", r.status, r.body)
	}
	next := r.token(t)
	other := during.login(t, "alice") // begun under secret 2
	after := phase(must(session.NewSecrets(s2)))
	if ss := must(after.svc.Sessions(t.Context(), "alice")); len(ss) != 2 {
		t.Fatalf("Sessions after retiring secret 1: %d, want 2", len(ss))
	}
	at := after.refresh(t, other.RefreshToken).token(t).AccessToken
	lr := do(t, after.request(t, http.MethodPost, "/auth/logout-all", "", "", "Authorization", "Bearer "+at))
	if lr.status != 200 || lr.body != `{"revoked":2}` {
		t.Fatalf("logout-all after retiring secret 1: %d %s, want both sessions ended", lr.status, lr.body)
	}
	wantError(t, after.refresh(t, next.RefreshToken), 400, "invalid_grant")
}

// TestConstantIdempotencyKey: a refresh whose Idempotency-Key equals the
// one its token was issued with is 400 invalid_request, and the token is
// not spent: a client with a constant key fails at its second refresh
// instead of leaving its sessions to whoever learns the key.
func TestConstantIdempotencyKey(t *testing.T) {
	e := newEnv(t, envConfig{})
	const constant = "0000000000000000"
	tj := e.login(t, "alice")
	r := e.refresh(t, tj.RefreshToken, "Idempotency-Key", constant)
	if r.status != 200 {
		t.Fatalf("first refresh: %d %s", r.status, r.body)
	}
	next := r.token(t)
	for range 2 {
		r := e.refresh(t, next.RefreshToken, "Idempotency-Key", constant)
		wantError(t, r, 400, "invalid_request")
		if !strings.Contains(r.token(t).Description, "previous refresh") {
			t.Fatalf("the description does not say why: %s", r.body)
		}
	}
	// Not spent: with a new key the token rotates (a spent token would
	// now be reuse, invalid_grant).
	if r := e.refresh(t, next.RefreshToken, "Idempotency-Key", "fresh-key-5c1e9a0b7d"); r.status != 200 {
		t.Fatalf("the token after the refusals: %d %s", r.status, r.body)
	}
	// Through the Go API: session.ErrInvalidInput, nothing used up.
	tj2 := must(e.svc.Login(t.Context(), session.NewSession{Subject: "bob"}))
	n := must(e.svc.Refresh(t.Context(), tj2.RefreshToken, constant, ""))
	if _, err := e.svc.Refresh(t.Context(), n.RefreshToken, constant, ""); err == nil || !strings.Contains(err.Error(), "previous refresh") {
		t.Fatalf("Go API: %v, want the repeated key refused", err)
	}
	must(e.svc.Refresh(t.Context(), n.RefreshToken, "fresh-key-9e8d7c6b5a", ""))
}

// TestTamperedRecordWithLoader: with a claims loader, the session lookup
// before the rotation checks the seal too: the loader never sees an
// edited record, and nothing is used up.
func TestTamperedRecordWithLoader(t *testing.T) {
	l := new(loader)
	var ev eventCounter
	e := newEnv(t, envConfig{svcOpts: []jwtrefresh.Option{jwtrefresh.WithClaimsLoader(l.load), jwtrefresh.WithEvents(ev.hook)}})
	ctx := context.Background()
	bob := e.login(t, "bob")
	key := e.familyKey(t, "bob", sessionID(t, e, bob.AccessToken))
	before := e.be.Client.HGetAll(ctx, key).Val()
	e.be.Client.HSet(ctx, key, "sc", "5:alice")
	wantError(t, e.refresh(t, bob.RefreshToken), 400, "invalid_grant")
	if l.calls != 0 || ev.get(jwtrefresh.EventTampered) != 1 {
		t.Fatalf("loader called %d times, %d tampered events; want 0 and 1", l.calls, ev.get(jwtrefresh.EventTampered))
	}
	e.be.Client.HSet(ctx, key, before)
	if r := e.refresh(t, bob.RefreshToken); r.status != 200 || l.calls != 1 {
		t.Fatalf("the restored record: %d %s, loader called %d times", r.status, r.body, l.calls)
	}
}
