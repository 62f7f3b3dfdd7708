package keys

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// signRaw signs claims with an arbitrary method, key and header, the way an
// attacker would.
func signRaw(t *testing.T, m jwt.SigningMethod, key any, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims())
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKeyfunc(t *testing.T) {
	ks := privateKeys()
	hs, ed, rs := ks[0], ks[1], ks[3]
	rsPub, _ := rs.Public()
	pubDER, err := x509.MarshalPKIXPublicKey(rsPub.verify)
	if err != nil {
		t.Fatal(err)
	}
	rsPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	single := must(NewSet(rsPub))
	several := must(NewSet(ed, hs, rsPub))

	tests := []struct {
		name string
		set  *Set
		tok  string
		want error // nil: accepted
	}{
		{"kid of each key", several, must(ed.signClaims(claims())), nil},
		{"older key still verifies", several, must(hs.signClaims(claims())), nil},
		{"alg none", several, signRaw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"kid": "ed"}), ErrAlgorithmMismatch},
		{"alg none without kid on one key", single, signRaw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil), ErrAlgorithmMismatch},
		{"HS256 with the RSA public key's bytes", single, signRaw(t, jwt.SigningMethodHS256, rsPubPEM, map[string]any{"kid": "rs"}), ErrAlgorithmMismatch},
		{"HS256 with the RSA public key's bytes, no kid", single, signRaw(t, jwt.SigningMethodHS256, rsPubPEM, nil), ErrAlgorithmMismatch},
		{"RS256 under the HMAC key's kid", several, signRaw(t, jwt.SigningMethodRS256, rsaKey(), map[string]any{"kid": "hs"}), ErrAlgorithmMismatch},
		{"unknown kid", several, signRaw(t, jwt.SigningMethodEdDSA, edKey(), map[string]any{"kid": "nope"}), ErrUnknownKID},
		{"kid not a string", several, signRaw(t, jwt.SigningMethodEdDSA, edKey(), map[string]any{"kid": 7}), ErrUnknownKID},
		{"no kid, one key: accepted", single, signRaw(t, jwt.SigningMethodRS256, rsaKey(), nil), nil},
		{"no kid, several keys: refused", several, signRaw(t, jwt.SigningMethodEdDSA, edKey(), nil), errKIDRequired},
		{"empty set", new(Set), must(ed.signClaims(claims())), ErrNoKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parse(tt.set, tt.tok)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSetReplace(t *testing.T) {
	ks := privateKeys()
	hs, ed, es := ks[0], ks[1], ks[2]
	var s Set
	if g := s.Generation(); g != 0 {
		t.Fatalf("zero set generation %d", g)
	}
	if _, err := s.Sign(claims()); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("zero set signed: %v", err)
	}
	if err := s.Replace(hs); err != nil {
		t.Fatal(err)
	}
	oldTok := must(s.Sign(claims()))
	g1 := s.Generation()

	// Rotate: ed becomes current, hs keeps verifying.
	if err := s.Replace(ed, hs); err != nil {
		t.Fatal(err)
	}
	if g2 := s.Generation(); g2 <= g1 {
		t.Fatalf("generation %d after %d", g2, g1)
	}
	newTok := must(s.Sign(claims()))
	if k, _ := jwt.NewParser().Parse(newTok, s.Keyfunc); k.Header["kid"] != "ed" {
		t.Fatalf("signed with %v, want the current key", k.Header["kid"])
	}
	for _, tok := range []string{oldTok, newTok} {
		if err := parse(&s, tok); err != nil {
			t.Fatalf("verify after rotation: %v", err)
		}
	}
	// Retire hs: its tokens stop verifying.
	if err := s.Replace(ed); err != nil {
		t.Fatal(err)
	}
	if err := parse(&s, oldTok); !errors.Is(err, ErrUnknownKID) {
		t.Fatalf("retired key still verifies: %v", err)
	}

	// A bad replacement leaves the set and its generation unchanged.
	g := s.Generation()
	for name, args := range map[string][]*Key{
		"duplicate kid": {es, es},
		"nil key":       {es, nil},
		"zero key":      {es, {}},
	} {
		if err := s.Replace(args...); err == nil {
			t.Fatalf("%s accepted", name)
		}
	}
	if s.Generation() != g || s.Current() != ed || len(s.Keys()) != 1 {
		t.Fatal("failed Replace changed the set")
	}
	if k, err := s.Resolve("ed", EdDSA); err != nil || k != ed {
		t.Fatalf("Resolve(ed) = %v, %v", k, err)
	}
}

