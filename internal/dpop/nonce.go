package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// Nonces issues and accepts server nonces (RFC 9449 §8) derived from a key
// and a time slot: instances sharing the key agree without shared state,
// and a nonce stays valid for one to two slots. The zero value is not
// usable; it is safe for concurrent use.
type Nonces struct {
	key  []byte
	slot time.Duration
}

// NewNonces returns Nonces with key (at least 32 bytes, secret, the same
// on every instance) and slot (at least a second): a nonce is accepted
// during its slot and the next.
func NewNonces(key []byte, slot time.Duration) (*Nonces, error) {
	if len(key) < 32 || slot < time.Second {
		return nil, fmt.Errorf("dpop: nonce key of %d bytes and slot %v: want at least 32 bytes and 1s", len(key), slot)
	}
	return &Nonces{key: append([]byte(nil), key...), slot: slot}, nil
}

// Current returns the nonce of now's slot.
func (n *Nonces) Current(now time.Time) string {
	return n.of(n.index(now))
}

// Valid reports whether nonce is the nonce of now's slot or the previous
// one.
func (n *Nonces) Valid(nonce string, now time.Time) bool {
	i := n.index(now)
	a, b := n.of(i), n.of(i-1)
	return hmac.Equal([]byte(nonce), []byte(a)) || hmac.Equal([]byte(nonce), []byte(b))
}

func (n *Nonces) index(now time.Time) int64 {
	return now.UnixNano() / int64(n.slot)
}

func (n *Nonces) of(i int64) string {
	m := hmac.New(sha256.New, n.key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	m.Write([]byte("dpop-nonce\x00"))
	m.Write(b[:])
	return b64.EncodeToString(m.Sum(nil)[:18])
}
