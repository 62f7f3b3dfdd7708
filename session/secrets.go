package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"
)

// minSecretLen is the shortest secret accepted, in bytes: 256 bits, the
// strength of the token secrets and MACs it protects.
const minSecretLen = 32

// Secret is one version of the server's refresh-token secret. Every
// instance that shares a store must hold the same secrets. Treat it like a
// password: with it and any one refresh token of a session, even a used
// one, the session's current token can be derived.
type Secret struct {
	// Version identifies the secret inside every token it MACs, so that a
	// secret can be replaced without logging anyone out. Any value,
	// distinct per secret.
	Version uint32
	// Value is at least 32 bytes from a cryptographically secure generator
	// (crypto/rand; `openssl rand -base64 32`, decoded). One byte repeated
	// is refused; nothing can tell a password or undecoded base64 text of
	// that length from random bytes, so do not use one.
	Value []byte
}

// Secrets holds the current refresh-token secret and the older ones still
// accepted. New tokens and the children of every rotation are made under
// the current one; a token under an older one is accepted until it
// rotates. Retire a secret once sessions had time to rotate (at most the
// idle timeout): tokens under it then become invalid, while their sessions
// stay listed and revocable (see [Secrets.Index]).
//
// Each secret keys four purposes through independent subkeys: token MACs,
// child derivation, record seals and the wrapping of the subject-index
// key. Secrets is immutable and safe for concurrent use.
type Secrets struct {
	current *derived
	all     []*derived // current first
}

type derived struct {
	version uint32
	mac     hmacPool // token MAC
	child   hmacPool // child-proof derivation
	seal    hmacPool // per-family seal keys
	seed    []byte   // the subject-index key, when this is the oldest secret
	wrap    cipher.AEAD
}

// Labels separating the purposes of one secret (domain separation). The
// first three keep the values of the token format's first release.
const (
	labelMAC   = "jwtrefresh/v1/token-mac"
	labelChild = "jwtrefresh/v1/child-secret"
	labelIndex = "jwtrefresh/v1/subject-id"
	labelSeal  = "jwtrefresh/v1/record-seal"
	labelWrap  = "jwtrefresh/v1/index-key-wrap"
)

// NewSecrets returns the secrets that issue tokens under current and still
// accept tokens under each of older. It fails with [ErrInvalidSecret] when
// a value is shorter than 32 bytes, is one byte repeated (a buffer never
// filled, typically), or two secrets share a version. The values are
// copied.
func NewSecrets(current Secret, older ...Secret) (*Secrets, error) {
	s := &Secrets{}
	seen := make(map[uint32]bool, 1+len(older))
	for _, k := range append([]Secret{current}, older...) {
		if err := checkSecret(k, seen); err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(hmacSum(k.Value, []byte(labelWrap)))
		if err != nil { // unreachable: the key has 32 bytes
			return nil, fmt.Errorf("%w: %v", ErrInvalidSecret, err)
		}
		wrap, err := cipher.NewGCM(block)
		if err != nil { // unreachable with AES
			return nil, fmt.Errorf("%w: %v", ErrInvalidSecret, err)
		}
		s.all = append(s.all, &derived{
			version: k.Version,
			mac:     newHMACPool(hmacSum(k.Value, []byte(labelMAC))),
			child:   newHMACPool(hmacSum(k.Value, []byte(labelChild))),
			seal:    newHMACPool(hmacSum(k.Value, []byte(labelSeal))),
			seed:    hmacSum(k.Value, []byte(labelIndex)),
			wrap:    wrap,
		})
	}
	s.current = s.all[0]
	return s, nil
}

func checkSecret(k Secret, seen map[uint32]bool) error {
	switch {
	case len(k.Value) < minSecretLen:
		return fmt.Errorf("%w: version %d has %d bytes, want at least %d",
			ErrInvalidSecret, k.Version, len(k.Value), minSecretLen)
	case oneByte(k.Value):
		return fmt.Errorf("%w: version %d is one byte repeated %d times, not a random secret",
			ErrInvalidSecret, k.Version, len(k.Value))
	case seen[k.Version]:
		return fmt.Errorf("%w: version %d appears twice", ErrInvalidSecret, k.Version)
	}
	seen[k.Version] = true
	return nil
}

// oneByte reports whether b repeats its first byte throughout. It judges
// nothing else: no test of one value tells random bytes from varied ones.
func oneByte(b []byte) bool {
	for _, c := range b {
		if c != b[0] {
			return false
		}
	}
	return true
}

// errNoSecrets refuses a Secrets not made by NewSecrets.
var errNoSecrets = fmt.Errorf("%w: no secrets (build them with NewSecrets)", ErrInvalidSecret)

func (s *Secrets) secret(version uint32) *derived {
	if s == nil {
		return nil
	}
	for _, k := range s.all {
		if k.version == version {
			return k
		}
	}
	return nil
}

// hmacPool reuses keyed HMAC states: a refresh computes several MACs, and
// hmac.New costs allocations each time. Inputs are copied through a
// scratch buffer so that callers' arrays stay on their stacks.
type hmacPool struct{ p *sync.Pool }

type hmacState struct {
	h   hash.Hash
	buf [128]byte
}

func newHMACPool(key []byte) hmacPool {
	return hmacPool{p: &sync.Pool{New: func() any { return &hmacState{h: hmac.New(sha256.New, key)} }}}
}

// sum appends HMAC(key, parts...) to dst.
func (hp hmacPool) sum(dst []byte, parts ...[]byte) []byte {
	m := hp.p.Get().(*hmacState)
	n := 0
	for _, p := range parts {
		for len(p) > 0 {
			c := copy(m.buf[n:], p)
			p, n = p[c:], n+c
			if n == len(m.buf) {
				m.h.Write(m.buf[:])
				n = 0
			}
		}
	}
	m.h.Write(m.buf[:n])
	dst = append(dst, m.h.Sum(m.buf[:0])...)
	m.h.Reset()
	hp.p.Put(m)
	return dst
}

func hmacSum(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}
