package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtrefresh/jwtrefresh/transport"
)

const (
	userAgent = "jwtrefresh-example-client"
	// requestTimeout bounds one request, a refresh it waits for included.
	requestTimeout = 30 * time.Second
)

// result is what the run saw.
type result struct {
	elapsed               time.Duration
	requests, failures    int64
	unauthorized, retries int64
	refreshes, proactive  int64
	loginRequired         bool
	firstFailure          error
	store                 transport.Store
}

// counters are updated by the workers and the transport's hooks.
type counters struct {
	started, requests, failures, unauthorized, retries, refreshes, proactive atomic.Int64
	loginRequired                                                            atomic.Bool

	mu    sync.Mutex
	first error // guarded by mu
}

func (c *counters) fail(err error) {
	c.failures.Add(1)
	c.mu.Lock()
	if c.first == nil {
		c.first = err
	}
	c.mu.Unlock()
}

// newTransport returns the Transport of a run on store, its hooks feeding
// c and printing a line per refresh on out.
func newTransport(cfg config, store transport.Store, c *counters, start time.Time, out io.Writer, opts ...transport.Option) (*transport.Transport, error) {
	var outMu sync.Mutex // hooks run on many goroutines
	hooks := transport.WithHooks(transport.Hooks{
		Unauthorized: func(*http.Request) { c.unauthorized.Add(1) },
		Retried:      func(*http.Request, bool) { c.retries.Add(1) },
		Refreshed: func(info transport.RefreshInfo) {
			c.refreshes.Add(1)
			why := "after a 401"
			if info.Proactive {
				c.proactive.Add(1)
				why = "shortly before it expired"
			}
			// Completed before started: a request counted as completed has
			// been counted as started, so in flight is never negative.
			done := c.requests.Load()
			inFlight := c.started.Load() - done
			outMu.Lock()
			fmt.Fprintf(out, "%6.1fs  access token refreshed %s (%d %s completed, %d in flight)\n",
				time.Since(start).Seconds(), why, done, plural(done, "request", "requests"), inFlight)
			outMu.Unlock()
		},
	})
	return transport.New(cfg.server+"/auth/refresh", store, append(append([]transport.Option{hooks}, cfg.options()...), opts...)...)
}

// result collects the counts once every request has ended.
func (c *counters) result(start time.Time, store transport.Store) *result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &result{
		elapsed:       time.Since(start),
		requests:      c.requests.Load(),
		failures:      c.failures.Load(),
		unauthorized:  c.unauthorized.Load(),
		retries:       c.retries.Load(),
		refreshes:     c.refreshes.Load(),
		proactive:     c.proactive.Load(),
		loginRequired: c.loginRequired.Load(),
		firstFailure:  c.first,
		store:         store,
	}
}

// begin counts a request about to be sent.
func (c *counters) begin() { c.started.Add(1) }

// done counts a finished request.
func (c *counters) done(err error) {
	c.requests.Add(1)
	if err != nil {
		c.fail(err)
		if errors.Is(err, transport.ErrLoginRequired) {
			c.loginRequired.Store(true)
		}
	}
}

// load runs the workers until cfg.duration has passed, ctx is done, or the
// session has ended.
func load(ctx context.Context, cfg config, tok *transport.Token, out io.Writer) (*result, error) {
	var c counters
	start := time.Now()
	store := transport.NewMemoryStore(tok)
	rt, err := newTransport(cfg, store, &c, start, out)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: rt, Timeout: requestTimeout}

	// Requests do not run on stop's context: one in flight when the time
	// is up completes instead of counting as a failure.
	stop, stopAll := context.WithCancel(context.Background())
	defer stopAll()
	timer := time.AfterFunc(cfg.duration, stopAll)
	defer timer.Stop()
	unlink := context.AfterFunc(ctx, stopAll)
	defer unlink()

	var wg sync.WaitGroup
	for w := 0; w < cfg.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker(stop, stopAll, client, cfg, w, &c)
		}()
	}
	wg.Wait()
	return c.result(start, store), nil
}

// worker alternates GET /api/me and POST /api/echo until stop is done.
func worker(stop context.Context, stopAll func(), client *http.Client, cfg config, id int, c *counters) {
	pause := time.NewTimer(0)
	defer pause.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop.Done():
			return
		default:
		}
		var err error
		c.begin()
		if n%2 == 0 {
			err = me(client, cfg)
		} else {
			err = echo(client, cfg, id, n)
		}
		c.done(err)
		if errors.Is(err, transport.ErrLoginRequired) {
			stopAll() // every further request would fail the same way
			return
		}
		if cfg.interval > 0 {
			pause.Reset(cfg.interval)
			select {
			case <-stop.Done():
				return
			case <-pause.C:
			}
		}
	}
}

func me(client *http.Client, cfg config) error {
	body, err := send(client, http.MethodGet, cfg.server+"/api/me", nil)
	if err != nil {
		return err
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(body, &claims); err != nil || claims.Sub != cfg.user {
		return fmt.Errorf("GET /api/me: unexpected answer %q", body)
	}
	return nil
}

func echo(client *http.Client, cfg config, id, n int) error {
	want := []byte(`{"worker":` + strconv.Itoa(id) + `,"request":` + strconv.Itoa(n) + `}`)
	got, err := send(client, http.MethodPost, cfg.server+"/api/echo", want)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("POST /api/echo: sent %q, got back %q", want, got)
	}
	return nil
}

func send(client *http.Client, method, url string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body) // replayable after a refresh
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s", method, req.URL.Path, resp.Status)
	}
	return b, nil
}

// print writes the readable summary.
func (r *result) print(w io.Writer, cfg config) {
	if cfg.burst > 0 {
		fmt.Fprintf(w, "done: %d of the %d requests succeeded\n", r.requests-r.failures, r.requests)
		fmt.Fprintf(w, "  %d %s 401: the server refused the expired token\n", r.unauthorized, plural(r.unauthorized, "answer was", "answers were"))
		fmt.Fprintf(w, "  %d %s at the token endpoint, shared by all of them (single flight)\n", r.refreshes, plural(r.refreshes, "refresh", "refreshes"))
		fmt.Fprintf(w, "  %d %s sent again with the new token\n", r.retries, plural(r.retries, "request", "requests"))
	} else {
		fmt.Fprintf(w, "done in %.1fs: %d workers sent %d requests, %d failed\n",
			r.elapsed.Seconds(), cfg.workers, r.requests, r.failures)
		fmt.Fprintf(w, "the transport refreshed the access token %d times (%d shortly before it expired, %d after a 401);\n",
			r.refreshes, r.proactive, r.refreshes-r.proactive)
		fmt.Fprintf(w, "%d answers were 401, %d requests were sent again\n", r.unauthorized, r.retries)
	}
	if r.firstFailure != nil {
		fmt.Fprintf(w, "first failure: %v\n", r.firstFailure)
		// A 401 from the token endpoint is the mark of a server that put
		// its token endpoints behind its access-token middleware.
		var re *transport.ResponseError
		if errors.As(r.firstFailure, &re) && re.StatusCode == http.StatusUnauthorized {
			fmt.Fprintln(w, "  the refresh endpoint answered 401: is it behind the server's access-token middleware?"+
				" It must not be: a refresh comes with an expired access token, or none")
		}
	}
}

// printCounts writes the machine-readable last line.
func (r *result) printCounts(w io.Writer) {
	fmt.Fprintf(w, "requests=%d unauthorized=%d refreshes=%d retries=%d failures=%d\n",
		r.requests, r.unauthorized, r.refreshes, r.retries, r.failures)
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
