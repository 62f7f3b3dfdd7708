package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

// FirstUse records the DPoP proof id for ttl and reports whether it was
// new: the shared replay check of the middleware (middleware.ReplayCheck,
// satisfied by the Store New returns). One SET NX PX per request, under
// <prefix>dpop:<id>; the middleware passes a fixed-length hash as id.
// Errors wrap session.ErrUnavailable (the middleware then answers 503).
func (s *store) FirstUse(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if id == "" || len(id) > 64 || ttl <= 0 {
		return false, fmt.Errorf("%w: replay id of %d bytes, ttl %v", session.ErrInvalidInput, len(id), ttl)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	ok, err := s.rdb.SetNX(ctx, s.cfg.prefix+"dpop:"+id, "1", ttl).Result()
	if err != nil {
		return false, unavailable(err)
	}
	return ok, nil
}
