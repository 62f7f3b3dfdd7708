package jwtrefresh

import (
	"testing"
	"time"
)

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
	DefaultSessionCacheTTL = defaultPushedCacheTTL
	DefaultAccessTokenTTL  = defaultAccessTTL
)

// WaitPushLive starts the session check of s and waits until it is
// subscribed to its store's push, so that a test's counts of store reads
// do not depend on how fast the subscription is made.
func WaitPushLive(t testing.TB, s *Service) {
	t.Helper()
	s.sessions.start()
	deadline := time.Now().Add(10 * time.Second)
	for !s.sessions.pushIsLive() {
		if time.Now().After(deadline) {
			t.Fatal("the session check's push is not live after 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *sessionCheck) pushIsLive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.push.live
}

// PushLive reports whether the session check of s is subscribed to its
// store's push.
func PushLive(s *Service) bool { return s.sessions.pushIsLive() }