func TestSetPublic(t *testing.T) {
	ks := privateKeys()
	s := must(NewSet(ks...))
	pub, err := s.Public()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pub.Keys()); n != 3 {
		t.Fatalf("public view has %d keys, want 3 (HMAC left out)", n)
	}
	for _, k := range pub.Keys() {
		if k.CanSign() || k.symmetric() {
			t.Fatalf("public view holds signing key %q", k.KID())
		}
	}
	for _, k := range ks[1:] {
		if err := parse(pub, must(k.signClaims(claims()))); err != nil {
			t.Fatalf("%s: %v", k.KID(), err)
		}
	}
	if _, err := pub.Sign(claims()); !errors.Is(err, ErrCannotSign) {
		t.Fatalf("public view signed: %v", err)
	}
	if _, err := must(NewSet(ks[0])).Public(); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("HMAC-only public view: %v", err)
	}
}

// TestSetRotationUnderLoad verifies tokens from many goroutines while keys
// rotate. The signing key stays in every snapshot, so every verification
// must succeed, and the generation must end exactly at the number of
// replacements.
func TestSetRotationUnderLoad(t *testing.T) {
	ks := privateKeys()
	hs, ed := ks[0], ks[1]
	s := must(NewSet(hs))
	tok := must(s.Sign(claims()))
	const readers, perReader, rotations = 8, 200, 100
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perReader {
				if parse(s, tok) == nil {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	for i := range rotations {
		var err error
		if i%2 == 0 {
			err = s.Replace(ed, hs)
		} else {
			err = s.Replace(hs)
		}
		if err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	if ok.Load() != readers*perReader || failed.Load() != 0 {
		t.Fatalf("ok=%d failed=%d, want %d and 0", ok.Load(), failed.Load(), readers*perReader)
	}
	if g := s.Generation(); g != rotations+1 {
		t.Fatalf("generation %d, want %d", g, rotations+1)
	}
}

func TestResolveAndVerify(t *testing.T) {
	ks := privateKeys()
	hs, ed := ks[0], ks[1]
	one := must(NewSet(ed))
	two := must(NewSet(ed, hs))
	tests := []struct {
		name     string
		set      *Set
		kid, alg string
		want     *Key
		err      error
	}{
		{"by kid", two, "hs", HS256, hs, nil},
		{"no kid, one key", one, "", EdDSA, ed, nil},
		{"no kid, two keys", two, "", EdDSA, nil, errKIDRequired},
		{"unknown kid", two, "zz", EdDSA, nil, ErrUnknownKID},
		{"alg of another key", two, "hs", EdDSA, nil, ErrAlgorithmMismatch},
		{"alg none", one, "", "none", nil, ErrAlgorithmMismatch},
		{"empty set", new(Set), "ed", EdDSA, nil, ErrNoKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := tt.set.Resolve(tt.kid, tt.alg)
			if k != tt.want || !errors.Is(err, tt.err) {
				t.Fatalf("got (%v, %v), want (%v, %v)", k, err, tt.want, tt.err)
			}
		})
	}
	tok := must(ed.signClaims(claims()))
	dot := strings.LastIndexByte(tok, '.')
	sig := must(base64.RawURLEncoding.DecodeString(tok[dot+1:]))
	if err := ed.Verify(tok[:dot], sig); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := ed.Verify(tok[:dot]+"x", sig); err == nil {
		t.Fatal("Verify accepted a changed input")
	}
	if err := hs.Verify(tok[:dot], sig); err == nil {
		t.Fatal("another key verified the signature")
	}
}

// TestReplaceWithSameKeys: replacing the keys with identical ones, as a
// JWKS poll does every few minutes, keeps the generation (so caches of
// verified tokens survive); any real change advances it.
func TestReplaceWithSameKeys(t *testing.T) {
	ks := privateKeys() // hs, ed, es, rs
	hs, ed, es := ks[0], ks[1], ks[2]
	// Equal keys built again from the same material: other pointers.
	hs2 := must(NewHS256("hs", secret32))
	ed2 := must(NewEdDSA("ed", edKey()))
	edPub, _ := ed.Public()
	otherSecret := must(NewHS256("hs", []byte("another-secret-another-secret-32")))
	otherKID := must(NewEdDSA("ed-2", edKey()))

	s := must(NewSet(ed, hs))
	start := s.Generation()
	tests := []struct {
		name    string
		keys    []*Key
		changed bool
	}{
		{"same pointers", []*Key{ed, hs}, false},
		{"equal keys built again", []*Key{ed2, hs2}, false},
		{"a key added", []*Key{ed, hs, es}, true},
		{"order of older keys", []*Key{ed, es, hs}, true},
		{"a key removed", []*Key{ed, hs}, true},
		{"swapped", []*Key{hs, ed}, true},
		{"back again", []*Key{ed, hs}, true},
		{"public form of the signing key", []*Key{edPub, hs}, true},
		{"private again", []*Key{ed2, hs2}, true},
		{"other secret, same kid", []*Key{ed, otherSecret}, true},
		{"other kid, same key", []*Key{otherKID, otherSecret}, true},
		{"a key retired", []*Key{otherKID}, true},
		{"unchanged", []*Key{otherKID}, false},
	}
	want := start
	for _, tt := range tests {
		if err := s.Replace(tt.keys...); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.changed {
			want++
		}
		if g := s.Generation(); g != want {
			t.Fatalf("%s: generation %d, want %d", tt.name, g, want)
		}
		if got := s.Keys(); !slices.EqualFunc(got, tt.keys, (*Key).same) {
			t.Fatalf("%s: set holds %v", tt.name, got)
		}
	}

	// The resource-server side: each poll parses the same JWKS into new
	// Key values.
	issuer := must(NewSet(ed, es, hs))
	doc := must(issuer.JWKS())
	rs := must(NewSet(must(ParseJWKS(doc))...))
	g := rs.Generation()
	for range 3 {
		if err := rs.Replace(must(ParseJWKS(doc))...); err != nil {
			t.Fatal(err)
		}
	}
	if rs.Generation() != g {
		t.Fatalf("polling an unchanged JWKS moved the generation from %d to %d", g, rs.Generation())
	}
	if err := issuer.Replace(es, ed); err != nil {
		t.Fatal(err)
	}
	if err := rs.Replace(must(ParseJWKS(must(issuer.JWKS())))...); err != nil || rs.Generation() != g+1 {
		t.Fatalf("rotated JWKS: generation %d (want %d), %v", rs.Generation(), g+1, err)
	}
}

func TestNewSetFromSlice(t *testing.T) {
	ks := privateKeys()
	s := must(NewSet(ks...))
	if got := s.Keys(); !slices.Equal(got, ks) || s.Current() != ks[0] {
		t.Fatalf("NewSet(ks...) holds %v", got)
	}
	// The set keeps its own slice.
	ks[0] = ks[1]
	if s.Current() == ks[1] {
		t.Fatal("the set shares the caller's slice")
	}
	g := s.Generation()
	for _, empty := range [][]*Key{nil, {}} {
		if err := s.Replace(empty...); !errors.Is(err, ErrNoKeys) {
			t.Fatalf("Replace(%v...): %v, want ErrNoKeys", empty, err)
		}
		if _, err := NewSet(empty...); !errors.Is(err, ErrNoKeys) {
			t.Fatalf("NewSet(%v...): %v, want ErrNoKeys", empty, err)
		}
	}
	if err := s.Replace(ks[2], nil); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("Replace with a nil key: %v", err)
	}
	if s.Generation() != g || len(s.Keys()) != 4 {
		t.Fatal("a failed Replace changed the set")
	}
}
