package redisstore_test

import (
	"testing"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/jwtrefresh/jwtrefresh/storetest"
)

// options maps the suite's configuration onto this package's options.
func options(prefix string, cfg storetest.Config) []redisstore.Option {
	idle := cfg.IdleTimeout
	if idle == 0 {
		idle = redisstore.DefaultIdleTimeout
	}
	opts := []redisstore.Option{
		redisstore.WithKeyPrefix(prefix),
		redisstore.WithReuseGrace(cfg.ReuseGrace),
		redisstore.WithReusePolicy(cfg.ReusePolicy),
		redisstore.WithLifetime(idle, cfg.AbsoluteLifetime),
		redisstore.WithClock(cfg.Clock),
	}
	if cfg.MaxSessions != 0 {
		opts = append(opts, redisstore.WithMaxSessions(cfg.MaxSessions))
	}
	return opts
}

func newBackend(b *redistest.Backend) storetest.NewBackend {
	return func(t *testing.T) storetest.Open {
		prefix := b.Prefix(t)
		return func(cfg storetest.Config) session.Store {
			s, err := redisstore.New(b.Client, options(prefix, cfg)...)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
}

// TestConformance runs the Store contract against standalone Redis, the
// Cluster and the in-process Redis.
func TestConformance(t *testing.T) {
	redistest.Each(t, func(t *testing.T, b *redistest.Backend) {
		storetest.Run(t, newBackend(b))
	})
}
