package jwtrefresh_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
)

func ring(t testing.TB, keys ...jwtrefresh.RefreshKey) *jwtrefresh.RefreshKeyring {
	t.Helper()
	r, err := jwtrefresh.NewRefreshKeyring(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func key(version uint32, fill byte) jwtrefresh.RefreshKey {
	return jwtrefresh.RefreshKey{Version: version, Secret: bytes.Repeat([]byte{fill, fill + 1}, 16)}
}

func TestNewRefreshKeyring(t *testing.T) {
	for _, tc := range []struct {
		name    string
		current jwtrefresh.RefreshKey
		older   []jwtrefresh.RefreshKey
		ok      bool
	}{
		{"OneKey", key(1, 'a'), nil, true},
		{"TwoKeys", key(2, 'b'), []jwtrefresh.RefreshKey{key(1, 'a')}, true},
		{"Short", jwtrefresh.RefreshKey{Version: 1, Secret: make([]byte, 31)}, nil, false},
		{"Nil", jwtrefresh.RefreshKey{Version: 1}, nil, false},
		{"ShortOlder", key(2, 'b'), []jwtrefresh.RefreshKey{{Version: 1, Secret: []byte("x")}}, false},
		{"DuplicateVersion", key(1, 'b'), []jwtrefresh.RefreshKey{key(1, 'a')}, false},
		{"AllZero", jwtrefresh.RefreshKey{Version: 1, Secret: make([]byte, 32)}, nil, false},
		{"OneByteRepeated", jwtrefresh.RefreshKey{Version: 1, Secret: bytes.Repeat([]byte{'a'}, 64)}, nil, false},
		{"OlderAllZero", key(2, 'b'), []jwtrefresh.RefreshKey{{Version: 1, Secret: make([]byte, 32)}}, false},
		{"LastByteDiffers", jwtrefresh.RefreshKey{Version: 1, Secret: append(make([]byte, 31), 1)}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := jwtrefresh.NewRefreshKeyring(tc.current, tc.older...)
			if tc.ok {
				if err != nil || r.CurrentVersion() != tc.current.Version {
					t.Fatalf("got %v, %v", r, err)
				}
				return
			}
			if !errors.Is(err, jwtrefresh.ErrInvalidKey) {
				t.Fatalf("error %v, want ErrInvalidKey", err)
			}
		})
	}
}

func TestKeyringCopiesSecrets(t *testing.T) {
	k := key(1, 'a')
	r := ring(t, k)
	tok, _ := r.Encode(r.NewFamily("alice"))
	k.Secret[0] = 'z'
	if _, err := r.Parse(tok); err != nil {
		t.Fatalf("changing the caller's slice changed the ring: %v", err)
	}
}

func TestEncodeParseRoundTrip(t *testing.T) {
	r := ring(t, key(1, 'a'))
	tok := r.NewFamily("alice")
	s, err := r.Encode(tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != jwtrefresh.RefreshTokenLen || !strings.HasPrefix(s, jwtrefresh.RefreshTokenPrefix) {
		t.Fatalf("token %q", s)
	}
	got, err := r.Parse(s)
	if err != nil || got != tok {
		t.Fatalf("Parse = %+v, %v; want %+v", got, err, tok)
	}
	if tok.Generation != 1 || tok.Subject != r.SubjectID("alice") {
		t.Fatalf("new family %+v", tok)
	}
	if _, err := r.Encode(jwtrefresh.RefreshToken{KeyVersion: 9}); !errors.Is(err, jwtrefresh.ErrInvalidKey) {
		t.Fatalf("Encode under an unknown version: %v", err)
	}
}

func TestChild(t *testing.T) {
	r := ring(t, key(2, 'b'), key(1, 'a'))
	p := r.NewFamily("alice")
	c1, ok1 := r.Child(p, 2)
	c2, ok2 := r.Child(p, 2)
	if !ok1 || !ok2 || c1 != c2 {
		t.Fatal("Child is not deterministic")
	}
	if c1.Generation != 2 || c1.Family != p.Family || c1.Subject != p.Subject || c1.Secret == p.Secret || c1.KeyVersion != 2 {
		t.Fatalf("child %+v of %+v", c1, p)
	}
	if c, _ := r.Child(p, 1); c.Secret == c1.Secret {
		t.Fatal("children under different keys share a secret")
	}
	if _, ok := r.Child(p, 3); ok {
		t.Fatal("Child under an unknown key version succeeded")
	}
	other := ring(t, key(2, 'c'))
	if c, _ := other.Child(p, 2); c.Secret == c1.Secret {
		t.Fatal("child secret does not depend on the key")
	}
}

func TestSubjectIDs(t *testing.T) {
	r := ring(t, key(2, 'b'), key(1, 'a'))
	ids := r.SubjectIDs("alice")
	if len(ids) != 2 || ids[0] != r.SubjectID("alice") || ids[0] == ids[1] {
		t.Fatalf("SubjectIDs = %v", ids)
	}
	if r.SubjectID("alice") == r.SubjectID("bob") {
		t.Fatal("two subjects share an id")
	}
	id := r.SubjectID("alice")
	if got := id.SlotTag().String(); len(got) != 8 || got != id.String()[:8] {
		t.Fatalf("tag %q of id %s, want its first 8 hex digits", got, id)
	}
	if ring(t, key(1, 'z')).SubjectID("alice") == ring(t, key(1, 'a')).SubjectID("alice") {
		t.Fatal("the id does not depend on the key")
	}
}

func TestParseRejects(t *testing.T) {
	r := ring(t, key(1, 'a'))
	good, _ := r.Encode(r.NewFamily("alice"))
	gen0 := r.NewFamily("alice")
	gen0.Generation = 0
	zero, _ := r.Encode(gen0)
	forged, _ := ring(t, key(1, 'b')).Encode(r.NewFamily("alice"))
	for name, s := range map[string]string{
		"Empty":       "",
		"Prefix":      jwtrefresh.RefreshTokenPrefix,
		"NoPrefix":    good[len(jwtrefresh.RefreshTokenPrefix):],
		"Short":       good[:len(good)-1],
		"Long":        good + "A",
		"NotBase64":   good[:len(good)-1] + "!",
		"StdBase64":   good[:len(good)-1] + "+",
		"Generation0": zero,
		"OtherKey":    forged,
		"JWT":         "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := r.Parse(s); !errors.Is(err, jwtrefresh.ErrInvalidToken) {
				t.Fatalf("Parse: %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestSessionID(t *testing.T) {
	r := ring(t, key(1, 'a'))
	tok := r.NewFamily("alice")
	sid := tok.SessionID()
	tag, fam, err := jwtrefresh.ParseSessionID(sid)
	if err != nil || tag != tok.Subject.SlotTag() || fam != tok.Family || len(sid) != jwtrefresh.SessionIDLen {
		t.Fatalf("ParseSessionID(%q) = %v %v %v", sid, tag, fam, err)
	}
	// The last character carries 2 unused bits: only one spelling is valid.
	last := sid[len(sid)-1]
	alt := sid[:len(sid)-1] + string(rune(last^1))
	for _, bad := range []string{"", "x", sid + "A", alt, strings.Repeat("!", jwtrefresh.SessionIDLen)} {
		if _, _, err := jwtrefresh.ParseSessionID(bad); !errors.Is(err, jwtrefresh.ErrSessionNotFound) {
			t.Errorf("ParseSessionID(%q): %v", bad, err)
		}
	}
}

// FuzzParse: Parse never panics, accepts only MAC-valid tokens, and what it
// accepts encodes back to the same string.
func FuzzParse(f *testing.F) {
	r := ring(f, key(1, 'a'))
	good, _ := r.Encode(r.NewFamily("alice"))
	f.Add(good)
	f.Add("")
	f.Add(jwtrefresh.RefreshTokenPrefix)
	f.Add(good[:len(good)-1] + "B")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := r.Parse(s)
		if err != nil {
			if !errors.Is(err, jwtrefresh.ErrInvalidToken) {
				t.Fatalf("error %v is not ErrInvalidToken", err)
			}
			return
		}
		back, err := r.Encode(tok)
		if err != nil || back != s {
			t.Fatalf("accepted %q but it encodes to %q (%v)", s, back, err)
		}
	})
}

// FuzzParseSessionID: never panics; accepted ids are canonical.
func FuzzParseSessionID(f *testing.F) {
	f.Add(ring(f, key(1, 'a')).NewFamily("a").SessionID())
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tag, fam, err := jwtrefresh.ParseSessionID(s)
		if err != nil {
			return
		}
		var id jwtrefresh.SubjectID
		copy(id[:], tag[:])
		if got := (jwtrefresh.RefreshToken{Subject: id, Family: fam}).SessionID(); got != s {
			t.Fatalf("accepted %q, canonical form %q", s, got)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	r := ring(b, key(1, 'a'))
	s, _ := r.Encode(r.NewFamily("alice"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}
