package jwtrefresh

import "time"

// Settings that only tests change.

// WithClock sets the time source of access-token dates, events and the
// session cache (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return configError("WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithClockSkew sets how far nbf and iat are backdated (default 10 s).
func WithClockSkew(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return configError("WithClockSkew(%v): negative", d)
		}
		c.skew = d
		return nil
	}
}

// WithRetryAfter sets the Retry-After of 503 answers (default 1 s).
func WithRetryAfter(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return configError("WithRetryAfter(%v): want a positive duration", d)
		}
		c.retryAfter = d
		return nil
	}
}

// WithMaxBodySize bounds token and revocation request bodies (default
// 4 KiB, at least 512 bytes).
func WithMaxBodySize(n int64) Option {
	return func(c *config) error {
		if n < 512 {
			return configError("WithMaxBodySize(%d): at least 512 bytes", n)
		}
		c.maxBody = n
		return nil
	}
}

// Defaults tests compare with.
const (
	DefaultClockSkew       = defaultSkew
	DefaultMaxBodySize     = defaultMaxBody
	DefaultSessionCacheTTL = defaultCacheTTL
	DefaultAccessTokenTTL  = defaultAccessTTL
)
