package session_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jwtrefresh/jwtrefresh/session"
)

func TestNewSessionValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   session.NewSession
		ok   bool
	}{
		{"Minimal", session.NewSession{Subject: "a"}, true},
		{"Claims", session.NewSession{Subject: "a", Claims: []byte(` {"x":1} `)}, true},
		{"EmptySubject", session.NewSession{}, false},
		{"LongSubject", session.NewSession{Subject: strings.Repeat("a", session.MaxSubjectLen+1)}, false},
		{"ClaimsArray", session.NewSession{Subject: "a", Claims: []byte(`[]`)}, false},
		{"ClaimsString", session.NewSession{Subject: "a", Claims: []byte(`"x"`)}, false},
		{"ClaimsBroken", session.NewSession{Subject: "a", Claims: []byte(`{"x":`)}, false},
		{"ClaimsBlank", session.NewSession{Subject: "a", Claims: []byte(`  `)}, false},
		{"ClaimsTrailing", session.NewSession{Subject: "a", Claims: []byte(`{} {}`)}, false},
		{"SubjectUnicode", session.NewSession{Subject: "zoë@example.com"}, true},
		{"SubjectNotUTF8", session.NewSession{Subject: "zo\xeb@example.com"}, false},
		{"SubjectSurrogate", session.NewSession{Subject: "a\xed\xa0\x80"}, false},
		{"ClaimsUnicode", session.NewSession{Subject: "a", Claims: []byte(`{"name":"Zoë"}`)}, true},
		{"ClaimsNotUTF8", session.NewSession{Subject: "a", Claims: []byte("{\"name\":\"Zo\xeb\"}")}, false},
		{"ClaimsKeyNotUTF8", session.NewSession{Subject: "a", Claims: []byte("{\"\xff\":1}")}, false},
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
			if !errors.Is(err, session.ErrInvalidInput) {
				t.Fatalf("error %v, want ErrInvalidInput", err)
			}
		})
	}
	long := session.NewSession{Subject: "a", Client: session.ClientInfo{
		UserAgent: strings.Repeat("€", maxClientInfoLen), IP: "192.0.2.1", Device: strings.Repeat("d", 600)}}
	out, err := long.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if ua := out.Client.UserAgent; len(ua) > maxClientInfoLen || !utf8.ValidString(ua) || len(ua) < maxClientInfoLen-2 {
		t.Fatalf("user agent cut to %d bytes, valid UTF-8 %v", len(ua), utf8.ValidString(ua))
	}
	if out.Client.IP != "192.0.2.1" || len(out.Client.Device) != maxClientInfoLen {
		t.Fatalf("client %+v", out.Client)
	}
	// Client info comes from headers: invalid bytes are replaced, not
	// refused, and the cut still keeps everything up to the limit.
	latin1 := session.NewSession{Subject: "a", Client: session.ClientInfo{
		UserAgent: "caf\xe9/" + strings.Repeat("u", 600), Device: "\xff"}}
	out, err = latin1.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if ua := out.Client.UserAgent; !strings.HasPrefix(ua, "caf\uFFFD/uuu") || !utf8.ValidString(ua) ||
		len(ua) != maxClientInfoLen {
		t.Fatalf("user agent %q (%d bytes): want U+FFFD for the invalid byte, cut to %d bytes", ua, len(ua), maxClientInfoLen)
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
		out, err := session.NewSession{Subject: subject, Claims: claims, Client: session.ClientInfo{UserAgent: ua}}.Validate()
		if err != nil {
			if !errors.Is(err, session.ErrInvalidInput) {
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
		if u := out.Client.UserAgent; !utf8.ValidString(u) || len(u) > maxClientInfoLen {
			t.Fatalf("user agent %q (%d bytes)", u, len(u))
		}
	})
}

// maxClientInfoLen is the documented bound of each ClientInfo field.
const maxClientInfoLen = 512

// TestKeyThumbprint: a DPoP binding is "" or 43 base64url characters,
// which keeps the record encoding unambiguous.
func TestKeyThumbprint(t *testing.T) {
	for jkt, ok := range map[string]bool{
		"":                                     true,
		strings.Repeat("A", 42) + "_":          true,
		strings.Repeat("A", 42) + "-":          true,
		strings.Repeat("A", 42):                false,
		strings.Repeat("A", 44):                false,
		strings.Repeat("A", 42) + "=":          false,
		strings.Repeat("A", 42) + "{":          false,
		strings.Repeat("A", 42) + "\u00e9"[:1]: false,
	} {
		_, err := session.NewSession{Subject: "alice", KeyThumbprint: jkt}.Validate()
		if (err == nil) != ok || (err != nil && !errors.Is(err, session.ErrInvalidInput)) {
			t.Errorf("KeyThumbprint %q: %v, want ok=%v", jkt, err, ok)
		}
	}
}
