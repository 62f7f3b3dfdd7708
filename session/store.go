package session

import (
	"context"
	"encoding/json"
	"time"
)

// Store keeps sessions (refresh-token families) and decides rotations. It
// is a small state machine: the token service parses and authenticates
// tokens, derives children and seal keys, and hands it decoded values; the
// store answers each operation with a typed [Result] and returns an error
// only for bad input ([ErrInvalidInput]), a missing session
// ([ErrNotFound]) or when it cannot tell what happened ([ErrUnavailable],
// by the context's deadline plus a second at the latest).
//
// The rules every implementation keeps are the package documentation's
// "Store contract"; package storetest checks them. Implementations are
// safe for concurrent use, and two Store values on one backend act as one.
type Store interface {
	// Create stores a new session whose first token is t, committed to
	// its child (see [Rotation].Grandchild) and sealed with seal (see
	// SealKey.Seal), and returns its Expires and Evicted: the subject's
	// sessions closest to expiry that it ended to stay within the store's
	// cap.
	Create(ctx context.Context, t, child Token, s NewSession, seal SealKey) (Result, error)

	// Rotate redeems r.Presented: Rotated, Healed, Replayed, Reused
	// (sessions were revoked per the store's policy), KeyRepeated,
	// Tampered or Invalid. Only Rotated, Healed and Reused change
	// anything.
	Rotate(ctx context.Context, r Rotation) (Result, error)

	// Lookup reports the session of r.Presented and its claims, changing
	// nothing: Found for any genuine generation of an active session,
	// else Tampered or Invalid. Used before Rotate when claims must be
	// loaded first.
	Lookup(ctx context.Context, r Rotation) (Result, error)

	// Revoke ends the session sessionID of the subject id, if the record
	// names subject ("" for any), and returns the record's Subject.
	// [ErrNotFound] when there is no such active session.
	Revoke(ctx context.Context, id SubjectID, sessionID, subject string) (Result, error)

	// RevokeAll ends every session of the subject id and returns how many
	// were active.
	RevokeAll(ctx context.Context, id SubjectID) (int, error)

	// Sessions lists the active sessions of the subject id, most recently
	// used first.
	Sessions(ctx context.Context, id SubjectID) ([]Info, error)

	// Active reports until when sessionID is an active session whose
	// record names subject: its deadline (the idle timeout from its last
	// use, or its absolute lifetime, whichever comes first), or the zero
	// Time when it is not active. One cheap read. It needs no SubjectID
	// (the session id locates the record), so that a resource server
	// holding no refresh-token secret can ask.
	Active(ctx context.Context, sessionID, subject string) (time.Time, error)

	// LoadOrStore returns the value stored under name, storing value first
	// when there is none; a nil value only loads (nil: none). It keeps the
	// wrapped subject-index key ([Secrets.Index]); values never expire.
	LoadOrStore(ctx context.Context, name string, value []byte) ([]byte, error)
}

// Watcher is a [Store] that pushes the end of every session to every
// Store on its backend, so that a session check anywhere refuses an ended
// session's access tokens at once (package redisstore and the in-memory
// store of package storetest implement it).
//
// Watch subscribes and calls ended with the ids of sessions as they end
// through any Store of the backend: revoked (Revoke, RevokeAll), ended by
// reuse detection, or evicted by Create. Expiry is not pushed: a session
// check bounds what it caches by the deadline Active returns. live(true)
// says that the subscription is in place, and is repeated each time it is
// verified (at least once a second while it lasts); live(false), that it
// was lost: ends may have been missed until the next live(true). The
// callbacks are called in order, never concurrently; they must be quick
// and must not call the Store. stop ends the subscription and returns once no
// callback runs any more. The package documentation's "Push" section has
// the rules.
type Watcher interface {
	Watch(ended func(sessionIDs []string), live func(bool)) (stop func())
}

// Outcome is what a store decided.
type Outcome uint8

// Outcomes of Rotate (and Found, of Lookup).
const (
	// Invalid: the session is unknown, expired or revoked, or the token
	// is not one of its genuine generations. Nothing changed.
	Invalid Outcome = iota
	// Rotated: Presented was current; Child is now. Result.Expires is the
	// child's idle expiry.
	Rotated
	// Replayed: Presented is the immediate parent of the current token,
	// its child still unused, presented with the key hash of the rotation
	// that used it up or within the grace window. Result.Version is the
	// secret version the current token was made under. Nothing changed.
	Replayed
	// Reused: a genuine older token, outside any replay allowance. The
	// store revoked the subject's sessions (or only this one, per its
	// policy); Result.Ended counts the active ones.
	Reused
	// KeyRepeated: Presented is current but the key hash equals the one
	// of the rotation that made it: a constant key. Nothing changed.
	KeyRepeated
	// Tampered: the record does not match its seal: it was changed
	// behind the service's back. Nothing changed.
	Tampered
	// Found: Lookup found the session.
	Found
	// Healed: Presented was the child the family had committed to, one
	// generation ahead: the rotation that made it was lost (a failover).
	// That rotation and Presented's are applied; Child is now current.
	// Answered to the client as Rotated.
	Healed
	// WrongProofKey: the session is bound to a DPoP key and the rotation
	// did not prove possession of it (Rotation.KeyThumbprint differs).
	// Checked after the seal and before everything else, so a used token
	// presented without the key is not reuse. Nothing changed.
	WrongProofKey
)

// Result is a store's answer. Which fields are set depends on the
// operation and its Outcome.
type Result struct {
	Outcome Outcome
	Subject string          // the record's subject (Rotated, Healed, Replayed, Reused, Found; Revoke)
	Claims  json.RawMessage // the claims given at login (Rotated, Healed, Replayed, Found)
	// Expires is when the session's current token stops working unless
	// used (Create, Rotated, Healed, Replayed).
	Expires time.Time
	Version uint32 // Replayed: the secret version of the current token
	Ended   int    // Reused: active sessions revoked
	// Policy, of Reused, says what was revoked: every session of the
	// subject or only this one.
	Policy ReusePolicy
	// KeyThumbprint is the DPoP key the session is bound to, "" for none
	// (Rotated, Healed, Replayed, Found).
	KeyThumbprint string
	Evicted       []string // Create: session ids ended to stay within the cap
}

// Info describes an active session, for a subject's list of devices.
type Info struct {
	ID         string
	Created    time.Time
	LastUsed   time.Time // the last rotation (or the login)
	Expires    time.Time // if not used again
	Generation uint64
	Client     ClientInfo
}

// ReusePolicy says what a store revokes when it detects reuse.
type ReusePolicy uint8

const (
	// RevokeSubject revokes every session of the token's subject: a
	// stolen token may mean a compromised device or account. The default.
	RevokeSubject ReusePolicy = iota
	// RevokeFamily revokes only the session the reused token belongs to.
	RevokeFamily
)
