package failover

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
)

// params size one run.
type params struct {
	sessions    int // refreshed by clients; a quarter of them are the thief's targets
	workers     int // client goroutines, each refreshing its share of the sessions in turn
	revocations int // other sessions, revoked around the kill
	probes      int // fresh sessions refreshed after the kill to time the recovery
	after       int // refreshes each session still logged in makes after the counting
	// interval is the least time between two refreshes of one session,
	// longer than lag: real clients refresh once per access-token
	// lifetime, so a lagging replica misses at most one rotation of each.
	interval time.Duration
	// lag, when not 0, pauses the primary's replicas for that long right
	// before the kill, so that the writes of that time reach no replica.
	lag time.Duration
}

// outcome is what one run counted.
type outcome struct {
	lostWrites      int // acknowledged rotations missing on the new primary
	lostThief       int // … of them, on the thief's targets
	spurious        int // sessions (not the thief's targets) logged out
	healed          int // sessions (not the thief's targets) whose lost rotation healed
	thiefTries      int // sessions whose spent tokens the thief replayed
	thiefWins       int // … of them, where a replay was answered 200
	thiefHealed     int // … of those, where that 200 was a heal
	revokedBefore   int // revocations acknowledged before the kill
	undone          int
	recovery        time.Duration
	rotations       int64 // acknowledged rotations in the whole run
	transientErrors int64 // client requests that failed without ending the session
}

// clientSession is a login refreshed by one client.
type clientSession struct {
	subject string
	thief   bool
	client  *http.Client

	mu     sync.Mutex
	tokens []savedToken // every refresh token the client saved, the login's first
	out    bool         // the client was told to log in again
	last   time.Time    // when the client's last request began
}

type savedToken struct {
	rt string
	at time.Time
}

// saved records a refresh token the client saved, and reports whether it is
// new (the client saves each one again with the idempotency key of its
// refresh).
func (s *clientSession) saved(rt string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.tokens); n > 0 && s.tokens[n-1].rt == rt {
		return false
	}
	s.tokens = append(s.tokens, savedToken{rt, time.Now()})
	return true
}

// generation is the generation of the client's refresh token.
func (s *clientSession) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint64(len(s.tokens))
}

// spentBefore returns the refresh tokens whose rotation the client had
// acknowledged (saved the child) before t, newest first.
func (s *clientSession) spentBefore(t time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var spent []string
	for i := len(s.tokens) - 1; i > 0; i-- {
		if s.tokens[i].at.Before(t) {
			spent = append(spent, s.tokens[i-1].rt)
		}
	}
	return spent
}

// since counts the client's rotations after t.
func (s *clientSession) since(t time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, tok := range s.tokens {
		if tok.at.After(t) {
			n++
		}
	}
	return n
}

// due reports whether interval has passed since the last request began,
// and if so counts a request as beginning now.
func (s *clientSession) due(interval time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.last) < interval {
		return false
	}
	s.last = time.Now()
	return true
}

func (s *clientSession) loggedOut() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out
}

func (s *clientSession) logOut() {
	s.mu.Lock()
	s.out = true
	s.mu.Unlock()
}

// direct is a session the harness drives itself: revoked, or a probe.
type direct struct {
	rt, key string
	ackAt   time.Time // when its revocation was acknowledged; zero if never
}

// run is one configuration's run: a topology, the service on it, the
// sessions and the clients.
type run struct {
	t       *testing.T
	p       params
	topo    *topology
	svc     *service
	srv     *server
	httpc   *http.Client // the harness's own requests
	base    *http.Transport
	clients []*clientSession
	revoked []*direct
	probes  []*direct

	rotations atomic.Int64
	transient atomic.Int64
	killAt    time.Time
	thawedAt  atomic.Int64 // unix nanoseconds; 0 before the thaw
}

func newRun(t *testing.T, topo string, ack bool, p params) *run {
	t.Helper()
	r := &run{t: t, p: p, topo: startTopology(t, topo)}
	svc, err := newService(r.topo.client, redistest.KeyPrefix(t), ack)
	if err != nil {
		t.Fatal(err)
	}
	r.svc, r.srv = svc, newServer(t, svc.handler())
	r.base = http.DefaultTransport.(*http.Transport).Clone()
	r.base.MaxIdleConnsPerHost = 2 * (p.workers + p.probes)
	t.Cleanup(r.base.CloseIdleConnections)
	r.httpc = &http.Client{Transport: r.base}
	ctx := t.Context()
	for i := range p.sessions {
		s := &clientSession{subject: fmt.Sprintf("client-%d", i), thief: i%4 == 0}
		at, rt, err := r.svc.login(ctx, s.subject)
		if err == nil {
			s.client, err = newClient(r.srv.URL+refreshPath, r.base, at, rt, func(rt string) {
				if s.saved(rt) {
					r.rotations.Add(1)
				}
			})
		}
		if err != nil {
			t.Fatal(err)
		}
		// The sessions' first refreshes are spread over an interval, and
		// so stay spread: a steady rate, not bursts.
		s.last = time.Now().Add(-p.interval + time.Duration(i)*p.interval/time.Duration(p.sessions))
		r.clients = append(r.clients, s)
	}
	r.revoked = r.logins(t, "revoked", p.revocations)
	r.probes = r.logins(t, "probe", p.probes)
	r.rotations.Store(0) // the logins are not rotations
	return r
}

// logins starts n sessions the harness drives itself.
func (r *run) logins(t *testing.T, kind string, n int) []*direct {
	ds := make([]*direct, n)
	for i := range ds {
		_, rt, err := r.svc.login(t.Context(), fmt.Sprintf("%s-%d", kind, i))
		if err != nil {
			t.Fatal(err)
		}
		ds[i] = &direct{rt: rt, key: rand.Text()}
	}
	return ds
}

// post sends a form to a token endpoint and returns the status and body.
// A probe passes the frozen endpoints.
func (r *run) post(ctx context.Context, path string, form url.Values, idempotencyKey string, probe bool) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	if probe {
		req.Header.Set(probeHeader, "1")
	}
	resp, err := r.httpc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// settle repeats a probe's refresh (same idempotency key) while the answer
// is not definite (a 5xx or no answer), for up to a minute, and returns the
// definite status: 200, or 400 with its body.
func (r *run) settle(ctx context.Context, rt, key string) (int, string, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	deadline := time.Now().Add(time.Minute)
	for {
		status, body, err := r.post(ctx, refreshPath, form, key, true)
		if err == nil && status < 500 {
			return status, body, nil
		}
		if time.Now().After(deadline) {
			return status, body, fmt.Errorf("no definite answer within a minute: %d %s %v", status, body, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor polls cond every 10 ms for up to limit.
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
