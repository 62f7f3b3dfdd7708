package jwtrefresh

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
)

// MinRefreshKeySize is the shortest refresh-token key secret accepted, in
// bytes: 256 bits, the strength of the secrets and MACs it protects.
const MinRefreshKeySize = 32

// RefreshKey is one version of the server's refresh-token key. Every server
// instance that shares a session store must hold the same keys. Treat the
// secret like a password: whoever has it can mint refresh tokens for any
// session whose id they know.
type RefreshKey struct {
	// Version identifies the key inside every token it MACs, so a key can be
	// replaced without logging anyone out. Any value; distinct per key.
	Version uint32
	// Secret is at least MinRefreshKeySize random bytes.
	Secret []byte
}

// RefreshKeyring holds the current refresh-token key and the older ones still
// accepted. New tokens (logins and the children of every rotation) are MACed
// under the current key; a token under an older key is verified with that key
// until it rotates, which moves its session onto the current key.
//
// The key MACs each token, derives each child secret from its parent's secret
// (so a replay recomputes the child instead of storing it), and derives the
// subject's id and hash-slot tag (HMAC of the subject, never a bare hash of
// it). Purposes use independent subkeys.
//
// To rotate keys: deploy NewRefreshKeyring(new, old) everywhere, then drop old
// once sessions have had time to refresh (at most the idle timeout). Tokens
// under a dropped key become invalid.
//
// A RefreshKeyring is immutable and safe for concurrent use.
type RefreshKeyring struct {
	current *derivedKey
	keys    []*derivedKey // current first
}

type derivedKey struct {
	version uint32
	mac     hmacPool // token MAC
	child   hmacPool // child-secret derivation
	tag     []byte   // subject ids (and so hash-slot tags)
}

// hmacPool reuses keyed HMAC states: every rotation computes three MACs, and
// a fresh hmac.New costs several allocations each time. Each state carries a
// scratch buffer through which inputs are written, so that callers' arrays
// never reach the hash.Hash interface and stay on their stacks.
type hmacPool struct{ p sync.Pool }

type hmacState struct {
	h   hash.Hash
	buf [128]byte
}

func newHMACPool(key []byte) hmacPool {
	return hmacPool{p: sync.Pool{New: func() any { return &hmacState{h: hmac.New(sha256.New, key)} }}}
}

// sum appends HMAC(key, parts...) to dst.
func (hp *hmacPool) sum(dst []byte, parts ...[]byte) []byte {
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

// Labels separating the purposes of one key (domain separation).
const (
	labelMAC   = "jwtrefresh/v1/token-mac"
	labelChild = "jwtrefresh/v1/child-secret"
	labelTag   = "jwtrefresh/v1/subject-id"
)

// NewRefreshKeyring returns a keyring that issues tokens under current and
// still accepts tokens under each of older. It fails with [ErrInvalidKey] when
// a secret is shorter than MinRefreshKeySize or two keys share a version.
// The secrets are copied: later changes to the slices have no effect.
func NewRefreshKeyring(current RefreshKey, older ...RefreshKey) (*RefreshKeyring, error) {
	r := &RefreshKeyring{}
	seen := make(map[uint32]bool, 1+len(older))
	for _, k := range append([]RefreshKey{current}, older...) {
		if len(k.Secret) < MinRefreshKeySize {
			return nil, fmt.Errorf("%w: key version %d has %d bytes, want at least %d",
				ErrInvalidKey, k.Version, len(k.Secret), MinRefreshKeySize)
		}
		if seen[k.Version] {
			return nil, fmt.Errorf("%w: key version %d appears twice", ErrInvalidKey, k.Version)
		}
		seen[k.Version] = true
		r.keys = append(r.keys, &derivedKey{
			version: k.Version,
			mac:     newHMACPool(hmacSum(k.Secret, []byte(labelMAC))),
			child:   newHMACPool(hmacSum(k.Secret, []byte(labelChild))),
			tag:     hmacSum(k.Secret, []byte(labelTag)),
		})
	}
	r.current = r.keys[0]
	return r, nil
}

// CurrentVersion is the version of the key new tokens are issued under.
func (r *RefreshKeyring) CurrentVersion() uint32 { return r.current.version }

func (r *RefreshKeyring) key(version uint32) *derivedKey {
	for _, k := range r.keys {
		if k.version == version {
			return k
		}
	}
	return nil
}

// SubjectID is a subject's keyed hash under one refresh-token key:
// HMAC-SHA256 of the subject, 128 bits. It names the subject's session index
// without revealing the subject, and it is long enough that two subjects
// never share an index. Its first 4 bytes are the subject's hash-slot tag.
type SubjectID [16]byte

// SlotTag is the 4-byte hash-slot tag (the first bytes of a SubjectID, or of
// a session id). Keys sharing a tag share a Redis Cluster slot; subjects may
// share a tag, never a SubjectID.
type SlotTag [4]byte

// String is the tag in lowercase hex, as it appears inside Redis keys.
func (t SlotTag) String() string { return hex.EncodeToString(t[:]) }

// SlotTag is the first 4 bytes of the id.
func (id SubjectID) SlotTag() SlotTag { return SlotTag(id[:4]) }

// String is the id in lowercase hex.
func (id SubjectID) String() string { return hex.EncodeToString(id[:]) }

// SubjectID is the subject's id under the current key: new sessions of the
// subject are stored under it.
func (r *RefreshKeyring) SubjectID(subject string) SubjectID {
	return r.current.subjectID(subject)
}

// SubjectIDs lists the subject's ids under every key of the ring, the
// current key's first. A session keeps the id it began under, so
// per-subject operations (list, revoke all) visit each.
func (r *RefreshKeyring) SubjectIDs(subject string) []SubjectID {
	ids := make([]SubjectID, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.subjectID(subject)
	}
	return ids
}

func (k *derivedKey) subjectID(subject string) SubjectID {
	var id SubjectID
	copy(id[:], hmacSum(k.tag, []byte(subject)))
	return id
}

func hmacSum(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}
