package transport

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"time"
)

// retryPolicy says how often a refresh request whose outcome is unknown or
// temporary is sent, and how long to wait in between: equal jitter (a
// random wait between half the bound and the bound), the bound doubling
// from minBackoff up to maxBackoff.
type retryPolicy struct {
	attempts               int
	minBackoff, maxBackoff time.Duration
}

func (p retryPolicy) check() error {
	switch {
	case p.attempts < 1:
		return configError("%d refresh attempts; at least 1 is needed", p.attempts)
	case p.minBackoff < 0 || p.maxBackoff < p.minBackoff:
		return configError("backoff %s..%s is not a range", p.minBackoff, p.maxBackoff)
	}
	return nil
}

// backoff returns the wait after the given attempt.
func (p retryPolicy) backoff(attempt int) time.Duration {
	bound := p.minBackoff << min(attempt-1, 30)
	if bound <= 0 || bound > p.maxBackoff {
		bound = p.maxBackoff
	}
	half := bound / 2
	if half <= 0 {
		return bound
	}
	return half + mrand.N(bound-half+1)
}

// wait returns how long to wait before the attempt after attempt, which
// failed with err, and whether to try again at all: not after a definite
// answer, nor past the last attempt or a Retry-After longer than the
// longest backoff.
func (p retryPolicy) wait(attempt int, err error) (time.Duration, bool) {
	var re *ResponseError
	switch {
	case errors.As(err, &re) && !re.temporary(), errors.Is(err, ErrInvalidResponse), errors.Is(err, errBadEndpoint):
		return 0, false
	case attempt >= p.attempts:
		return 0, false
	case re != nil && re.RetryAfter > p.maxBackoff:
		return 0, false
	case re != nil:
		return max(p.backoff(attempt), re.RetryAfter), true
	}
	return p.backoff(attempt), true
}

// redeem sends the refresh request for tok's refresh token with its
// idempotency key, repeating it with the same token and key while the
// outcome is unknown or temporary. Each attempt gets an equal share of the
// refresh timeout. It returns the number of attempts made.
func (r *refresher) redeem(ctx context.Context, tok *Token) (*Token, int, error) {
	perAttempt := r.timeout / time.Duration(r.retry.attempts)
	send := *tok
	fixed := send.DPoPKey == nil && r.dpop.fixed != nil
	if fixed {
		send.DPoPKey = r.dpop.fixed // proves with DPoP.Key, which no store holds
	}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, perAttempt)
		next, err := r.endpoint.Redeem(actx, &send, tok.IdempotencyKey)
		cancel()
		if err == nil {
			if fixed {
				next.DPoPKey = nil
			}
			return next, attempt, nil
		}
		wait, again := r.retry.wait(attempt, err)
		if !again || ctx.Err() != nil {
			return nil, attempt, unavailable(err)
		}
		r.log.Debug("transport: refresh attempt failed; retrying with the same idempotency key",
			"attempt", attempt, "wait", wait, logError(err))
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, attempt, unavailable(err)
		}
	}
}

// unavailable wraps err, the last attempt's, in ErrRefreshUnavailable unless
// the endpoint gave a definite answer.
func unavailable(err error) error {
	var re *ResponseError
	if errors.As(err, &re) && !re.temporary() || errors.Is(err, ErrInvalidResponse) || errors.Is(err, errBadEndpoint) {
		return err
	}
	return errorf("%w: %w", ErrRefreshUnavailable, err)
}

// redeemed records a completed redemption of rt, rotated to next.
func (r *refresher) redeemed(rt, next string) {
	r.mu.Lock()
	if next != rt {
		r.spent.add(rt)
	}
	r.pending = pendingKey{}
	r.mu.Unlock()
}

// blocked returns how long refreshes are still suspended after a temporary
// failure.
func (r *refresher) blocked() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.retryAt.Sub(r.now())
}

// backOff suspends refreshes for the server's Retry-After, or at least the
// maximum backoff, so an outage is not hammered by every request.
func (r *refresher) backOff(err error) {
	wait := r.retry.maxBackoff
	var re *ResponseError
	if errors.As(err, &re) {
		wait = max(wait, re.RetryAfter)
	}
	r.mu.Lock()
	r.retryAt = r.now().Add(wait)
	r.mu.Unlock()
}
