package jwtrefresh

import (
	"context"
	"log/slog"
	"time"
)

// EventKind names what happened to a session.
type EventKind uint8

// Session events. A store reports each once per occurrence.
const (
	EventLogin         EventKind = iota + 1 // a session was created
	EventRotate                             // a refresh token was rotated
	EventReplay                             // a retried rotation got the same child again
	EventReuseDetected                      // a used refresh token came back; sessions revoked
	EventRevoke                             // one session was revoked
	EventRevokeAll                          // all of a subject's sessions were revoked
	EventEvict                              // a session was dropped to respect the per-subject cap
)

var eventNames = [...]string{
	EventLogin:         "login",
	EventRotate:        "rotate",
	EventReplay:        "replay",
	EventReuseDetected: "reuse_detected",
	EventRevoke:        "revoke",
	EventRevokeAll:     "revoke_all",
	EventEvict:         "evict",
}

// String is the event's snake_case name ("reuse_detected"), suitable as a
// metric label.
func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one occurrence reported to an [EventHook]. It never carries a
// token, secret or idempotency key.
type Event struct {
	Kind       EventKind
	Subject    string
	SessionID  string // empty for EventRevokeAll
	Generation uint64 // issued (login, rotate, replay) or presented (reuse)
	Revoked    int    // sessions ended (reuse detected, revoke, revoke all, evict)
	Time       time.Time
}

// LogValue makes an Event log as a group of its fields.
func (e Event) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs, slog.String("kind", e.Kind.String()), slog.String("sub", e.Subject))
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

// Level is the log level a store uses for the event: Warn for reuse (a
// probable theft), Debug for rotations and replays (one per refresh), Info
// otherwise.
func (k EventKind) Level() slog.Level {
	switch k {
	case EventReuseDetected:
		return slog.LevelWarn
	case EventRotate, EventReplay:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// EventHook receives session events synchronously, after the change is
// stored, on the goroutine of the operation. It must be safe for concurrent
// use and quick (count, enqueue); it cannot change the outcome.
type EventHook func(ctx context.Context, e Event)
