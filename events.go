package jwtrefresh

import (
	"context"
	"log/slog"
	"time"
)

// EventKind names what happened to a session; its value suits a metric
// label.
type EventKind string

// Session events, each reported once per occurrence (see [WithEvents]).
const (
	EventLogin         EventKind = "login"          // a session began
	EventRotate        EventKind = "rotate"         // a refresh token was rotated
	EventReplay        EventKind = "replay"         // a retried refresh got the same child again
	EventHealed        EventKind = "healed"         // a rotation lost in a failover was applied with this one
	EventReuseDetected EventKind = "reuse_detected" // a used refresh token came back; sessions revoked
	EventTampered      EventKind = "tampered"       // a session record did not match its seal; refused
	EventRevoke        EventKind = "revoke"         // one session was revoked
	EventRevokeAll     EventKind = "revoke_all"     // all of a subject's sessions were revoked
	EventEvict         EventKind = "evict"          // a session was dropped to respect the per-subject cap
	// EventDPoPRefused: a refresh refused for its DPoP proof (invalid, or
	// missing or by another key for a bound session); nothing changed.
	EventDPoPRefused EventKind = "dpop_refused"

	// The session check's state, reported once per change: the store
	// stopped answering and the check answers from what it knows (see
	// [WithMaxStale]), or it answers again. No subject or session.
	EventCheckDegraded EventKind = "check_degraded"
	EventCheckRestored EventKind = "check_restored"
)

// Event is one occurrence. It never carries a token, secret or
// idempotency key.
type Event struct {
	Kind       EventKind
	Subject    string
	SessionID  string // empty for EventRevokeAll
	Generation uint64 // issued (login, rotate, replay, healed) or presented (reuse, tampered)
	Revoked    int    // sessions ended (reuse detected, revoke, revoke all, evict)
	Time       time.Time
}

// LogValue makes an Event log as a group of its non-zero fields.
func (e Event) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs, slog.String("kind", string(e.Kind)), slog.String("sub", e.Subject))
	if e.SessionID != "" {
		attrs = append(attrs, slog.String("sid", e.SessionID))
	}
	if e.Generation != 0 {
		attrs = append(attrs, slog.Uint64("gen", e.Generation))
	}
	if e.Revoked != 0 {
		attrs = append(attrs, slog.Int("revoked", e.Revoked))
	}
	return slog.GroupValue(attrs...)
}

// level is the log level of an event: Warn for reuse and tampering
// (probable attacks), Debug for rotations and replays (one per refresh),
// Info otherwise.
func (k EventKind) level() slog.Level {
	switch k {
	case EventReuseDetected, EventTampered, EventDPoPRefused:
		return slog.LevelWarn
	case EventRotate, EventReplay:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// emit reports e to the hook and the logger. Enabled is checked first:
// the message and the boxed event cost allocations per rotation that a
// logger dropping the level should not pay.
func (s *Service) emit(ctx context.Context, e Event) {
	if s.cfg.events == nil && s.cfg.logger == nil {
		return
	}
	e.Time = s.cfg.now()
	if s.cfg.events != nil {
		s.cfg.events(ctx, e)
	}
	if l := s.cfg.logger; l != nil && l.Enabled(ctx, e.Kind.level()) {
		// "session reuse_detected" sub=alice sid=… gen=1 revoked=2
		l.LogAttrs(ctx, e.Kind.level(), "session "+string(e.Kind), e.LogValue().Group()[1:]...)
	}
}
