package storetest

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
)

var _ = register(
	clause{"CreateThenRotate", testCreateThenRotate},
	clause{"ChainOf1000", testChain},
	clause{"UsedTokenIsReuse", testUsedTokenIsReuse},
	clause{"ReuseRevokesSubjectOnly", testReuseRevokesSubjectOnly},
	clause{"ReusePolicyFamily", testReusePolicyFamily},
	clause{"IdempotentRetry", testIdempotentRetry},
	clause{"GraceWindow", testGraceWindow},
	clause{"ForgedTokens", testForged},
	clause{"SharedBackend", testSharedBackend},
	clause{"KeyRotation", testKeyRotation},
	clause{"InvalidInput", testInvalidInput},
)

func testCreateThenRotate(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	if !strings.HasPrefix(g.RefreshToken, jwtrefresh.RefreshTokenPrefix) || len(g.RefreshToken) != jwtrefresh.RefreshTokenLen {
		t.Fatalf("token %q: want prefix %q and length %d", g.RefreshToken, jwtrefresh.RefreshTokenPrefix, jwtrefresh.RefreshTokenLen)
	}
	if g.Subject != "alice" || g.Generation != 1 || g.Replayed || len(g.SessionID) != jwtrefresh.SessionIDLen {
		t.Fatalf("Create grant %+v", g)
	}
	if want := e.clock.Now().Add(jwtrefresh.DefaultIdleTimeout); !g.Expires.Equal(want) {
		t.Fatalf("Expires %v, want %v", g.Expires, want)
	}
	e.active("alice", g.SessionID, true)

	e.clock.Advance(time.Minute)
	r := e.rotate(g.RefreshToken, "")
	if r.RefreshToken == g.RefreshToken || r.Subject != "alice" || r.SessionID != g.SessionID ||
		r.Generation != 2 || r.Replayed || !bytes.Equal(r.Claims, []byte(`{"role":"user"}`)) {
		t.Fatalf("Rotate grant %+v", r)
	}
	if want := e.clock.Now().Add(jwtrefresh.DefaultIdleTimeout); !r.Expires.Equal(want) {
		t.Fatalf("Expires %v, want %v (sliding)", r.Expires, want)
	}
	if n := e.events.Count(jwtrefresh.EventLogin) + e.events.Count(jwtrefresh.EventRotate); n != 2 {
		t.Fatalf("%d login+rotate events, want 2", n)
	}
	ev := e.events.Last(jwtrefresh.EventRotate)
	if ev.Subject != "alice" || ev.SessionID != g.SessionID || ev.Generation != 2 {
		t.Fatalf("rotate event %+v", ev)
	}
}

func testChain(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	seen := map[string]bool{g.RefreshToken: true}
	for i := range 1000 {
		g = e.rotate(g.RefreshToken, "")
		if g.Generation != uint64(i+2) || seen[g.RefreshToken] {
			t.Fatalf("rotation %d: generation %d, repeated token %v", i+1, g.Generation, seen[g.RefreshToken])
		}
		seen[g.RefreshToken] = true
	}
	if n := e.sessions("alice"); n != 1 {
		t.Fatalf("%d sessions after 1000 rotations, want 1", n)
	}
	if n := e.events.Count(jwtrefresh.EventRotate); n != 1000 {
		t.Fatalf("%d rotate events, want 1000", n)
	}
}

func testUsedTokenIsReuse(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	r := e.rotate(g.RefreshToken, "ik-1")
	for _, ik := range []string{"", "ik-2"} { // no key, or another key: not a retry
		_, err := e.store.Rotate(e.ctx, g.RefreshToken, ik)
		if ik == "" {
			wantReuse(t, "used token again", err, jwtrefresh.ReuseError{
				Subject: "alice", SessionID: g.SessionID, Policy: jwtrefresh.RevokeSubject, Revoked: 1})
		} else {
			// The first reuse revoked the family: it is gone.
			wantErr(t, "used token after revocation", err, jwtrefresh.ErrInvalidToken)
		}
	}
	_, err := e.store.Rotate(e.ctx, r.RefreshToken, "")
	wantErr(t, "child after reuse", err, jwtrefresh.ErrInvalidToken)
	e.active("alice", g.SessionID, false)
	ev := e.events.Last(jwtrefresh.EventReuseDetected)
	if e.events.Count(jwtrefresh.EventReuseDetected) != 1 || ev.Subject != "alice" || ev.SessionID != g.SessionID || ev.Revoked != 1 {
		t.Fatalf("reuse events: %d, last %+v", e.events.Count(jwtrefresh.EventReuseDetected), ev)
	}
}

