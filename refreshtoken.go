package jwtrefresh

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

// RefreshTokenPrefix starts every refresh token of format version 1. It makes
// leaked tokens easy for secret scanners to find (regular expression
// `jwtrt1_[A-Za-z0-9_-]{144}`); a later format gets a new prefix so tokens of
// both formats can be told apart and none is logged out by an upgrade.
const RefreshTokenPrefix = "jwtrt1_"

// RefreshTokenLen is the length of every format-1 refresh token, in bytes.
// Anything longer is rejected before decoding.
const RefreshTokenLen = len(RefreshTokenPrefix) + rawTokenB64Len

// Layout of the decoded body of a format-1 token:
// key version | subject id | family id | generation | secret | MAC.
const (
	offVersion = 0
	offSubject = offVersion + 4
	offFamily  = offSubject + len(SubjectID{})
	offGen     = offFamily + len(FamilyID{})
	offSecret  = offGen + 8
	offMAC     = offSecret + 32
	rawLen     = offMAC + sha256.Size

	rawTokenB64Len = (rawLen*8 + 5) / 6
)

// Strict: one string per value, so two spellings never name one session.
var b64 = base64.RawURLEncoding.Strict()

// FamilyID identifies a session (a rotation family): 128 random bits.
type FamilyID [16]byte

// RefreshToken is a decoded, MAC-verified refresh token. It is what store
// implementations work with; applications only ever see the encoded string.
// Its Secret is a credential: never log a RefreshToken.
type RefreshToken struct {
	KeyVersion uint32    // the key that MACs this token
	Subject    SubjectID // the subject's id under the key the session began with
	Family     FamilyID  // the session
	Generation uint64    // 1 at login, +1 per rotation
	Secret     [32]byte  // random at login, derived from the parent afterwards
}

// NewFamily returns the first token of a new session of subject: a random
// family id and secret, generation 1, under the current key.
func (r *RefreshKeyring) NewFamily(subject string) RefreshToken {
	t := RefreshToken{
		KeyVersion: r.current.version,
		Subject:    r.current.subjectID(subject),
		Generation: 1,
	}
	// crypto/rand.Read never fails as of Go 1.24 (it crashes the program
	// instead of returning weak randomness).
	_, _ = rand.Read(t.Family[:])
	_, _ = rand.Read(t.Secret[:])
	return t
}

// Child returns the token that replaces parent when it rotates: the next
// generation of the same family, under key version keyVersion, with a secret
// derived from the parent's secret. The derivation is deterministic, so the
// child of a parent can be recomputed to answer a replay byte-identically
// without ever storing a token. ok is false when keyVersion is not in the
// ring.
func (r *RefreshKeyring) Child(parent RefreshToken, keyVersion uint32) (child RefreshToken, ok bool) {
	k := r.key(keyVersion)
	if k == nil {
		return RefreshToken{}, false
	}
	child = parent
	child.KeyVersion = keyVersion
	child.Generation = parent.Generation + 1
	var buf [offSecret + 32]byte
	binary.BigEndian.PutUint32(buf[offVersion:], keyVersion)
	copy(buf[offSubject:], parent.Subject[:])
	copy(buf[offFamily:], parent.Family[:])
	binary.BigEndian.PutUint64(buf[offGen:], child.Generation)
	copy(buf[offSecret:], parent.Secret[:])
	var sum [sha256.Size]byte
	copy(child.Secret[:], k.child.sum(sum[:0], buf[:]))
	return child, true
}

// Encode returns the token string: RefreshTokenPrefix, then base64url of the
// fields and a MAC over the prefix and the fields under the token's key
// version. It fails with [ErrInvalidKey] when that version is not in the ring.
func (r *RefreshKeyring) Encode(t RefreshToken) (string, error) {
	k := r.key(t.KeyVersion)
	if k == nil {
		return "", fmt.Errorf("%w: unknown key version %d", ErrInvalidKey, t.KeyVersion)
	}
	var raw [rawLen]byte
	binary.BigEndian.PutUint32(raw[offVersion:], t.KeyVersion)
	copy(raw[offSubject:], t.Subject[:])
	copy(raw[offFamily:], t.Family[:])
	binary.BigEndian.PutUint64(raw[offGen:], t.Generation)
	copy(raw[offSecret:], t.Secret[:])
	k.macInto(raw[offMAC:offMAC], raw[:offMAC])
	var out [RefreshTokenLen]byte
	copy(out[:], RefreshTokenPrefix)
	b64.Encode(out[len(RefreshTokenPrefix):], raw[:])
	return string(out[:]), nil
}

