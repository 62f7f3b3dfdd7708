package jwtrefresh_test

import (
	"bytes"
	"errors"
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
