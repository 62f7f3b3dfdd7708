package jwtrefresh

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Store keeps refresh-token families (sessions) and rotates them. It is the
// contract between the token service and a storage backend; package
// redisstore implements it on Redis and package storetest is its
// conformance suite.
//
// A Store holds the RefreshKeyring: it decodes and MAC-verifies every
// presented token before touching the backend (a malformed or forged token
// is [ErrInvalidToken] with no I/O), and it recomputes children for replays,
// so two Store values sharing one backend and one keyring behave as one.
//
// Rotation outcomes, by the presented token's generation g against the
// family's current generation c (RFC 9700 §4.14, FAPI 2.0 retries):
//
//   - g == c: rotated. The child (generation c+1) becomes current and the
//     presented token is used up.
//   - g == c-1 (the immediate parent, its child still unused), presented with
//     the same idempotency key as the rotation that used it up, or within the
//     reuse grace window of that rotation: the byte-identical child again
//     (Grant.Replayed). Nothing branches; generations never fork.
//   - any other genuine older token: a [*ReuseError] (matching
//     [ErrReuseDetected]), after revoking the subject's sessions or only the
//     family, per the reuse policy.
//   - unknown, expired, revoked, forged: [ErrInvalidToken], no side effects.
//
// Every rotation carries an idempotency key (the caller's, else a random one
// of the store's own), so a backend client that re-sends an operation after
// a broken connection gets a replay, never a reuse alarm.
//
// Operations that end sessions (Create's evictions, reuse detection,
// RevokeToken) say which ones, so that the service can forget its cached
// "active" answers at once (see [Service.SessionCheck]).
//
// Any failure to reach the backend is [ErrUnavailable], returned by the
// context's deadline plus one second at the latest; it is never
// [ErrInvalidToken]. Implementations are safe for concurrent use.
type Store interface {
	// Create starts a session (a new family) and returns its first refresh
	// token. It may evict the subject's sessions closest to expiry to stay
	// within the store's cap on sessions per subject; Grant.Evicted names
	// them. Bad input: [ErrInvalidInput].
	Create(ctx context.Context, s NewSession) (Grant, error)

	// Lookup reports the active session a refresh token belongs to and its
	// claims snapshot, changing nothing: the token is not used up, and any
	// genuine generation of an active session answers, so it does not say
	// what Rotate would decide. The service calls it before Rotate when a
	// claims loader must run first. Errors: [ErrInvalidToken] (malformed,
	// forged, or its session unknown, expired or revoked),
	// [ErrUnavailable]. One cheap read.
	Lookup(ctx context.Context, refreshToken string) (SessionRef, json.RawMessage, error)

	// Rotate redeems a refresh token and returns its successor together with
	// what an access token needs. idempotencyKey is optional ("" for none);
	// it is the random value a client sends (Idempotency-Key header) to make
	// its retries of one refresh safe. Errors: [ErrInvalidToken],
	// [ErrUnavailable], and on reuse a [*ReuseError] (which matches
	// [ErrReuseDetected]) naming what was revoked.
	Rotate(ctx context.Context, refreshToken, idempotencyKey string) (Grant, error)

	// RevokeToken ends the session a refresh token belongs to, whichever
	// generation it is (RFC 7009), and names it: SessionID always, Subject
	// only when this call ended an active session (empty when it was
	// already gone, which is not an error). A malformed or forged token is
	// [ErrInvalidToken] and touches nothing.
	RevokeToken(ctx context.Context, refreshToken string) (SessionRef, error)

	// RevokeSession ends one session of subject (logout of another device,
	// or a user the application no longer accepts). [ErrSessionNotFound]
	// when the subject has no such active session.
	RevokeSession(ctx context.Context, subject, sessionID string) error

	// RevokeAll ends every session of subject (logout everywhere) and
	// reports how many there were.
	RevokeAll(ctx context.Context, subject string) (int, error)

	// Sessions lists subject's active sessions, most recently used first.
	Sessions(ctx context.Context, subject string) ([]Session, error)

	// Active reports whether sessionID is an active session of subject:
	// the check behind the middleware's session hook. One cheap read.
	// A malformed id is simply not active.
	Active(ctx context.Context, subject, sessionID string) (bool, error)
}

// SessionRef names a session: the subject it belongs to and its id (the
// access token's `sub` and `sid`).
type SessionRef struct {
	Subject   string
	SessionID string
}

// Defaults of the store configuration.
const (
	// DefaultIdleTimeout: a session unused this long expires (sliding;
	// RFC 9700 §4.14.2 asks refresh tokens to expire when idle).
	DefaultIdleTimeout = 30 * 24 * time.Hour
	// DefaultMaxSessions per subject; creating one more evicts the session
	// closest to expiry, so per-subject work and memory stay bounded.
	DefaultMaxSessions = 100
)

// ReusePolicy says what a store revokes when it detects reuse.
type ReusePolicy uint8

