package redisstore

import "time"

// WithClock makes every decision use now instead of the Redis server's
// clock, so that tests move time without sleeping.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return configError("WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithTimeout sets the bound on operations whose context has no deadline.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return configError("WithTimeout(%v): want a positive duration", d)
		}
		c.timeout = d
		return nil
	}
}

// WithWatchEvery sets how often Watch verifies its subscription (default
// one second).
func WithWatchEvery(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return configError("WithWatchEvery(%v): want a positive duration", d)
		}
		c.watchEvery = d
		return nil
	}
}