func testReuseRevokesSubjectOnly(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	a := []jwtrefresh.Grant{e.login("alice"), e.login("alice"), e.login("alice")}
	b := e.login("bob")
	used := a[0].RefreshToken
	a[0] = e.rotate(used, "")
	_, err := e.store.Rotate(e.ctx, used, "")
	wantReuse(t, "reuse", err, jwtrefresh.ReuseError{
		Subject: "alice", SessionID: a[0].SessionID, Policy: jwtrefresh.RevokeSubject, Revoked: 3})
	for i, g := range a {
		e.active("alice", g.SessionID, false)
		_, err := e.store.Rotate(e.ctx, g.RefreshToken, "")
		wantErr(t, "alice's session "+string(rune('0'+i)), err, jwtrefresh.ErrInvalidToken)
	}
	if n := e.sessions("alice"); n != 0 {
		t.Fatalf("alice has %d sessions after reuse, want 0", n)
	}
	if ev := e.events.Last(jwtrefresh.EventReuseDetected); ev.Revoked != 3 {
		t.Fatalf("reuse event revoked %d sessions, want 3", ev.Revoked)
	}
	e.active("bob", b.SessionID, true)
	e.rotate(b.RefreshToken, "")
}

func testReusePolicyFamily(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, func(c *Config) { c.ReusePolicy = jwtrefresh.RevokeFamily })
	a1, a2 := e.login("alice"), e.login("alice")
	e.rotate(a1.RefreshToken, "")
	_, err := e.store.Rotate(e.ctx, a1.RefreshToken, "")
	wantReuse(t, "reuse", err, jwtrefresh.ReuseError{
		Subject: "alice", SessionID: a1.SessionID, Policy: jwtrefresh.RevokeFamily, Revoked: 1})
	e.active("alice", a1.SessionID, false)
	e.active("alice", a2.SessionID, true)
	e.rotate(a2.RefreshToken, "")
}

func testIdempotentRetry(t *testing.T, nb NewBackend) {
	for _, tc := range []struct {
		name    string
		retryIK string
		useNext bool // the child is used before the retry
		want    error
	}{
		{"SameKey", "k", false, nil},
		{"OtherKey", "other", false, jwtrefresh.ErrReuseDetected},
		{"NoKey", "", false, jwtrefresh.ErrReuseDetected},
		{"SameKeyChildUsed", "k", true, jwtrefresh.ErrReuseDetected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nb, nil)
			g := e.login("alice")
			r := e.rotate(g.RefreshToken, "k")
			if tc.useNext {
				e.rotate(r.RefreshToken, "k2")
			}
			e.clock.Advance(time.Hour) // idempotency does not expire with a window
			again, err := e.store.Rotate(e.ctx, g.RefreshToken, tc.retryIK)
			if tc.want != nil {
				wantErr(t, "retry", err, tc.want)
				return
			}
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if again.RefreshToken != r.RefreshToken || !again.Replayed || again.Generation != 2 ||
				again.SessionID != r.SessionID || !bytes.Equal(again.Claims, r.Claims) {
				t.Fatalf("retry gave %+v, want the first child %+v again", again, r)
			}
			if e.events.Count(jwtrefresh.EventReplay) != 1 {
				t.Fatalf("%d replay events, want 1", e.events.Count(jwtrefresh.EventReplay))
			}
			e.rotate(again.RefreshToken, "") // the child is still good
		})
	}
}

func testGraceWindow(t *testing.T, nb NewBackend) {
	const grace = 10 * time.Second
	t.Run("ParentWithin", func(t *testing.T) {
		e := newEnv(t, nb, func(c *Config) { c.ReuseGrace = grace })
		g := e.login("alice")
		r := e.rotate(g.RefreshToken, "")
		e.clock.Advance(grace - time.Millisecond)
		again := e.rotate(g.RefreshToken, "")
		if again.RefreshToken != r.RefreshToken || !again.Replayed {
			t.Fatalf("grace replay gave a different token or not Replayed")
		}
		e.rotate(r.RefreshToken, "")
	})
	t.Run("ParentAfter", func(t *testing.T) {
		e := newEnv(t, nb, func(c *Config) { c.ReuseGrace = grace })
		g := e.login("alice")
		e.rotate(g.RefreshToken, "")
		e.clock.Advance(grace)
		_, err := e.store.Rotate(e.ctx, g.RefreshToken, "")
		wantErr(t, "parent after the window", err, jwtrefresh.ErrReuseDetected)
		e.active("alice", g.SessionID, false)
	})
	t.Run("GrandparentWithin", func(t *testing.T) {
		e := newEnv(t, nb, func(c *Config) { c.ReuseGrace = grace })
		g := e.login("alice")
		r := e.rotate(g.RefreshToken, "")
		e.rotate(r.RefreshToken, "")
		_, err := e.store.Rotate(e.ctx, g.RefreshToken, "")
		wantErr(t, "grandparent inside the window", err, jwtrefresh.ErrReuseDetected)
	})
	t.Run("RevokedStaysRevoked", func(t *testing.T) {
		e := newEnv(t, nb, func(c *Config) { c.ReuseGrace = grace })
		g := e.login("alice")
		r := e.rotate(g.RefreshToken, "k")
		if _, err := e.store.RevokeToken(e.ctx, r.RefreshToken); err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"parent": g.RefreshToken, "child": r.RefreshToken} {
			for _, ik := range []string{"", "k"} {
				_, err := e.store.Rotate(e.ctx, tok, ik)
				wantErr(t, name+" after revocation", err, jwtrefresh.ErrInvalidToken)
			}
		}
		e.active("alice", g.SessionID, false)
	})
}