const (
	// RevokeSubject revokes every session of the token's subject: a stolen
	// token may mean a compromised device or account. The default.
	RevokeSubject ReusePolicy = iota
	// RevokeFamily revokes only the session the reused token belongs to.
	RevokeFamily
)

// String is "subject" or "family".
func (p ReusePolicy) String() string {
	switch p {
	case RevokeSubject:
		return "subject"
	case RevokeFamily:
		return "family"
	}
	return fmt.Sprintf("ReusePolicy(%d)", uint8(p))
}

// Input limits enforced by [NewSession.Validate].
const (
	MaxSubjectLen    = 1024     // bytes
	MaxClaimsSize    = 64 << 10 // bytes of the claims snapshot
	MaxClientInfoLen = 512      // bytes per ClientInfo field; longer values are cut
)

// NewSession describes a login.
type NewSession struct {
	// Subject is the user id (the access token's `sub`). Required, valid
	// UTF-8, at most MaxSubjectLen bytes.
	Subject string
	// Claims is the application's claims snapshot: a JSON object in valid
	// UTF-8, copied into every access token of the session. Optional; at
	// most MaxClaimsSize.
	Claims json.RawMessage
	// Client describes the device, for session lists.
	Client ClientInfo
}

// ClientInfo describes the device a session was started from. Each field is
// made valid UTF-8 (a byte that is not becomes U+FFFD) and cut to
// MaxClientInfoLen bytes at a character boundary: it comes from request
// headers, which must not make a login fail.
type ClientInfo struct {
	UserAgent string `json:"ua,omitempty"`
	IP        string `json:"ip,omitempty"`
	Device    string `json:"device,omitempty"` // a name the user chose, e.g. "work laptop"
}

// Validate checks s against the input limits and returns it normalised
// (claims trimmed, client info made valid and cut to length). Errors wrap
// [ErrInvalidInput].
//
// Invalid UTF-8 in the subject or the claims is refused rather than
// repaired: JSON (the access token) would silently turn it into U+FFFD, so
// the token's `sub` would differ from the session's subject (its session
// check would always fail) and subjects differing only in such bytes would
// carry the same `sub`.
func (s NewSession) Validate() (NewSession, error) {
	switch {
	case s.Subject == "":
		return s, fmt.Errorf("%w: empty subject", ErrInvalidInput)
	case len(s.Subject) > MaxSubjectLen:
		return s, fmt.Errorf("%w: subject longer than %d bytes", ErrInvalidInput, MaxSubjectLen)
	case !utf8.ValidString(s.Subject):
		return s, fmt.Errorf("%w: subject is not valid UTF-8", ErrInvalidInput)
	case len(s.Claims) > MaxClaimsSize:
		return s, fmt.Errorf("%w: claims larger than %d bytes", ErrInvalidInput, MaxClaimsSize)
	}
	if len(s.Claims) > 0 {
		c := bytes.TrimSpace(s.Claims)
		if len(c) == 0 || c[0] != '{' || !json.Valid(c) {
			return s, fmt.Errorf("%w: claims are not a JSON object", ErrInvalidInput)
		}
		if !utf8.Valid(c) { // json.Valid lets invalid UTF-8 in strings through
			return s, fmt.Errorf("%w: claims are not valid UTF-8", ErrInvalidInput)
		}
		s.Claims = c
	}
	s.Client.UserAgent = cut(s.Client.UserAgent)
	s.Client.IP = cut(s.Client.IP)
	s.Client.Device = cut(s.Client.Device)
	return s, nil
}

// cut makes s valid UTF-8 and at most MaxClientInfoLen bytes, ending at a
// character boundary.
func cut(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, string(utf8.RuneError))
	}
	if len(s) <= MaxClientInfoLen {
		return s
	}
	n := MaxClientInfoLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Grant is the result of Create and Rotate: the refresh token to hand out
// and what the service needs to mint the matching access token without
// another round trip.
type Grant struct {
	RefreshToken string          // the token to return; a credential, never log it
	Subject      string          // `sub`
	SessionID    string          // `sid`
	Generation   uint64          // of RefreshToken: 1 at login, +1 per rotation
	Claims       json.RawMessage // the snapshot given at login
	// Expires is when RefreshToken stops working if it is not used: the idle
	// timeout from now, capped by the absolute lifetime.
	Expires time.Time
	// Replayed is true when RefreshToken was issued before: by the rotation
	// this request retried (idempotency key or grace window), or by this very
	// call's first attempt whose reply the network lost.
	Replayed bool
	// Evicted lists the ids of the subject's sessions that Create ended to
	// stay within the store's cap on sessions per subject (nil from
	// Rotate, and from most logins).
	Evicted []string
}

// Session describes an active session, for listing a subject's devices.
type Session struct {
	ID         string
	Created    time.Time
	LastUsed   time.Time // the last rotation (or the login)
	Expires    time.Time // if not used again
	Generation uint64
	Client     ClientInfo
}
