package middleware

import (
	"context"
	"log/slog"
)

// Outcome says what the middleware did with a request.
type Outcome string

// Outcomes reported in [Event.Outcome].
const (
	OutcomeAccepted  Outcome = "accepted"  // a verified token; the handler ran
	OutcomeAnonymous Outcome = "anonymous" // no token in optional mode; the handler ran
	OutcomeRejected  Outcome = "rejected"  // refused; see Reason
)

// Reason is a short, stable label for a refusal, fit for a metric label.
type Reason string

// Reasons reported in [Event.Reason] and [Error.Reason].
const (
	ReasonMissing           Reason = "missing"            // 401, no token
	ReasonInvalidRequest    Reason = "invalid_request"    // 400
	ReasonTooLarge          Reason = "too_large"          // 401 invalid_token
	ReasonMalformed         Reason = "malformed"          // 401 invalid_token
	ReasonInvalid           Reason = "invalid"            // 401 invalid_token
	ReasonExpired           Reason = "expired"            // 401 invalid_token
	ReasonRevoked           Reason = "revoked"            // 401 invalid_token
	ReasonUnavailable       Reason = "unavailable"        // 503
	ReasonInsufficientScope Reason = "insufficient_scope" // 403
)

// Event describes one decision, for an events hook (see [WithEvents]) that
// feeds counters or traces. It never carries the token.
type Event struct {
	Outcome Outcome
	// Reason is set for OutcomeRejected.
	Reason Reason
	// Cached reports an accepted token found in the verified-token cache.
	Cached bool
	// Claims are the verified claims of an accepted token; read-only.
	Claims *Claims
	// Err is the refusal of a rejected request.
	Err *Error
}

func (m *Middleware) observe(ctx context.Context, e Event) {
	if m.events != nil {
		m.events(ctx, e)
	}
	if m.logger == nil || e.Outcome != OutcomeRejected {
		return
	}
	level := slog.LevelDebug
	if e.Reason == ReasonUnavailable {
		level = slog.LevelWarn
	}
	// The error texts come from fixed strings, jwt and keys errors (which
	// never quote token contents) and the session check.
	m.logger.LogAttrs(ctx, level, "access token refused",
		slog.String("reason", string(e.Reason)),
		slog.Int("status", e.Err.Status),
		slog.String("error", e.Err.Err.Error()))
}
