package jwtrefresh_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/session"
)

func TestReuseError(t *testing.T) {
	plain := &jwtrefresh.ReuseError{Subject: "alice", SessionID: "sid", Policy: session.RevokeSubject, Revoked: 3}
	family := &jwtrefresh.ReuseError{Subject: "alice", SessionID: "sid", Policy: session.RevokeFamily, Revoked: 1}
	for _, tc := range []struct {
		err  error
		text string
	}{
		{plain, "jwtrefresh: refresh token reuse detected: 3 session(s) revoked (policy subject)"},
		{family, "jwtrefresh: refresh token reuse detected: 1 session(s) revoked (policy family)"},
		{fmt.Errorf("refresh: %w", plain), "refresh: jwtrefresh: refresh token reuse detected: 3 session(s) revoked (policy subject)"},
	} {
		var re *jwtrefresh.ReuseError
		if !errors.Is(tc.err, jwtrefresh.ErrReuseDetected) || !errors.As(tc.err, &re) || re.Subject != "alice" {
			t.Errorf("%v: not a reuse error naming alice", tc.err)
		}
		if errors.Is(tc.err, session.ErrUnavailable) || errors.Is(tc.err, session.ErrInvalidToken) {
			t.Errorf("%v matches another sentinel", tc.err)
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
	all := []error{session.ErrInvalidToken, jwtrefresh.ErrReuseDetected, session.ErrUnavailable,
		session.ErrNotFound, session.ErrInvalidInput, session.ErrInvalidSecret,
		jwtrefresh.ErrInvalidConfig, jwtrefresh.ErrSubjectRefused, jwtrefresh.ErrClaimsUnavailable}
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
	l.Log(t.Context(), slog.LevelWarn, "session", "event", e)
	want := "level=WARN msg=session event.kind=reuse_detected event.sub=alice event.sid=sid event.gen=3 event.revoked=2\n"
	if buf.String() != want {
		t.Fatalf("got  %q\nwant %q", buf.String(), want)
	}
	for k, name := range map[jwtrefresh.EventKind]string{
		jwtrefresh.EventLogin: "login", jwtrefresh.EventRotate: "rotate", jwtrefresh.EventReplay: "replay",
		jwtrefresh.EventRevoke: "revoke", jwtrefresh.EventRevokeAll: "revoke_all", jwtrefresh.EventEvict: "evict",
		jwtrefresh.EventTampered: "tampered", jwtrefresh.EventHealed: "healed",
	} {
		if string(k) != name {
			t.Errorf("%q, want %q", k, name)
		}
	}
}
