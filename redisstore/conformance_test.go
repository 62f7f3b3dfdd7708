package redisstore_test

import (
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/storetest"
)

// options maps the suite's configuration onto this package's options.
func options(prefix string, cfg storetest.Config) []redisstore.Option {
	opts := []redisstore.Option{
		redisstore.WithKeyPrefix(prefix),
		redisstore.WithReuseGrace(cfg.ReuseGrace),
		redisstore.WithReusePolicy(cfg.ReusePolicy),
		redisstore.WithAbsoluteLifetime(cfg.AbsoluteLifetime),
		redisstore.WithClock(cfg.Clock),
		redisstore.WithEvents(cfg.Events),
	}
	if cfg.IdleTimeout != 0 {
		opts = append(opts, redisstore.WithIdleTimeout(cfg.IdleTimeout))
	}
	if cfg.MaxSessions != 0 {
		opts = append(opts, redisstore.WithMaxSessions(cfg.MaxSessions))
	}
	return opts
}

func newBackend(b *redistest.Backend) storetest.NewBackend {
	return func(t *testing.T) storetest.Open {
		prefix := b.Prefix(t)
		return func(cfg storetest.Config) jwtrefresh.Store {
			s, err := redisstore.New(b.Client, cfg.Keys, options(prefix, cfg)...)
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