// testForged: tokens that fail the MAC, even with a real family id, are
// invalid and change nothing.
func testForged(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	g := e.login("alice")
	cur := e.rotate(g.RefreshToken, "")

	raw, err := base64.RawURLEncoding.DecodeString(cur.RefreshToken[len(jwtrefresh.RefreshTokenPrefix):])
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return jwtrefresh.RefreshTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	}
	otherKeys, _ := jwtrefresh.NewRefreshKeyring(NewKey(1))
	parsed, err := e.keys.Parse(cur.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	underOtherKey, _ := otherKeys.Encode(parsed) // real family, generation and secret
	parsed.Generation++
	parsed.KeyVersion = 7
	unknownVersion, _ := (func() (string, error) {
		k, _ := jwtrefresh.NewRefreshKeyring(NewKey(7))
		return k.Encode(parsed)
	})()

	cases := map[string]string{
		"Empty":          "",
		"Garbage":        "not a token",
		"PrefixOnly":     jwtrefresh.RefreshTokenPrefix,
		"WrongPrefix":    "jwtrt9_" + cur.RefreshToken[len(jwtrefresh.RefreshTokenPrefix):],
		"Truncated":      cur.RefreshToken[:len(cur.RefreshToken)-1],
		"Extended":       cur.RefreshToken + "A",
		"Oversized":      strings.Repeat("A", 1<<20),
		"BadBase64":      jwtrefresh.RefreshTokenPrefix + strings.Repeat("*", jwtrefresh.RefreshTokenLen-len(jwtrefresh.RefreshTokenPrefix)),
		"SecretFlipped":  flip(len(raw) - 40),
		"MACFlipped":     flip(len(raw) - 1),
		"GenFlipped":     flip(31),
		"OtherKey":       underOtherKey,
		"UnknownVersion": unknownVersion,
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.store.Rotate(e.ctx, tok, "")
			wantErr(t, "Rotate", err, jwtrefresh.ErrInvalidToken)
			ref, err := e.store.RevokeToken(e.ctx, tok)
			wantErr(t, "RevokeToken", err, jwtrefresh.ErrInvalidToken)
			if ref != (jwtrefresh.SessionRef{}) {
				t.Fatalf("RevokeToken of a forged token named session %+v", ref)
			}
			_, _, err = e.store.Lookup(e.ctx, tok)
			wantErr(t, "Lookup", err, jwtrefresh.ErrInvalidToken)
		})
	}
	e.active("alice", g.SessionID, true)
	if n := e.events.Count(jwtrefresh.EventReuseDetected) + e.events.Count(jwtrefresh.EventRevoke); n != 0 {
		t.Fatalf("forged tokens caused %d reuse/revoke events", n)
	}
	e.rotate(cur.RefreshToken, "") // the real token still works
}

// testSharedBackend: two stores on one backend and keyring act as one; a
// replay through the second returns the first's child.
func testSharedBackend(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	second := e.openStore(nil)
	g := e.login("alice")
	r := e.rotate(g.RefreshToken, "k")
	again, err := second.Rotate(e.ctx, g.RefreshToken, "k")
	if err != nil {
		t.Fatal(err)
	}
	if again.RefreshToken != r.RefreshToken || !again.Replayed {
		t.Fatal("replay through the second store did not return the first store's child")
	}
	if _, err := second.Rotate(e.ctx, r.RefreshToken, ""); err != nil {
		t.Fatal(err)
	}
	_, err = e.store.Rotate(e.ctx, r.RefreshToken, "")
	wantErr(t, "child used through the other store", err, jwtrefresh.ErrReuseDetected)
}

