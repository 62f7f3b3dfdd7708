package session_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/jwtrefresh/jwtrefresh/storetest"
)

func secrets(t testing.TB, all ...session.Secret) *session.Secrets {
	t.Helper()
	s, err := session.NewSecrets(all[0], all[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func secret(version uint32, fill byte) session.Secret {
	return session.Secret{Version: version, Value: bytes.Repeat([]byte{fill, fill + 1}, 16)}
}

// token returns a first token under version: random family and proof.
func token(version uint32) session.Token {
	t := session.Token{Version: version, Generation: 1}
	_, _ = rand.Read(t.Subject[:])
	_, _ = rand.Read(t.Family[:])
	_, _ = rand.Read(t.Proof[:])
	return t
}

func TestNewSecrets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		current session.Secret
		older   []session.Secret
		ok      bool
	}{
		{"One", secret(1, 'a'), nil, true},
		{"Two", secret(2, 'b'), []session.Secret{secret(1, 'a')}, true},
		{"Short", session.Secret{Version: 1, Value: make([]byte, 31)}, nil, false},
		{"Nil", session.Secret{Version: 1}, nil, false},
		{"ShortOlder", secret(2, 'b'), []session.Secret{{Version: 1, Value: []byte("x")}}, false},
		{"DuplicateVersion", secret(1, 'b'), []session.Secret{secret(1, 'a')}, false},
		{"AllZero", session.Secret{Version: 1, Value: make([]byte, 32)}, nil, false},
		{"OneByteRepeated", session.Secret{Version: 1, Value: bytes.Repeat([]byte{'a'}, 64)}, nil, false},
		{"OlderAllZero", secret(2, 'b'), []session.Secret{{Version: 1, Value: make([]byte, 32)}}, false},
		{"LastByteDiffers", session.Secret{Version: 1, Value: append(make([]byte, 31), 1)}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := session.NewSecrets(tc.current, tc.older...)
			if !tc.ok {
				if !errors.Is(err, session.ErrInvalidSecret) {
					t.Fatalf("error %v, want ErrInvalidSecret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// New children are made under the current secret.
			rot, err := s.Rotation(token(tc.current.Version), "")
			if err != nil || rot.Child.Version != tc.current.Version {
				t.Fatalf("child under version %d, %v; want %d", rot.Child.Version, err, tc.current.Version)
			}
		})
	}
	var zero session.Secrets
	if _, err := zero.Rotation(token(1), ""); !errors.Is(err, session.ErrInvalidSecret) {
		t.Fatalf("a zero Secrets: %v, want ErrInvalidSecret", err)
	}
}

func TestSecretsCopyValues(t *testing.T) {
	k := secret(1, 'a')
	s := secrets(t, k)
	tok, _ := s.Encode(token(1))
	k.Value[0] = 'z'
	if _, err := s.Parse(tok); err != nil {
		t.Fatalf("changing the caller's slice changed the secrets: %v", err)
	}
}

func TestEncodeParseRoundTrip(t *testing.T) {
	s := secrets(t, secret(1, 'a'))
	tok := token(1)
	enc, err := s.Encode(tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) != len(session.TokenPrefix)+144 || !strings.HasPrefix(enc, session.TokenPrefix) {
		t.Fatalf("token %q", enc)
	}
	got, err := s.Parse(enc)
	if err != nil || got != tok {
		t.Fatalf("Parse = %+v, %v; want %+v", got, err, tok)
	}
	if _, err := s.Encode(session.Token{Version: 9}); !errors.Is(err, session.ErrInvalidSecret) {
		t.Fatalf("Encode under an unknown version: %v", err)
	}
}

func TestChild(t *testing.T) {
	s := secrets(t, secret(2, 'b'), secret(1, 'a'))
	p := token(1)
	c1, err1 := s.Child(p, 2)
	c2, err2 := s.Child(p, 2)
	if err1 != nil || err2 != nil || c1 != c2 {
		t.Fatal("Child is not deterministic")
	}
	if c1.Generation != 2 || c1.Family != p.Family || c1.Subject != p.Subject || c1.Proof == p.Proof || c1.Version != 2 {
		t.Fatalf("child %+v of %+v", c1, p)
	}
	if c, _ := s.Child(p, 1); c.Proof == c1.Proof {
		t.Fatal("children under different secrets share a proof")
	}
	if _, err := s.Child(p, 3); !errors.Is(err, session.ErrInvalidToken) {
		t.Fatalf("Child under an unknown version: %v", err)
	}
	if c, _ := secrets(t, secret(2, 'c')).Child(p, 2); c.Proof == c1.Proof {
		t.Fatal("the child's proof does not depend on the secret")
	}
	rot, err := s.Rotation(p, "")
	if err != nil || rot.Child != c1 || rot.Presented != p {
		t.Fatalf("Rotation: %+v, %v", rot, err)
	}
	if g, _ := s.Child(c1, 2); rot.Grandchild != g {
		t.Fatalf("Rotation's grandchild %+v, want the child's child %+v", rot.Grandchild, g)
	}
}

// TestIndex: subject ids are keyed by the stored index key, not by the
// secret version: every secrets that reach the same key agree.
func TestIndex(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewMemoryStore(storetest.Config{})
	k1, k2 := secret(1, 'a'), secret(2, 'b')
	x1, err := secrets(t, k1).Index(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	x21, _ := secrets(t, k2, k1).Index(ctx, st)
	x2, _ := secrets(t, k2).Index(ctx, st)
	if id := x1.SubjectID("alice"); id != x21.SubjectID("alice") || id != x2.SubjectID("alice") {
		t.Fatal("the subject id changed with the secret")
	}
	if x1.SubjectID("alice") == x1.SubjectID("bob") {
		t.Fatal("two subjects share an id")
	}
	other, _ := secrets(t, secret(1, 'z')).Index(ctx, storetest.NewMemoryStore(storetest.Config{}))
	if other.SubjectID("alice") == x1.SubjectID("alice") {
		t.Fatal("the id does not depend on the secret the index key came from")
	}
	tok, child, seal := x2.NewFamily("alice")
	if tok.Version != 2 || tok.Generation != 1 || tok.Subject != x1.SubjectID("alice") || seal == (session.SealKey{}) {
		t.Fatalf("NewFamily: %+v, seal %x", tok, seal)
	}
	if want, _ := secrets(t, k2).Child(tok, 2); child != want {
		t.Fatalf("NewFamily's child %+v, want the first token's child %+v", child, want)
	}
	// A step-1 instance (the new secret held, not yet current) stores the
	// key under the new version too: an instance that holds only the new
	// secret finds it, whatever order they start in.
	fresh := storetest.NewMemoryStore(storetest.Config{})
	x1only, _ := secrets(t, k1).Index(ctx, fresh)
	if x12, _ := secrets(t, k1, k2).Index(ctx, fresh); x12 == nil || x12.SubjectID("alice") != x1only.SubjectID("alice") {
		t.Fatal("the step-1 instance derived another index key")
	}
	if x2only, _ := secrets(t, k2).Index(ctx, fresh); x2only == nil || x2only.SubjectID("alice") != x1only.SubjectID("alice") {
		t.Fatal("an instance holding only the newer secret derived another index key")
	}
	// A stored key that does not open with the secret of its version.
	clash, _ := secrets(t, secret(1, 'q')).Index(ctx, st)
	if clash != nil {
		t.Fatal("an index key stored under another secret of version 1 opened")
	}
}

func TestParseRejects(t *testing.T) {
	s := secrets(t, secret(1, 'a'))
	good, _ := s.Encode(token(1))
	gen0 := token(1)
	gen0.Generation = 0
	zero, _ := s.Encode(gen0)
	forged, _ := secrets(t, secret(1, 'b')).Encode(token(1))
	unknown, _ := secrets(t, secret(7, 'b')).Encode(token(7))
	raw, _ := base64.RawURLEncoding.DecodeString(good[len(session.TokenPrefix):])
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return session.TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	}
	for name, tok := range map[string]string{
		"Empty":          "",
		"Prefix":         session.TokenPrefix,
		"NoPrefix":       good[len(session.TokenPrefix):],
		"WrongPrefix":    "jwtrt9_" + good[len(session.TokenPrefix):],
		"Short":          good[:len(good)-1],
		"Long":           good + "A",
		"Oversized":      strings.Repeat("A", 1<<20),
		"NotBase64":      good[:len(good)-1] + "!",
		"StdBase64":      good[:len(good)-1] + "+",
		"Generation0":    zero,
		"OtherSecret":    forged,
		"UnknownVersion": unknown,
		"ProofFlipped":   flip(len(raw) - 40),
		"MACFlipped":     flip(len(raw) - 1),
		"GenFlipped":     flip(43),
		"JWT":            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Parse(tok); !errors.Is(err, session.ErrInvalidToken) {
				t.Fatalf("Parse: %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestSessionID(t *testing.T) {
	tok := token(1)
	sid := tok.SessionID()
	raw, err := base64.RawURLEncoding.Strict().DecodeString(sid)
	if err != nil || len(sid) != session.SessionIDLen || !bytes.Equal(raw[:4], tok.Subject[:4]) || !bytes.Equal(raw[4:], tok.Family[:]) {
		t.Fatalf("SessionID %q: %x, %v", sid, raw, err)
	}
	other := tok
	other.Family[15] ^= 1
	if other.SessionID() == sid {
		t.Fatal("two families share a session id")
	}
	child := tok
	child.Generation, child.Proof[0] = 2, tok.Proof[0]^1
	if child.SessionID() != sid {
		t.Fatal("the session id changed with the generation")
	}
}

// TestSeal checks Seal against its definition, computed here with
// crypto/sha1, and that it covers each part.
func TestSeal(t *testing.T) {
	var k session.SealKey
	_, _ = rand.Read(k[:])
	sum := func(parts ...string) string {
		h := sha1.New()
		for _, p := range parts {
			h.Write([]byte(p))
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	want := sum("o", string(k[:]), sum("i", string(k[:]), "sid", "5:alice", `{"a":1}`))
	if got := k.Seal("sid", "alice", "", []byte(`{"a":1}`)); got != want {
		t.Fatalf("Seal = %s, want %s", got, want)
	}
	jkt := strings.Repeat("T", 43)
	want = sum("o", string(k[:]), sum("i", string(k[:]), "sid", "5:alice", "#"+jkt, `{"a":1}`))
	if got := k.Seal("sid", "alice", jkt, []byte(`{"a":1}`)); got != want {
		t.Fatalf("Seal of a bound record = %s, want %s", got, want)
	}
	base := k.Seal("sid", "alice", "", []byte(`{"a":1}`))
	other := k
	other[0] ^= 1
	for name, s := range map[string]string{
		"Session": k.Seal("sie", "alice", "", []byte(`{"a":1}`)),
		"Subject": k.Seal("sid", "alicf", "", []byte(`{"a":1}`)),
		"Claims":  k.Seal("sid", "alice", "", []byte(`{"a":2}`)),
		"Moved":   k.Seal("sid", "alice{", "", []byte(`"a":1}`)), // the subject's length is covered
		"Key":     other.Seal("sid", "alice", "", []byte(`{"a":1}`)),
		"Bound":   k.Seal("sid", "alice", jkt, []byte(`{"a":1}`)),
		"Rebound": k.Seal("sid", "alice", strings.Repeat("U", 43), []byte(`{"a":1}`)),
	} {
		if s == base {
			t.Errorf("%s: the seal does not cover it", name)
		}
	}
	if k.Seal("sid", "alice", jkt, nil) == k.Seal("sid", "alice", strings.Repeat("U", 43), nil) {
		t.Error("the seal does not cover the key thumbprint")
	}
}

// TestIdempotencyKey: the keys a rotation accepts, and that equal keys
// give equal hashes while no key gives a random one.
func TestIdempotencyKey(t *testing.T) {
	s := secrets(t, secret(1, 'a'))
	tok := token(1)
	atMin := strings.Repeat("k", session.MinIdempotencyKeyLen)
	for _, tc := range []struct {
		name, key string
		ok        bool
	}{
		{"None", "", true},
		{"OneChar", "1", false},
		{"OneShort", atMin[1:], false},
		{"QuotedOneShort", `"` + atMin[1:] + `"`, false},
		{"Minimum", atMin, true},
		{"QuotedMinimum", `"` + atMin + `"`, true},
		{"RandText", rand.Text(), true},
		{"Maximum", strings.Repeat("k", session.MaxIdempotencyKeyLen), true},
		{"TooLong", strings.Repeat("k", session.MaxIdempotencyKeyLen+1), false},
		{"Control", atMin + "\n", false},
		{"NotASCII", atMin + "é", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Rotation(tok, tc.key)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, session.ErrInvalidInput)) {
				t.Fatalf("Rotation: %v, want ok=%v or ErrInvalidInput", err, tc.ok)
			}
			if err != nil && tc.key != "1" && strings.Contains(err.Error(), tc.key) {
				t.Fatalf("the error quotes the key: %v", err)
			}
		})
	}
	a, _ := s.Rotation(tok, atMin)
	b, _ := s.Rotation(tok, atMin)
	c, _ := s.Rotation(tok, atMin+"x")
	n1, _ := s.Rotation(tok, "")
	n2, _ := s.Rotation(tok, "")
	if a.KeyHash != b.KeyHash || a.KeyHash == c.KeyHash || n1.KeyHash == n2.KeyHash {
		t.Fatal("key hashes: equal keys must match, others and no key must not")
	}
}

// FuzzParse: Parse never panics, accepts only MAC-valid tokens, and what
// it accepts encodes back to the same string.
func FuzzParse(f *testing.F) {
	s := secrets(f, secret(1, 'a'))
	good, _ := s.Encode(token(1))
	f.Add(good)
	f.Add("")
	f.Add(session.TokenPrefix)
	f.Add(good[:len(good)-1] + "B")
	f.Fuzz(func(t *testing.T, in string) {
		tok, err := s.Parse(in)
		if err != nil {
			if !errors.Is(err, session.ErrInvalidToken) {
				t.Fatalf("error %v is not ErrInvalidToken", err)
			}
			return
		}
		back, err := s.Encode(tok)
		if err != nil || back != in {
			t.Fatalf("accepted %q but it encodes to %q (%v)", in, back, err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	s := secrets(b, secret(1, 'a'))
	enc, _ := s.Encode(token(1))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Parse(enc); err != nil {
			b.Fatal(err)
		}
	}
}
