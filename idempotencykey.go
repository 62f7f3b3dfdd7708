package jwtrefresh

import (
	"fmt"
	"net/http"
	"strconv"
)

// Bounds of an idempotency key: the Idempotency-Key header of a refresh
// request, and the idempotencyKey argument of [Service.Refresh] and
// [Store.Rotate].
//
// A client must make each key random, 128 bits or more (a UUIDv4,
// crypto/rand.Text(), 16 random bytes in hex or base64url), and new for
// each refresh token it redeems. The key is what turns a second
// presentation of a used refresh token into a replay instead of reuse
// detection, so a guessable key would let whoever stole a used token get
// its successor. The minimum length refuses counters, timestamps and
// constants; it cannot tell a random key from a poor one.
const (
	// MinIdempotencyKeyLen is the shortest key accepted, in characters,
	// not counting the double quotes of a structured-field string.
	MinIdempotencyKeyLen = 16
	// MaxIdempotencyKeyLen is the longest key accepted, in characters.
	MaxIdempotencyKeyLen = 255
)

// CheckIdempotencyKey reports whether key may serve as an idempotency key:
// nil for "" (no key) and for MinIdempotencyKeyLen (double quotes around
// it not counted, so a quoted structured-field string passes) to
// MaxIdempotencyKeyLen visible ASCII characters or spaces; otherwise an
// error wrapping [ErrInvalidInput] that says why without quoting the key.
// It cannot tell a random key from a poor one of the right length.
//
// [Service.Refresh] and the Redis store's Rotate call it, so a Go caller
// gets the same refusal as a client of the refresh endpoint (400
// invalid_request); a Store of another backend should call it too.
func CheckIdempotencyKey(key string) error {
	switch idemKeyFault(key) {
	case idemKeyShort:
		return errShortIdemKey
	case idemKeyMalformed:
		return errBadIdemKey
	}
	return nil
}

var (
	errShortIdemKey = fmt.Errorf("%w: idempotency key shorter than %d characters: use a random key of 128 bits or more (crypto/rand.Text()), or none",
		ErrInvalidInput, MinIdempotencyKeyLen)
	errBadIdemKey = fmt.Errorf("%w: idempotency key longer than %d characters or not visible ASCII",
		ErrInvalidInput, MaxIdempotencyKeyLen)
)

type idemKeyVerdict uint8

const (
	idemKeyOK idemKeyVerdict = iota
	idemKeyShort
	idemKeyMalformed
)

// idemKeyFault is the check behind CheckIdempotencyKey and the refresh
// endpoint, which answers a short key with a description of its own.
func idemKeyFault(k string) idemKeyVerdict {
	if k == "" {
		return idemKeyOK
	}
	if len(k) > MaxIdempotencyKeyLen {
		return idemKeyMalformed
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c > 0x7e {
			return idemKeyMalformed
		}
	}
	n := len(k)
	if n >= 2 && k[0] == '"' && k[n-1] == '"' {
		n -= 2
	}
	if n < MinIdempotencyKeyLen {
		return idemKeyShort
	}
	return idemKeyOK
}

// respShortIdemKey refuses a key too short to be random enough.
var respShortIdemKey = newWireError(http.StatusBadRequest, codeInvalidRequest,
	"the Idempotency-Key header is too short: send a random key of at least "+
		strconv.Itoa(MinIdempotencyKeyLen)+" characters (128 bits)")
