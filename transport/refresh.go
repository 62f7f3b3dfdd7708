package transport

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
)

// pendingRefresh remembers the idempotency key of a refresh whose outcome is
// unknown, for when the store could not save it.
type pendingRefresh struct {
	refreshToken, key string
}

// spentTokens remembers the last refresh tokens this Transport redeemed, by
// hash, so that a store whose save failed can never make it send one again.
type spentTokens struct {
	hashes [8][sha256.Size]byte
	next   int
}

func (s *spentTokens) add(rt string) {
	s.hashes[s.next%len(s.hashes)] = sha256.Sum256([]byte(rt))
	s.next++
}

func (s *spentTokens) has(rt string) bool {
	if rt == "" {
		return false
	}
	h := sha256.Sum256([]byte(rt))
	for i := range min(s.next, len(s.hashes)) {
		if s.hashes[i] == h {
			return true
		}
	}
	return false
}

// load reads the store once for all the requests waiting for a first token.
func (t *Transport) load(ctx context.Context) (*session, error) {
	ch := t.group.DoChan("load", func() (any, error) {
		if s := t.cur.Load(); s != nil {
			return s, nil
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
		defer cancel()
		tok, err := t.loadStore(lctx)
		if err != nil {
			return nil, err
		}
		s := t.newSession(*tok)
		if !t.cur.CompareAndSwap(nil, s) {
			return t.cur.Load(), nil
		}
		return s, nil
	})
	return waitFor(ctx, ch)
}

// loadStore reads and checks the stored token. An empty store ends the
// session with ErrLoginRequired.
func (t *Transport) loadStore(ctx context.Context) (*Token, error) {
	tok, err := t.store.Load(ctx)
	if errors.Is(err, ErrNoToken) {
		return nil, t.endSession(fmt.Errorf("%w: %w", ErrLoginRequired, err))
	}
	if err != nil {
		return nil, fmt.Errorf("transport: loading tokens: %w", err)
	}
	if err := tok.validate(false); err != nil {
		return nil, fmt.Errorf("transport: stored token: %w", err)
	}
	return tok, nil
}

// renew returns the tokens that replace used: the current ones if a refresh
// has already replaced used (stale is then true), else the result of the
// one refresh in flight, started if need be. It waits at most until ctx is
// done; the refresh itself goes on.
func (t *Transport) renew(ctx context.Context, used *session, proactive bool) (s *session, stale bool, err error) {
	if cur := t.cur.Load(); cur != nil && cur != used {
		return cur, true, nil
	}
	ch := t.group.DoChan("refresh", func() (any, error) {
		return t.refresh(ctx, used, proactive)
	})
	s, err = waitFor(ctx, ch)
	return s, false, err
}

func waitFor(ctx context.Context, ch <-chan singleflight.Result) (*session, error) {
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*session), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("transport: waiting for tokens: %w", context.Cause(ctx))
	}
}

