package middleware

import "context"

// Event is one decision of the middleware, reported to the hook of
// [WithEvents]: a refused request has Err set, an accepted one Claims, and
// an anonymous request let through by [Middleware.Optional] neither. It
// never carries the token. To log refusals, log Err.Reason and Err.Err:
// their texts never quote token contents.
type Event struct {
	// Claims are the verified claims of an accepted request; read-only.
	Claims *Claims
	// Cached reports an accepted token found in the verified-token cache.
	Cached bool
	// Err is the refusal; Err.Reason is a label fit for a metric.
	Err *Error
}

func (m *Middleware) observe(ctx context.Context, e Event) {
	if m.events != nil {
		m.events(ctx, e)
	}
}
