package jwtrefresh

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"
)

// The tokens of a TokenResponse or a Grant are credentials: printed with
// any verb of package fmt, or logged through log/slog, these types show
// what is useful to read (subject, session, dates) and only the length of
// each token. The JSON encoding of a TokenResponse, which is the token
// response itself, is not affected.

// String describes tr with its tokens redacted.
func (tr TokenResponse) String() string {
	return fmt.Sprintf("jwtrefresh.TokenResponse{token_type: %q, access_token: %s, refresh_token: %s, expires_in: %d, "+
		"subject: %q, session: %q, expiry: %s, refresh_expiry: %s, replayed: %t}",
		tr.TokenType, redacted(tr.AccessToken), redacted(tr.RefreshToken), tr.ExpiresIn,
		tr.Subject, tr.SessionID, rfc3339(tr.Expiry), rfc3339(tr.RefreshExpiry), tr.Replayed)
}

// GoString is String, so that %#v redacts too.
func (tr TokenResponse) GoString() string { return tr.String() }

// Format writes String for every verb and flag, so that no verb (%x
// included, which would hex-encode the fields) prints a token.
func (tr TokenResponse) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, tr.String()) }

// LogValue implements slog.LogValuer: the session and its dates, and
// whether each token is present, never a token.
func (tr TokenResponse) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("access_token", tr.AccessToken != ""),
		slog.Bool("refresh_token", tr.RefreshToken != ""),
		slog.String("subject", tr.Subject),
		slog.String("session", tr.SessionID),
		slog.Time("expiry", tr.Expiry),
		slog.Time("refresh_expiry", tr.RefreshExpiry),
		slog.Bool("replayed", tr.Replayed),
	)
}

// String describes g with its refresh token redacted and its claims
// reduced to their size.
func (g Grant) String() string {
	return fmt.Sprintf("jwtrefresh.Grant{refresh_token: %s, subject: %q, session: %q, generation: %d, "+
		"claims: %d bytes, expires: %s, replayed: %t, evicted: %d}",
		redacted(g.RefreshToken), g.Subject, g.SessionID, g.Generation,
		len(g.Claims), rfc3339(g.Expires), g.Replayed, len(g.Evicted))
}

// GoString is String, so that %#v redacts too.
func (g Grant) GoString() string { return g.String() }

// Format writes String for every verb and flag.
func (g Grant) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, g.String()) }

// LogValue implements slog.LogValuer: never the refresh token.
func (g Grant) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("refresh_token", g.RefreshToken != ""),
		slog.String("subject", g.Subject),
		slog.String("session", g.SessionID),
		slog.Uint64("generation", g.Generation),
		slog.Time("expires", g.Expires),
		slog.Bool("replayed", g.Replayed),
		slog.Int("evicted", len(g.Evicted)),
	)
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "REDACTED(" + strconv.Itoa(len(s)) + " bytes)"
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return "unset"
	}
	return t.UTC().Format(time.RFC3339)
}
