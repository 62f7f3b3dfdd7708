package storetest

import (
	"testing"

	"github.com/jwtrefresh/jwtrefresh/session"
)

// TestMemoryStore runs the suite against the in-memory Store. Stores of
// one backend share their data: the first Open makes the store, later ones
// return it (the suite opens them with the same configuration).
func TestMemoryStore(t *testing.T) {
	Run(t, func(t *testing.T) Open {
		var st session.Store
		return func(cfg Config) session.Store {
			if st == nil {
				st = NewMemoryStore(cfg)
			}
			return st
		}
	})
}
