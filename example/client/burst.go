package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/transport"
)

// expiryMargin is how long after the access token's exp the burst starts,
// so that the server, on the same clock, surely finds it expired.
const expiryMargin = 50 * time.Millisecond

// burst waits until the access token of tok has expired, then sends
// cfg.burst requests (GET /api/me) at once through a Transport that does
// not know when the token expires: the token is stored without Expiry or
// expires_in, and the Transport ignores a JWT exp that has already passed.
// It cannot refresh before sending, so every request draws a 401 and the
// protocol's other path shows: the 401s share one refresh (single flight)
// and each request is sent again with the new token.
func burst(ctx context.Context, cfg config, tok *transport.Token, out io.Writer) (*result, error) {
	exp, err := accessExpiry(tok.AccessToken)
	if err != nil {
		return nil, err
	}
	if wait := time.Until(exp) + expiryMargin; wait > 0 {
		fmt.Fprintf(out, "waiting %.1fs until the access token has expired\n", wait.Seconds())
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return &result{store: transport.NewMemoryStore(tok)}, nil
		case <-timer.C:
		}
	}

	unknown := *tok
	unknown.Expiry, unknown.ExpiresIn = time.Time{}, 0
	store := transport.NewMemoryStore(&unknown)
	var c counters
	start := time.Now()
	g := &gate{next: http.DefaultTransport, n: cfg.burst, open: make(chan struct{})}
	rt, err := newTransport(cfg, store, &c, start, out,
		transport.WithBase(g), transport.WithEndpoint(transport.Endpoint{Transport: http.DefaultTransport}))
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: rt, Timeout: requestTimeout}
	fmt.Fprintf(out, "sending %d requests at once, through a transport that was not told when the token expires\n", cfg.burst)
	var wg sync.WaitGroup
	for range cfg.burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.begin()
			c.done(me(client, cfg))
		}()
	}
	wg.Wait()
	return c.result(start, store), nil
}

// accessExpiry reads the exp claim of a JWT access token without verifying
// it: only to know how long to wait. The server verifies the token.
func accessExpiry(accessToken string) (time.Time, error) {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(accessToken, &claims); err != nil || claims.ExpiresAt == nil {
		return time.Time{}, errors.New("-burst: the access token is not a JWT with an expiry (exp)")
	}
	return claims.ExpiresAt.Time, nil
}

// gate holds the first n requests until all n have reached it, then lets
// them go together; later ones pass at once. It makes "at once" exact: a
// request of the burst that a slow goroutine started only after the
// refresh would carry the new token, draw no 401, and the counts would
// vary from run to run. A request whose context ends while it waits fails
// with the context's error.
type gate struct {
	next http.RoundTripper
	n    int
	open chan struct{} // closed when the n-th request arrives

	mu      sync.Mutex
	arrived int // guarded by mu
}

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	g.mu.Lock()
	held := g.arrived < g.n
	if held {
		g.arrived++
		if g.arrived == g.n {
			close(g.open)
		}
	}
	g.mu.Unlock()
	if held {
		select {
		case <-g.open:
		case <-req.Context().Done():
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, req.Context().Err()
		}
	}
	return g.next.RoundTrip(req)
}
