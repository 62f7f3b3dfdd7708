package jwtrefresh_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jwtrefresh/jwtrefresh"
)

func TestNewSessionValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   jwtrefresh.NewSession
		ok   bool
	}{
		{"Minimal", jwtrefresh.NewSession{Subject: "a"}, true},
		{"Claims", jwtrefresh.NewSession{Subject: "a", Claims: []byte(` {"x":1} `)}, true},
		{"EmptySubject", jwtrefresh.NewSession{}, false},
		{"LongSubject", jwtrefresh.NewSession{Subject: strings.Repeat("a", jwtrefresh.MaxSubjectLen+1)}, false},
		{"ClaimsArray", jwtrefresh.NewSession{Subject: "a", Claims: []byte(`[]`)}, false},
		{"ClaimsString", jwtrefresh.NewSession{Subject: "a", Claims: []byte(`"x"`)}, false},
		{"ClaimsBroken", jwtrefresh.NewSession{Subject: "a", Claims: []byte(`{"x":`)}, false},
		{"ClaimsBlank", jwtrefresh.NewSession{Subject: "a", Claims: []byte(`  `)}, false},
		{"ClaimsTrailing", jwtrefresh.NewSession{Subject: "a", Claims: []byte(`{} {}`)}, false},
		{"SubjectUnicode", jwtrefresh.NewSession{Subject: "zoë@example.com"}, true},
		{"SubjectNotUTF8", jwtrefresh.NewSession{Subject: "zo\xeb@example.com"}, false},
		{"SubjectSurrogate", jwtrefresh.NewSession{Subject: "a\xed\xa0\x80"}, false},
		{"ClaimsUnicode", jwtrefresh.NewSession{Subject: "a", Claims: []byte(`{"name":"Zoë"}`)}, true},
		{"ClaimsNotUTF8", jwtrefresh.NewSession{Subject: "a", Claims: []byte("{\"name\":\"Zo\xeb\"}")}, false},
		{"ClaimsKeyNotUTF8", jwtrefresh.NewSession{Subject: "a", Claims: []byte("{\"\xff\":1}")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.in.Validate()
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if len(out.Claims) > 0 && out.Claims[0] != '{' {
					t.Fatalf("claims not trimmed: %q", out.Claims)
				}
				return
			}
			if !errors.Is(err, jwtrefresh.ErrInvalidInput) {
				t.Fatalf("error %v, want ErrInvalidInput", err)
			}
		})
	}
	long := jwtrefresh.NewSession{Subject: "a", Client: jwtrefresh.ClientInfo{
		UserAgent: strings.Repeat("€", jwtrefresh.MaxClientInfoLen), IP: "192.0.2.1", Device: strings.Repeat("d", 600)}}
	out, err := long.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if ua := out.Client.UserAgent; len(ua) > jwtrefresh.MaxClientInfoLen || !utf8.ValidString(ua) || len(ua) < jwtrefresh.MaxClientInfoLen-2 {
		t.Fatalf("user agent cut to %d bytes, valid UTF-8 %v", len(ua), utf8.ValidString(ua))
	}
	if out.Client.IP != "192.0.2.1" || len(out.Client.Device) != jwtrefresh.MaxClientInfoLen {
		t.Fatalf("client %+v", out.Client)
	}
	// Client info comes from headers: invalid bytes are replaced, not
	// refused, and the cut still keeps everything up to the limit.
	latin1 := jwtrefresh.NewSession{Subject: "a", Client: jwtrefresh.ClientInfo{
		UserAgent: "caf\xe9/" + strings.Repeat("u", 600), Device: "\xff"}}
	out, err = latin1.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if ua := out.Client.UserAgent; !strings.HasPrefix(ua, "caf\uFFFD/uuu") || !utf8.ValidString(ua) ||
		len(ua) != jwtrefresh.MaxClientInfoLen {
		t.Fatalf("user agent %q (%d bytes): want U+FFFD for the invalid byte, cut to %d bytes", ua, len(ua), jwtrefresh.MaxClientInfoLen)
	}
	if out.Client.Device != "\uFFFD" {
		t.Fatalf("device %q", out.Client.Device)
	}
}

