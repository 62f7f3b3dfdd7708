package transport

import (
	"log/slog"
	"testing"
	"time"
)

// Test seams. Options only tests need, and the seams of the stores, are
// unexported fields; these set them.

// withExpirySkew sets how long before its expiry a token is refreshed.
func withExpirySkew(d time.Duration) Option {
	return func(c *config) error {
		c.skew = d
		return nil
	}
}

// withRefreshTimeout sets the bound of one refresh and of every store call.
func withRefreshTimeout(d time.Duration) Option {
	return func(c *config) error {
		c.timeout = d
		return nil
	}
}

// withRefreshRetries sets the attempts of a refresh and their backoff.
func withRefreshRetries(attempts int, minBackoff, maxBackoff time.Duration) Option {
	return func(c *config) error {
		c.retry = retryPolicy{attempts: attempts, minBackoff: minBackoff, maxBackoff: maxBackoff}
		return nil
	}
}

// newFileStore is NewFileStore, returning the store as the type it is.
func newFileStore(path string) (*fileStore, error) {
	s, err := NewFileStore(path)
	if err != nil {
		return nil, err
	}
	return s.(*fileStore), nil
}

// Path returns the absolute path of the token file.
func (s *fileStore) Path() string { return s.path }

// setEUID makes s see the effective user id uid, until the test ends.
func setEUID(t testing.TB, s *fileStore, uid int) {
	s.geteuid = func() int { return uid }
	t.Cleanup(func() { s.geteuid = nil })
}

// lockOf returns the in-process lock of a store made by this package, or
// of the one a test store wraps.
func lockOf(s Store) *storeLock {
	switch s := s.(type) {
	case *memoryStore:
		return &s.lock
	case *fileStore:
		return &s.lock
	case interface{ inner() Store }:
		return lockOf(s.inner())
	}
	return nil
}

// logTo sends the Transport's log to l, keeping the other hooks.
func logTo(l *slog.Logger) Option {
	return func(c *config) error {
		c.hooks.Logger = l
		return nil
	}
}
