package failover

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Bounds of a run's phases, for a broken run, not expectations.
const (
	warmupLimit   = 2 * time.Minute
	recoveryLimit = 2 * time.Minute
	afterLimit    = 3 * time.Minute
)

// execute runs the phases: warm-up, revocations, the kill, the counting
// while the endpoints hold the clients, and the clients' refreshes after
// it.
func (r *run) execute(ctx context.Context) (outcome, error) {
	var out outcome
	wctx, stopWorkers := context.WithCancel(ctx)
	var workers sync.WaitGroup
	defer func() { // also when a phase fails: no client outlives the run
		stopWorkers()
		r.srv.thaw()
		workers.Wait()
	}()
	for w := range r.p.workers {
		var mine []*clientSession
		for i := w; i < len(r.clients); i += r.p.workers {
			mine = append(mine, r.clients[i])
		}
		workers.Add(1)
		go func() {
			defer workers.Done()
			r.work(wctx, mine)
		}()
	}
	// Warm-up: two refreshes per session on average.
	if !waitFor(ctx, warmupLimit, func() bool { return r.rotations.Load() >= int64(2*len(r.clients)) }) {
		return out, fmt.Errorf("warm-up: %d rotations in %v", r.rotations.Load(), warmupLimit)
	}
	if err := r.killDuringRevocations(ctx); err != nil {
		return out, err
	}
	var err error
	if out.recovery, err = r.probe(ctx); err != nil {
		return out, err
	}
	if err := r.count(ctx, &out); err != nil {
		return out, err
	}
	promoted, err := r.topo.primaryAddr(ctx)
	if err != nil {
		return out, err
	}
	r.thawedAt.Store(time.Now().UnixNano())
	r.srv.thaw()
	if !waitFor(ctx, afterLimit, r.allFinished) {
		return out, fmt.Errorf("the clients did not make %d refreshes each within %v of the thaw", r.p.after, afterLimit)
	}
	for _, s := range r.clients {
		if !s.thief && s.loggedOut() {
			out.spurious++
		}
		if !s.thief && r.svc.healedCount(s.subject) > 0 {
			out.healed++
		}
	}
	out.rotations, out.transientErrors = r.rotations.Load(), r.transient.Load()
	if now, err := r.topo.primaryAddr(ctx); err != nil || now != promoted {
		// A second promotion loses writes after they were counted.
		return out, fmt.Errorf("%w: %s after the counting, %s at the end (%v)", errPromotedAgain, promoted, now, err)
	}
	return out, nil
}

// errPromotedAgain: the primary changed again after the counting, so the
// run's counts cannot be attributed; the run is repeated.
var errPromotedAgain = errors.New("a second promotion during the run")

// work refreshes its sessions in turn, each at most once per p.interval,
// until each has made p.after refreshes after the thaw or is logged out,
// or ctx ends.
func (r *run) work(ctx context.Context, mine []*clientSession) {
	for ctx.Err() == nil {
		busy, sent := false, false
		for _, s := range mine {
			if ctx.Err() != nil || s.loggedOut() || r.finished(s) {
				continue
			}
			busy = true
			if s.due(r.p.interval) {
				sent = true
				r.request(ctx, s)
			}
		}
		if !busy {
			return
		}
		if !sent {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// allFinished reports whether every session has made its refreshes after
// the thaw or is logged out.
func (r *run) allFinished() bool {
	for _, s := range r.clients {
		if !s.loggedOut() && !r.finished(s) {
			return false
		}
	}
	return true
}

func (r *run) finished(s *clientSession) bool {
	thawed := r.thawedAt.Load()
	return thawed != 0 && s.since(time.Unix(0, thawed)) >= r.p.after
}

// request fetches the resource with the session's client: every request
// but the first refreshes.
func (r *run) request(ctx context.Context, s *clientSession) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.srv.URL+"/resource", nil)
	if err != nil {
		panic(err) // a constant, valid URL
	}
	resp, err := s.client.Do(req)
	switch {
	case err == nil:
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			r.transient.Add(1)
		}
	case loggedOut(err):
		s.logOut()
	case ctx.Err() == nil: // the store is failing over: try again soon
		r.transient.Add(1)
		time.Sleep(20 * time.Millisecond)
	}
}

// killDuringRevocations revokes the revocable sessions one after the other
// and, once half are acknowledged, freezes the endpoints and kills the
// primary. Revocations held by the freeze are abandoned.
func (r *run) killDuringRevocations(ctx context.Context) error {
	rctx, stop := context.WithCancel(ctx)
	half, exited := make(chan struct{}), make(chan struct{})
	defer func() {
		stop() // ends a revocation held by the freeze
		<-exited
	}()
	go func() {
		defer close(exited)
		acked := 0
		for _, d := range r.revoked {
			status, _, err := r.post(rctx, revokePath, url.Values{"token": {d.rt}}, "", false)
			if err != nil || status != http.StatusOK {
				return // frozen, then abandoned
			}
			d.ackAt = time.Now()
			if acked++; acked == len(r.revoked)/2 {
				close(half)
			}
		}
	}()
	select {
	case <-half:
	case <-time.After(time.Minute):
		return fmt.Errorf("half of %d revocations not acknowledged within a minute", len(r.revoked))
	}
	resume := func() {}
	if r.p.lag > 0 {
		resume = r.topo.lag(r.t, r.p.lag)
	}
	r.srv.freeze()
	r.killAt = time.Now()
	r.topo.kill()
	resume()
	return nil
}