// FuzzNewSessionValidate: whatever Validate accepts survives JSON, as the
// access token carries it: the subject and claims are valid UTF-8 (so
// encoding/json changes nothing), the claims a JSON object, the client
// info valid and within its limit.
func FuzzNewSessionValidate(f *testing.F) {
	f.Add("alice", []byte(`{"role":"user"}`), "Mozilla/5.0")
	f.Add("zo\xeb", []byte("{\"a\":\"\xff\"}"), "caf\xe9")
	f.Add("a", []byte(` {"a":[1,{"b":null}]} `), strings.Repeat("€", 300))
	f.Fuzz(func(t *testing.T, subject string, claims []byte, ua string) {
		out, err := jwtrefresh.NewSession{Subject: subject, Claims: claims, Client: jwtrefresh.ClientInfo{UserAgent: ua}}.Validate()
		if err != nil {
			if !errors.Is(err, jwtrefresh.ErrInvalidInput) {
				t.Fatalf("error %v, want ErrInvalidInput", err)
			}
			return
		}
		b, err := json.Marshal(out.Subject)
		var back string
		if err != nil || json.Unmarshal(b, &back) != nil || back != subject {
			t.Fatalf("subject %q does not survive JSON: %q", subject, back)
		}
		if len(out.Claims) > 0 {
			var m map[string]any
			if !utf8.Valid(out.Claims) || json.Unmarshal(out.Claims, &m) != nil {
				t.Fatalf("claims %q accepted", out.Claims)
			}
		}
		if u := out.Client.UserAgent; !utf8.ValidString(u) || len(u) > jwtrefresh.MaxClientInfoLen {
			t.Fatalf("user agent %q (%d bytes)", u, len(u))
		}
	})
}

func TestReuseError(t *testing.T) {
	plain := &jwtrefresh.ReuseError{Subject: "alice", SessionID: "sid", Policy: jwtrefresh.RevokeSubject, Revoked: 3}
	partial := &jwtrefresh.ReuseError{Subject: "alice", SessionID: "sid", Policy: jwtrefresh.RevokeSubject, Revoked: 1,
		Err: fmt.Errorf("%w: connection refused", jwtrefresh.ErrUnavailable)}
	for _, tc := range []struct {
		err         error
		unavailable bool
		text        string
	}{
		{plain, false, "jwtrefresh: refresh token reuse detected: 3 session(s) revoked (policy subject)"},
		{partial, true, "jwtrefresh: refresh token reuse detected: 1 session(s) revoked (policy subject); " +
			"revoking the subject's other sessions failed: jwtrefresh: session store unavailable: connection refused"},
		{fmt.Errorf("refresh: %w", plain), false, "refresh: jwtrefresh: refresh token reuse detected: 3 session(s) revoked (policy subject)"},
	} {
		var re *jwtrefresh.ReuseError
		if !errors.Is(tc.err, jwtrefresh.ErrReuseDetected) || !errors.As(tc.err, &re) || re.Subject != "alice" {
			t.Errorf("%v: not a reuse error naming alice", tc.err)
		}
		if errors.Is(tc.err, jwtrefresh.ErrUnavailable) != tc.unavailable || errors.Is(tc.err, jwtrefresh.ErrInvalidToken) {
			t.Errorf("%v: matches ErrUnavailable %v, want %v", tc.err, !tc.unavailable, tc.unavailable)
		}
		if tc.err.Error() != tc.text {
			t.Errorf("Error() = %q, want %q", tc.err.Error(), tc.text)
		}
		if strings.Contains(tc.err.Error(), "alice") {
			t.Errorf("%q names the subject: errors get logged", tc.err.Error())
		}
	}
}

func TestSentinelsDistinct(t *testing.T) {
	all := []error{jwtrefresh.ErrInvalidToken, jwtrefresh.ErrReuseDetected, jwtrefresh.ErrUnavailable,
		jwtrefresh.ErrSessionNotFound, jwtrefresh.ErrInvalidInput, jwtrefresh.ErrInvalidKey}
	for i, a := range all {
		for j, b := range all {
			if (i == j) != errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, i != j)
			}
		}
	}
}

func TestEventLogValue(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	e := jwtrefresh.Event{Kind: jwtrefresh.EventReuseDetected, Subject: "alice", SessionID: "sid", Generation: 3, Revoked: 2}
	l.Log(t.Context(), e.Kind.Level(), "session", "event", e)
	want := "level=WARN msg=session event.kind=reuse_detected event.sub=alice event.sid=sid event.gen=3 event.revoked=2\n"
	if buf.String() != want {
		t.Fatalf("got  %q\nwant %q", buf.String(), want)
	}
	for k, name := range map[jwtrefresh.EventKind]string{
		jwtrefresh.EventLogin: "login", jwtrefresh.EventRotate: "rotate", jwtrefresh.EventReplay: "replay",
		jwtrefresh.EventRevoke: "revoke", jwtrefresh.EventRevokeAll: "revoke_all", jwtrefresh.EventEvict: "evict",
		0: "unknown", 200: "unknown",
	} {
		if k.String() != name {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), name)
		}
	}
	if jwtrefresh.RevokeSubject.String() != "subject" || jwtrefresh.RevokeFamily.String() != "family" {
		t.Error("ReusePolicy.String")
	}
}