func (k *derivedKey) macInto(dst, body []byte) []byte {
	return k.mac.sum(dst, []byte(RefreshTokenPrefix), body)
}

// Parse decodes s and verifies its MAC. Every failure (wrong length or
// prefix, bad base64, unknown key version, MAC mismatch, generation 0) is
// [ErrInvalidToken]; the reason is in the wrapped message, never the token.
// Parse does no I/O, so a forged token never reaches the store.
func (r *RefreshKeyring) Parse(s string) (RefreshToken, error) {
	if len(s) != RefreshTokenLen || !strings.HasPrefix(s, RefreshTokenPrefix) {
		return RefreshToken{}, fmt.Errorf("%w: not a format-1 refresh token", ErrInvalidToken)
	}
	var raw [rawLen]byte
	n, err := b64.Decode(raw[:], []byte(s[len(RefreshTokenPrefix):]))
	if err != nil || n != rawLen {
		return RefreshToken{}, fmt.Errorf("%w: bad encoding", ErrInvalidToken)
	}
	t := RefreshToken{KeyVersion: binary.BigEndian.Uint32(raw[offVersion:])}
	k := r.key(t.KeyVersion)
	if k == nil {
		return RefreshToken{}, fmt.Errorf("%w: unknown key version", ErrInvalidToken)
	}
	var sum [sha256.Size]byte
	if subtle.ConstantTimeCompare(k.macInto(sum[:0], raw[:offMAC]), raw[offMAC:]) != 1 {
		return RefreshToken{}, fmt.Errorf("%w: MAC mismatch", ErrInvalidToken)
	}
	copy(t.Subject[:], raw[offSubject:])
	copy(t.Family[:], raw[offFamily:])
	t.Generation = binary.BigEndian.Uint64(raw[offGen:])
	copy(t.Secret[:], raw[offSecret:])
	if t.Generation == 0 {
		return RefreshToken{}, fmt.Errorf("%w: generation 0", ErrInvalidToken)
	}
	return t, nil
}

// SecretHash is the SHA-256 of the token's secret: what a store keeps instead
// of the token. The secret has 256 bits of entropy, so a fast hash suffices
// to make a dump of the store useless for minting requests.
func (t RefreshToken) SecretHash() [32]byte { return sha256.Sum256(t.Secret[:]) }

// SessionID is the public id of the token's session (the `sid` of access
// tokens): base64url of the slot tag and family id. It carries no secret:
// knowing it gives no power over the session, since every refresh needs a
// MAC-verified token.
func (t RefreshToken) SessionID() string {
	var b [SessionIDLen]byte
	return string(t.AppendSessionID(b[:0]))
}

// AppendSessionID appends t.SessionID() to dst, for callers building keys
// without an allocation per part.
func (t RefreshToken) AppendSessionID(dst []byte) []byte {
	var b [sessionIDRawLen]byte
	copy(b[:], t.Subject[:len(SlotTag{})])
	copy(b[len(SlotTag{}):], t.Family[:])
	return b64.AppendEncode(dst, b[:])
}

const (
	sessionIDRawLen = len(SlotTag{}) + len(FamilyID{})
	// SessionIDLen is the length of every session id string.
	SessionIDLen = (sessionIDRawLen*8 + 5) / 6
)

// ParseSessionID splits a session id into its slot tag and family id. It
// fails with [ErrSessionNotFound] for anything that is not a session id.
func ParseSessionID(sid string) (SlotTag, FamilyID, error) {
	var tag SlotTag
	var fam FamilyID
	if len(sid) != SessionIDLen {
		return tag, fam, fmt.Errorf("%w: malformed session id", ErrSessionNotFound)
	}
	var b [sessionIDRawLen]byte
	if n, err := b64.Decode(b[:], []byte(sid)); err != nil || n != len(b) {
		return tag, fam, fmt.Errorf("%w: malformed session id", ErrSessionNotFound)
	}
	copy(tag[:], b[:])
	copy(fam[:], b[len(tag):])
	return tag, fam, nil
}