// refresh replaces used. It runs once at a time per Transport, in the
// goroutine singleflight owns, on a context detached from the caller's.
func (t *Transport) refresh(parent context.Context, used *session, proactive bool) (*session, error) {
	if cur := t.cur.Load(); cur != nil && cur != used {
		return cur, nil // a refresh completed after the caller looked
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), t.timeout)
	defer cancel()
	if wait := t.blocked(); wait > 0 {
		return nil, fmt.Errorf("%w: next attempt in %s", ErrRefreshUnavailable, wait.Round(time.Millisecond))
	}
	if l, ok := t.store.(Locker); ok {
		unlock, err := l.Lock(ctx)
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w: %w", ErrRefreshUnavailable, err)
			}
			return nil, fmt.Errorf("transport: locking the token store: %w", err)
		}
		defer unlock()
	}

	// Re-read under the lock: a peer may have rotated the tokens already.
	stored, err := t.loadStore(ctx)
	if err != nil {
		return nil, err
	}
	tok := used.tok
	switch {
	case t.isSpent(stored.RefreshToken):
		// The store missed our last save; ours are newer. Saving the
		// idempotency key below repairs it.
	case stored.AccessToken != tok.AccessToken || stored.RefreshToken != tok.RefreshToken:
		s := t.newSession(*stored)
		t.cur.Store(s)
		if s.refreshAt.IsZero() || t.now().Before(s.refreshAt) {
			t.log.Debug("transport: adopted tokens rotated by a peer")
			t.refreshed(RefreshInfo{Adopted: true, Proactive: proactive})
			return s, nil
		}
		tok = *stored // the peer's tokens are due as well: redeem theirs
	default:
		tok.IdempotencyKey = stored.IdempotencyKey
	}
	if tok.RefreshToken == "" {
		return nil, t.endSession(fmt.Errorf("%w: the session has no refresh token", ErrLoginRequired))
	}

	key, resumed := t.idempotencyKey(tok)
	if tok.IdempotencyKey != key {
		tok.IdempotencyKey = key
		if err := t.store.Save(ctx, &tok); err != nil {
			// Go on: the key lives on in memory, and a refresh that
			// cannot be saved beats no refresh at all.
			t.saveFailed(err)
		}
	}

	next, attempts, err := t.redeem(ctx, tok.RefreshToken, key)
	if err != nil {
		var re *ResponseError
		// Only a definite answer ends the session: a 5xx is an outage,
		// whatever its body says.
		if errors.As(err, &re) && re.Code == "invalid_grant" && !re.temporary() {
			return t.rejected(ctx, tok, err)
		}
		if errors.Is(err, ErrRefreshUnavailable) {
			t.backOff(err)
		}
		t.log.Warn("transport: token refresh failed", "attempts", attempts, "error", err)
		return nil, err
	}
	if next.RefreshToken == "" {
		next.RefreshToken = tok.RefreshToken // RFC 6749 §6: the old one stays valid
	}
	t.mu.Lock()
	if next.RefreshToken != tok.RefreshToken {
		t.spent.add(tok.RefreshToken)
	}
	t.pending = pendingRefresh{}
	t.mu.Unlock()

	// Persist before use, and let no cancellation lose a rotation.
	s := t.newSession(*next)
	if err := t.store.Save(context.WithoutCancel(ctx), next); err != nil {
		t.saveFailed(err)
	}
	t.cur.Store(s)
	t.log.Debug("transport: tokens refreshed", "attempts", attempts, "resumed", resumed, "proactive", proactive)
	t.refreshed(RefreshInfo{Resumed: resumed, Attempts: attempts, Proactive: proactive})
	return s, nil
}

// rejected handles invalid_grant for tok: the session is over, unless the
// store now holds tokens a peer (or a new login) put there, which are kept
// and adopted.
func (t *Transport) rejected(ctx context.Context, tok Token, cause error) (*session, error) {
	ctx = context.WithoutCancel(ctx)
	if stored, err := t.store.Load(ctx); err == nil && stored.RefreshToken != tok.RefreshToken &&
		!t.isSpent(stored.RefreshToken) && stored.validate(false) == nil {
		s := t.newSession(*stored)
		t.cur.Store(s)
		t.log.Debug("transport: refresh token rejected, but a peer had rotated the tokens; adopted them")
		t.refreshed(RefreshInfo{Adopted: true})
		return s, nil
	}
	if err := t.store.Clear(ctx); err != nil {
		t.log.Warn("transport: clearing the token store failed", "error", err)
	}
	t.mu.Lock()
	t.pending = pendingRefresh{}
	t.mu.Unlock()
	return nil, t.endSession(fmt.Errorf("%w: %w", ErrLoginRequired, cause))
}

// endSession forgets the tokens in use and reports err, which wraps
// ErrLoginRequired. The next request loads the store again, so a login the
// application saves there is picked up.
func (t *Transport) endSession(err error) error {
	t.cur.Store(nil)
	t.log.Info("transport: login required", "error", err)
	if h := t.hooks.LoginRequired; h != nil {
		h(err)
	}
	return err
}