// stableFor is how long every probe must keep working before the store
// counts as recovered: in a Cluster, the masters that survived refuse
// every request (CLUSTERDOWN) from when they agree that a master failed
// until they learn of its replica's promotion, after the dead master's
// probes failed first.
const stableFor = time.Second

// probeInterval is the pause between two rounds of probes: the resolution
// of the recovery time, kept coarse enough that probing does not load the
// machine more than the clients do.
const probeInterval = 100 * time.Millisecond

// probe refreshes every probe session (they are spread over every shard)
// in rounds until all have succeeded in every round for stableFor, and
// returns the time from the kill to the first round of that run.
func (r *run) probe(ctx context.Context) (time.Duration, error) {
	var okSince time.Time // start of the run of rounds without a failure
	for {
		if time.Since(r.killAt) > recoveryLimit {
			return 0, fmt.Errorf("the probe sessions did not all work for %v within %v of the kill", stableFor, recoveryLimit)
		}
		start := time.Now()
		failed, err := r.probeRound(ctx)
		switch {
		case err != nil:
			return 0, err
		case failed > 0:
			okSince = time.Time{}
		case okSince.IsZero():
			okSince = start
		case time.Since(okSince) >= stableFor:
			return okSince.Sub(r.killAt), nil
		}
		time.Sleep(probeInterval)
	}
}

// probeRound refreshes every probe session once, concurrently, and returns
// how many failed for now. A failed refresh is repeated in the next round
// with the same idempotency key.
func (r *run) probeRound(ctx context.Context) (failed int, err error) {
	errs := make([]error, len(r.probes))
	var wg sync.WaitGroup
	for i, d := range r.probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {d.rt}}
			status, body, err := r.post(ctx, refreshPath, form, d.key, true)
			var tok struct {
				RefreshToken string `json:"refresh_token"`
			}
			switch {
			case err != nil || status >= 500:
				errs[i] = errRetry
			case status != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil || tok.RefreshToken == "":
				errs[i] = fmt.Errorf("a probe session, untouched by the kill, was refused: %d %s", status, body)
			default:
				d.rt, d.key = tok.RefreshToken, rand.Text()
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		switch {
		case e == errRetry:
			failed++
		case e != nil:
			return 0, e
		}
	}
	return failed, nil
}

var errRetry = errors.New("no definite answer")

// retry calls f until it succeeds, for up to 10 s.
func retry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// steal replays the session's tokens spent before the kill, newest first,
// until one is answered 200: the best a thief holding them all can do. A
// token ahead of what the new primary holds is refused without side
// effects, so the walk reaches the token the new primary takes for
// current, if a rotation was lost; an older one is reuse and revokes the
// session, after which nothing wins.
func (r *run) steal(ctx context.Context, s *clientSession, out *outcome) error {
	spent := s.spentBefore(r.killAt)
	if len(spent) == 0 {
		return nil
	}
	out.thiefTries++
	for _, rt := range spent {
		healed := r.svc.healedCount(s.subject)
		status, _, err := r.settle(ctx, rt, rand.Text())
		if err != nil {
			return fmt.Errorf("the thief's replay: %w", err)
		}
		if status == http.StatusOK {
			out.thiefWins++
			if r.svc.healedCount(s.subject) > healed {
				out.thiefHealed++
			}
			return nil
		}
	}
	return nil
}

// count counts, while the clients are held, the lost writes, the thief's
// wins and the undone revocations.
func (r *run) count(ctx context.Context, out *outcome) error {
	for _, s := range r.clients {
		// The client's first: a request held since before the freeze may
		// still rotate on the new primary, and the client then saves.
		held := s.generation()
		var gen uint64
		err := retry(ctx, func() (err error) { gen, err = r.svc.generation(ctx, s.subject); return err })
		if err != nil {
			return fmt.Errorf("reading %s's session on the new primary: %w", s.subject, err)
		}
		if gen < held {
			out.lostWrites++
			if s.thief {
				out.lostThief++
			}
		}
	}
	for _, s := range r.clients {
		if s.thief {
			if err := r.steal(ctx, s, out); err != nil {
				return err
			}
		}
	}
	for _, d := range r.revoked {
		if d.ackAt.IsZero() || !d.ackAt.Before(r.killAt) {
			continue
		}
		out.revokedBefore++
		status, _, err := r.settle(ctx, d.rt, rand.Text())
		if err != nil {
			return fmt.Errorf("refreshing a revoked session: %w", err)
		}
		if status == http.StatusOK {
			out.undone++
		}
	}
	return nil
}
