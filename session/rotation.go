package session

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// Rotation is what a store needs to redeem a refresh token: the decoded,
// MAC-verified token, its successor, the hashed idempotency key and the
// keys that check the session record's seal. Build it with
// [Secrets.Rotation]; the store's [Store.Rotate] and [Store.Lookup] take
// it as it is.
type Rotation struct {
	Presented Token // MAC-verified
	Child     Token // its successor under the current secret
	// Grandchild is Child's successor: the store keeps a commitment to it
	// while Child is current, so that a rotation a failover lost can be
	// recognised (see the package documentation, "Healing").
	Grandchild Token
	// KeyHash is a hash of the client's idempotency key, or random when
	// it sent none: equal hashes mean a retry of one refresh.
	KeyHash [16]byte
	// Seal holds the session's seal keys under the current secret and
	// under Presented's version (the same key twice when they are equal).
	// A store checks the record with them before deciding anything, and
	// re-seals it under the first when only the second matched.
	Seal [2]SealKey
	// KeyThumbprint is the thumbprint of the key of the DPoP proof the
	// refresh came with, verified by the caller; "" without one. A store
	// answers WrongProofKey, changing nothing, when the session is bound
	// to another key (or to one while this is "").
	KeyThumbprint string
}

// Rotation checks idempotencyKey and prepares the rotation of t: its child
// and grandchild under the current secret, the key hash and the seal keys.
// A key that could be guessed is [ErrInvalidInput] (see
// [MinIdempotencyKeyLen]); "" means none. Nothing is stored.
func (s *Secrets) Rotation(t Token, idempotencyKey string) (Rotation, error) {
	if err := checkIdempotencyKey(idempotencyKey); err != nil {
		return Rotation{}, err
	}
	if s == nil || s.current == nil {
		return Rotation{}, errNoSecrets
	}
	child, err := s.Child(t, s.current.version)
	if err != nil {
		return Rotation{}, err
	}
	grandchild, _ := s.Child(child, s.current.version) // the version exists
	r := Rotation{Presented: t, Child: child, Grandchild: grandchild, KeyHash: keyHash(idempotencyKey)}
	r.Seal[0] = s.current.sealKey(t.Family)
	r.Seal[1] = r.Seal[0]
	if t.Version != s.current.version {
		if k := s.secret(t.Version); k != nil {
			r.Seal[1] = k.sealKey(t.Family)
		}
	}
	return r, nil
}

// SealKey is the key of one session's record seal under one secret: an
// HMAC of the family id under that secret. The seal, a MAC over the
// record's name, its subject and its claims, is kept with the record, so
// that a store edited behind the service's back cannot make one user's
// refresh token mint another's access tokens.
type SealKey [32]byte

func (k *derived) sealKey(family [16]byte) SealKey {
	var sk SealKey
	var sum [sha256.Size]byte
	copy(sk[:], k.seal.sum(sum[:0], family[:]))
	return sk
}

// Seal returns the record seal, in lowercase hex:
//
//	hex(SHA-1("o" ‖ key ‖ hex(SHA-1("i" ‖ key ‖ name ‖ record(subject, keyThumbprint, claims)))))
//
// where name is the record's name in the store: its session id, or a key
// that contains it. The DPoP binding is sealed with the subject and the
// claims, so that a store write can neither unbind a session nor bind it
// to another key. It is an HMAC-like construction
// over SHA-1 because Redis scripts compute SHA-1 (redis.sha1hex): a store
// checks it inside the operation that would change the record, so that a
// mismatch leaves the record untouched.
func (k SealKey) Seal(name, subject, keyThumbprint string, claims []byte) string {
	inner := sha1.New()
	inner.Write([]byte{'i'})
	inner.Write(k[:])
	inner.Write([]byte(name))
	inner.Write(record(subject, keyThumbprint, claims))
	var in [sha1.Size]byte
	outer := sha1.New()
	outer.Write([]byte{'o'})
	outer.Write(k[:])
	outer.Write([]byte(hex.EncodeToString(inner.Sum(in[:0]))))
	return hex.EncodeToString(outer.Sum(in[:0]))
}

// record encodes what a session record's seal covers, as a store may keep
// it in one field: len(subject) in decimal ‖ ":" ‖ subject, then "#" ‖
// keyThumbprint for a bound session, then the claims. Claims are empty or
// a JSON object and thumbprints have a fixed length (43), so the encoding
// is unambiguous.
func record(subject, keyThumbprint string, claims []byte) []byte {
	b := make([]byte, 0, 24+len(subject)+len(keyThumbprint)+len(claims))
	b = strconv.AppendInt(b, int64(len(subject)), 10)
	b = append(b, ':')
	b = append(b, subject...)
	if keyThumbprint != "" {
		b = append(b, '#')
		b = append(b, keyThumbprint...)
	}
	return append(b, claims...)
}

// Bounds of an idempotency key: the Idempotency-Key header of a refresh,
// the idempotencyKey argument of [Secrets.Rotation].
//
// A client must make each key random, 128 bits or more (a UUIDv4,
// crypto/rand.Text()), and new for each refresh: whoever presents a used
// token with the key of the rotation that used it up gets its successor.
// The minimum refuses counters, timestamps and constants; it cannot tell
// a random key from a poor one of the right length.
const (
	// MinIdempotencyKeyLen is the shortest key, in characters, not
	// counting the double quotes of a structured-field string.
	MinIdempotencyKeyLen = 16
	// MaxIdempotencyKeyLen is the longest key, in characters.
	MaxIdempotencyKeyLen = 255
)

var (
	errShortKey = fmt.Errorf("%w: idempotency key shorter than %d characters: use a random key of 128 bits or more (crypto/rand.Text()), or none",
		ErrInvalidInput, MinIdempotencyKeyLen)
	errBadKey = fmt.Errorf("%w: idempotency key longer than %d characters or not visible ASCII",
		ErrInvalidInput, MaxIdempotencyKeyLen)
)

// checkIdempotencyKey accepts "" (no key) and MinIdempotencyKeyLen to
// MaxIdempotencyKeyLen visible ASCII characters or spaces (quotes around
// the key not counted). Its errors never quote the key.
func checkIdempotencyKey(k string) error {
	if k == "" {
		return nil
	}
	if len(k) > MaxIdempotencyKeyLen {
		return errBadKey
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c > 0x7e {
			return errBadKey
		}
	}
	n := len(k)
	if n >= 2 && k[0] == '"' && k[n-1] == '"' {
		n -= 2
	}
	if n < MinIdempotencyKeyLen {
		return errShortKey
	}
	return nil
}

// keyHash is what a store keeps of an idempotency key: a hash, so that the
// key is never at rest. Without a key it is random, which still makes a
// store client's own re-send of one operation a replay.
func keyHash(key string) [16]byte {
	var h [16]byte
	if key == "" {
		_, _ = rand.Read(h[:])
		return h
	}
	const domain = "jwtrefresh/idempotency-key\x00"
	var buf [len(domain) + MaxIdempotencyKeyLen]byte // on the stack
	sum := sha256.Sum256(append(append(buf[:0], domain...), key...))
	copy(h[:], sum[:])
	return h
}