func (t *Transport) refreshed(info RefreshInfo) {
	if h := t.hooks.Refreshed; h != nil {
		h(info)
	}
}

func (t *Transport) saveFailed(err error) {
	t.log.Error("transport: saving tokens failed; using them from memory", "error", err)
	if h := t.hooks.SaveFailed; h != nil {
		h(err)
	}
}

func (t *Transport) isSpent(rt string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.spent.has(rt)
}

// idempotencyKey returns the key for redeeming tok's refresh token: the one
// saved with it, else one this Transport chose for it earlier, else a new
// random one. resumed says whether it repeats an earlier attempt.
func (t *Transport) idempotencyKey(tok Token) (key string, resumed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case tok.IdempotencyKey != "":
		key, resumed = tok.IdempotencyKey, true
	case t.pending.refreshToken == tok.RefreshToken && t.pending.key != "":
		key, resumed = t.pending.key, true
	default:
		key = rand.Text()
	}
	t.pending = pendingRefresh{refreshToken: tok.RefreshToken, key: key}
	return key, resumed
}

// blocked returns how long refreshes are still suspended after a temporary
// failure.
func (t *Transport) blocked() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.retryAt.Sub(t.now())
}

// backOff suspends refreshes for the server's Retry-After, or at least the
// maximum backoff, so an outage is not hammered by every request.
func (t *Transport) backOff(err error) {
	wait := t.maxBackoff
	var re *ResponseError
	if errors.As(err, &re) {
		wait = max(wait, re.RetryAfter)
	}
	t.mu.Lock()
	t.retryAt = t.now().Add(wait)
	t.mu.Unlock()
}

// redeem sends the refresh request, repeating it with the same refresh token
// and key while the outcome is unknown or temporary. It returns the number of
// attempts made.
func (t *Transport) redeem(ctx context.Context, rt, key string) (*Token, int, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if t.clientID != "" {
		form.Set("client_id", t.clientID)
	}
	body := form.Encode()
	perAttempt := t.timeout / time.Duration(t.attempts)
	for attempt := 1; ; attempt++ {
		tok, err := t.redeemOnce(ctx, perAttempt, body, key)
		if err == nil {
			return tok, attempt, nil
		}
		var re *ResponseError
		switch {
		case errors.As(err, &re) && !re.temporary():
			return nil, attempt, err
		case errors.Is(err, ErrInvalidResponse):
			return nil, attempt, err
		case attempt == t.attempts || ctx.Err() != nil:
			return nil, attempt, fmt.Errorf("%w: %w", ErrRefreshUnavailable, err)
		}
		wait := t.backoff(attempt)
		if re != nil && re.RetryAfter > 0 {
			if re.RetryAfter > t.maxBackoff {
				return nil, attempt, fmt.Errorf("%w: %w", ErrRefreshUnavailable, err)
			}
			wait = max(wait, re.RetryAfter)
		}
		t.log.Debug("transport: refresh attempt failed; retrying with the same idempotency key",
			"attempt", attempt, "wait", wait, "error", err)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, attempt, fmt.Errorf("%w: %w", ErrRefreshUnavailable, err)
		}
	}
}

// backoff returns the wait after the given attempt: half of the doubling
// bound plus a random part of the other half.
func (t *Transport) backoff(attempt int) time.Duration {
	bound := t.minBackoff << min(attempt-1, 30)
	if bound <= 0 || bound > t.maxBackoff {
		bound = t.maxBackoff
	}
	half := bound / 2
	if half <= 0 {
		return bound
	}
	return half + mrand.N(bound-half+1)
}

func (t *Transport) redeemOnce(ctx context.Context, timeout time.Duration, body, key string) (*Token, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.refreshURL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := t.refreshBase.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	tok, err := readTokenResponse(resp, t.now())
	if err != nil {
		return nil, err
	}
	return tok, nil
}