// testKeyRotation: tokens under the old key keep working until they rotate
// onto the new key; subject-wide operations cover both keys' sessions.
func testKeyRotation(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	k1 := NewKey(1)
	old, _ := jwtrefresh.NewRefreshKeyring(k1)
	k2 := NewKey(2)
	both, _ := jwtrefresh.NewRefreshKeyring(k2, k1)
	onlyNew, _ := jwtrefresh.NewRefreshKeyring(k2)
	s1 := e.openStore(func(c *Config) { c.Keys = old })
	s2 := e.openStore(func(c *Config) { c.Keys = both })
	s3 := e.openStore(func(c *Config) { c.Keys = onlyNew })

	g1, err := s1.Create(e.ctx, jwtrefresh.NewSession{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s2.Rotate(e.ctx, g1.RefreshToken, "k")
	if err != nil {
		t.Fatalf("old-key token under the new ring: %v", err)
	}
	if p, err := onlyNew.Parse(r.RefreshToken); err != nil || p.KeyVersion != 2 {
		t.Fatalf("child not under the new key: %v", err)
	}
	again, err := s2.Rotate(e.ctx, g1.RefreshToken, "k")
	if err != nil || again.RefreshToken != r.RefreshToken {
		t.Fatalf("replay across a key change: %v", err)
	}
	g2, err := s2.Create(e.ctx, jwtrefresh.NewSession{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := s2.Sessions(e.ctx, "alice")
	if err != nil || len(ss) != 2 {
		t.Fatalf("Sessions across both keys: %d, %v; want 2", len(ss), err)
	}
	// Once the old key is retired, a token under it is invalid.
	g3, err := s1.Create(e.ctx, jwtrefresh.NewSession{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s3.Rotate(e.ctx, g3.RefreshToken, "")
	wantErr(t, "token under a retired key", err, jwtrefresh.ErrInvalidToken)
	// Reuse revokes the subject's sessions under every key of the ring.
	_, err = s2.Rotate(e.ctx, g1.RefreshToken, "")
	wantReuse(t, "reuse", err, jwtrefresh.ReuseError{
		Subject: "alice", SessionID: g1.SessionID, Policy: jwtrefresh.RevokeSubject, Revoked: 3})
	for _, sid := range []string{g1.SessionID, g2.SessionID, g3.SessionID} {
		if ok, err := s2.Active(e.ctx, "alice", sid); err != nil || ok {
			t.Fatalf("session %s active=%v (%v) after reuse", sid, ok, err)
		}
	}
}

func testInvalidInput(t *testing.T, nb NewBackend) {
	e := newEnv(t, nb, nil)
	for name, ns := range map[string]jwtrefresh.NewSession{
		"EmptySubject":    {},
		"LongSubject":     {Subject: strings.Repeat("s", jwtrefresh.MaxSubjectLen+1)},
		"ClaimsNotObject": {Subject: "a", Claims: []byte(`[1,2]`)},
		"ClaimsNotJSON":   {Subject: "a", Claims: []byte(`{"a":`)},
		"ClaimsTooLarge":  {Subject: "a", Claims: []byte(`{"a":"` + strings.Repeat("x", jwtrefresh.MaxClaimsSize) + `"}`)},
		"SubjectNotUTF8":  {Subject: "al\xffice"},
		"ClaimsNotUTF8":   {Subject: "a", Claims: []byte("{\"name\":\"Zo\xe9\"}")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.store.Create(e.ctx, ns)
			wantErr(t, "Create", err, jwtrefresh.ErrInvalidInput)
		})
	}
	g, err := e.store.Create(e.ctx, jwtrefresh.NewSession{
		Subject: "a",
		Client: jwtrefresh.ClientInfo{
			UserAgent: strings.Repeat("é", jwtrefresh.MaxClientInfoLen),
			Device:    "caf\xe9 laptop", // Latin-1 from a header: repaired, not refused
		},
	})
	if err != nil {
		t.Fatalf("long user agent: %v", err)
	}
	ss, err := e.store.Sessions(e.ctx, "a")
	if err != nil || len(ss) != 1 || ss[0].ID != g.SessionID {
		t.Fatalf("Sessions: %v %v", ss, err)
	}
	if ua := ss[0].Client.UserAgent; len(ua) > jwtrefresh.MaxClientInfoLen || len(ua) < jwtrefresh.MaxClientInfoLen-1 {
		t.Fatalf("user agent cut to %d bytes, want %d", len(ua), jwtrefresh.MaxClientInfoLen)
	}
	if d := ss[0].Client.Device; d != "caf\uFFFD laptop" {
		t.Fatalf("device %q, want the invalid byte replaced by U+FFFD", d)
	}
	_, err = e.store.Sessions(e.ctx, "")
	wantErr(t, "Sessions of empty subject", err, jwtrefresh.ErrInvalidInput)
	_, err = e.store.RevokeAll(e.ctx, "")
	wantErr(t, "RevokeAll of empty subject", err, jwtrefresh.ErrInvalidInput)
}
