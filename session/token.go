package session

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

// TokenPrefix starts every refresh token of format version 1, so that
// secret scanners find leaked tokens (`jwtrt1_[A-Za-z0-9_-]{144}`); a later
// format gets a new prefix, and no one is logged out by an upgrade.
const TokenPrefix = "jwtrt1_"

// tokenLen is the length of every format-1 refresh token.
const tokenLen = len(TokenPrefix) + (rawLen*8+5)/6

// Layout of a decoded format-1 token:
// version | subject id | family id | generation | proof | MAC.
const (
	offVersion = 0
	offSubject = offVersion + 4
	offFamily  = offSubject + len(SubjectID{})
	offGen     = offFamily + 16
	offProof   = offGen + 8
	offMAC     = offProof + 32
	rawLen     = offMAC + sha256.Size
)

// Strict: one string per value, so two spellings never name one session.
var b64 = base64.RawURLEncoding.Strict()

// SubjectID names a subject's sessions in a store: a keyed hash of the
// subject (see [Index]), never the subject itself. Its first 4 bytes are
// the subject's slot tag: a store may keep everything of one subject
// together by it (Redis Cluster hash slots).
type SubjectID [16]byte

// Token is a decoded refresh token whose MAC was verified (or that was
// just made). Stores receive it inside a [Rotation]; they keep only a hash
// of Proof, which is a credential.
type Token struct {
	Version    uint32    // of the secret that MACs the token
	Subject    SubjectID // whose session it is
	Family     [16]byte  // the session: random at login
	Generation uint64    // 1 at login, +1 per rotation
	// Proof is what the holder proves possession with: random at login,
	// derived from the parent's proof under the secret afterwards (so a
	// replay recomputes the child instead of storing it).
	Proof [32]byte
}

// SessionIDLen is the length of every session id.
const SessionIDLen = (20*8 + 5) / 6

// SessionID is the public id of the token's session (the `sid` of access
// tokens): base64url of the slot tag and the family. It carries no secret:
// every refresh needs a MAC-verified token.
func (t Token) SessionID() string {
	var raw [20]byte
	copy(raw[:4], t.Subject[:4])
	copy(raw[4:], t.Family[:])
	var b [SessionIDLen]byte
	return string(b64.AppendEncode(b[:0], raw[:]))
}

// Parse decodes a refresh token and verifies its MAC. Every failure
// (length, prefix, encoding, unknown secret version, MAC mismatch,
// generation 0) is [ErrInvalidToken], with the reason but never the token.
// It does no I/O: a forged token never reaches a store.
func (s *Secrets) Parse(token string) (Token, error) {
	if len(token) != tokenLen || !strings.HasPrefix(token, TokenPrefix) {
		return Token{}, fmt.Errorf("%w: not a format-1 refresh token", ErrInvalidToken)
	}
	var raw [rawLen]byte
	if n, err := b64.Decode(raw[:], []byte(token[len(TokenPrefix):])); err != nil || n != rawLen {
		return Token{}, fmt.Errorf("%w: bad encoding", ErrInvalidToken)
	}
	t := Token{Version: binary.BigEndian.Uint32(raw[offVersion:])}
	k := s.secret(t.Version)
	if k == nil {
		return Token{}, fmt.Errorf("%w: unknown secret version", ErrInvalidToken)
	}
	var sum [sha256.Size]byte
	if subtle.ConstantTimeCompare(k.macOf(sum[:0], raw[:offMAC]), raw[offMAC:]) != 1 {
		return Token{}, fmt.Errorf("%w: MAC mismatch", ErrInvalidToken)
	}
	copy(t.Subject[:], raw[offSubject:])
	copy(t.Family[:], raw[offFamily:])
	t.Generation = binary.BigEndian.Uint64(raw[offGen:])
	copy(t.Proof[:], raw[offProof:])
	if t.Generation == 0 {
		return Token{}, fmt.Errorf("%w: generation 0", ErrInvalidToken)
	}
	return t, nil
}

// Encode returns the token string: TokenPrefix, then base64url of the
// fields and a MAC over the prefix and the fields. It fails with
// [ErrInvalidSecret] when t.Version is not one of the secrets.
func (s *Secrets) Encode(t Token) (string, error) {
	k := s.secret(t.Version)
	if k == nil {
		return "", fmt.Errorf("%w: unknown version %d", ErrInvalidSecret, t.Version)
	}
	var raw [rawLen]byte
	t.putFields(raw[:offMAC])
	k.macOf(raw[offMAC:offMAC], raw[:offMAC])
	var out [tokenLen]byte
	copy(out[:], TokenPrefix)
	b64.Encode(out[len(TokenPrefix):], raw[:])
	return string(out[:]), nil
}

// putFields writes the token's fields into b (offMAC bytes).
func (t Token) putFields(b []byte) {
	binary.BigEndian.PutUint32(b[offVersion:], t.Version)
	copy(b[offSubject:], t.Subject[:])
	copy(b[offFamily:], t.Family[:])
	binary.BigEndian.PutUint64(b[offGen:], t.Generation)
	copy(b[offProof:], t.Proof[:])
}

func (k *derived) macOf(dst, body []byte) []byte {
	return k.mac.sum(dst, []byte(TokenPrefix), body)
}

// Child returns the token that replaces parent when it rotates, under
// secret version: the next generation of the same family, its proof
// derived from the parent's. The derivation is deterministic, so a replay
// gets the byte-identical child without any token being stored. It fails
// with [ErrInvalidToken] when version is not one of the secrets.
func (s *Secrets) Child(parent Token, version uint32) (Token, error) {
	k := s.secret(version)
	if k == nil {
		return Token{}, fmt.Errorf("%w: its successor's secret version %d was retired", ErrInvalidToken, version)
	}
	child := parent
	child.Version = version
	child.Generation = parent.Generation + 1
	var in [offMAC]byte
	child.Proof = parent.Proof
	child.putFields(in[:])
	var sum [sha256.Size]byte
	copy(child.Proof[:], k.child.sum(sum[:0], in[:]))
	return child, nil
}

// newFamily returns the first token of a new session of the subject id:
// a random family and proof, generation 1, under the current secret.
func (s *Secrets) newFamily(id SubjectID) Token {
	t := Token{Version: s.current.version, Subject: id, Generation: 1}
	// crypto/rand.Read never fails as of Go 1.24.
	_, _ = rand.Read(t.Family[:])
	_, _ = rand.Read(t.Proof[:])
	return t
}
