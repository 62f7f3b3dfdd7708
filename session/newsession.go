package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Input limits enforced by [NewSession.Validate].
const (
	MaxSubjectLen = 1024     // bytes
	MaxClaimsSize = 64 << 10 // bytes of the claims snapshot
)

// maxClientInfoLen bounds each ClientInfo field, in bytes.
const maxClientInfoLen = 512

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
	// KeyThumbprint binds the session to a DPoP key (RFC 9449): the
	// RFC 7638 thumbprint of the key of the proof the login came with,
	// 43 base64url characters; "" for an unbound session. The binding is
	// fixed for life and sealed with the record: every refresh must then
	// prove possession of that key, and access tokens carry it as
	// `cnf.jkt`.
	KeyThumbprint string
}

// ClientInfo describes the device a session was started from. Each field
// is made valid UTF-8 (a byte that is not becomes U+FFFD) and cut to 512
// bytes at a character boundary: it comes from request headers, which must
// not make a login fail.
type ClientInfo struct {
	UserAgent string `json:"ua,omitempty"`
	IP        string `json:"ip,omitempty"`
	Device    string `json:"device,omitempty"` // a name the user chose, e.g. "work laptop"
}

// Validate checks s against the input limits and returns it normalised
// (claims trimmed, client info made valid and cut). Errors wrap
// [ErrInvalidInput]. Invalid UTF-8 in the subject or the claims is refused
// rather than repaired: JSON would turn it into U+FFFD, so the access
// token's `sub` would differ from the session's subject, and subjects
// differing only in such bytes would share one `sub`.
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
	case s.KeyThumbprint != "" && !isThumbprint(s.KeyThumbprint):
		return s, fmt.Errorf("%w: key thumbprint is not 43 base64url characters", ErrInvalidInput)
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

// cut makes s valid UTF-8 of at most maxClientInfoLen bytes, ending at a
// character boundary.
func cut(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, string(utf8.RuneError))
	}
	if len(s) <= maxClientInfoLen {
		return s
	}
	n := maxClientInfoLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// thumbprintLen is the length of an RFC 7638 SHA-256 thumbprint in
// base64url.
const thumbprintLen = 43

// isThumbprint reports whether s looks like a SHA-256 JWK thumbprint: its
// fixed length makes the record encoding and the seal unambiguous.
func isThumbprint(s string) bool {
	if len(s) != thumbprintLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
