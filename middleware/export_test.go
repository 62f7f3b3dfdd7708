package middleware

import "sync/atomic"

// Settings only tests need: not options of the package.

// cacheStats reports the verified-token cache (zero when it is off).
func (m *Middleware) cacheStats() cacheStats {
	if m.cache == nil {
		return cacheStats{}
	}
	return m.cache.stats()
}

// withParseCounter counts the tokens whose signature the middleware
// checks, that is, the requests the cache did not serve.
func withParseCounter(n *atomic.Int64) Option {
	return func(c *config) error {
		c.parsed = func() { n.Add(1) }
		return nil
	}
}
