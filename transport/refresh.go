package transport

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
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

// load reads the store once for all the requests waiting for tokens: the
// first ones, or new ones because the store changed since old was read.
func (t *Transport) load(ctx context.Context, old *session) (*session, error) {
	t.mu.Lock()
	epoch := t.epoch
	t.mu.Unlock()
	key := "load"
	if epoch != 0 {
		// Requests after a Reset must not join a load that began before.
		key += " " + strconv.FormatUint(epoch, 10)
	}
	return t.flight(ctx, key, "loading the tokens", func() (*session, error) {
		return t.loadOnce(ctx, old, epoch)
	})
}

func (t *Transport) loadOnce(parent context.Context, old *session, epoch uint64) (*session, error) {
	cur := t.cur.Load()
	if cur != nil && cur != old && (t.watch == nil || cur.version.Load() == t.watch.version(t.now())) {
		return cur, nil // loaded meanwhile
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), t.timeout)
	defer cancel()
	version := t.storeVersion()
	tok, err := t.loadStore(ctx)
	switch {
	case err == nil:
	case t.anonymous && errors.Is(err, ErrNoToken):
		s := &session{anonymous: true}
		s.version.Store(version)
		if t.watch != nil {
			// Only a store that says when it changes lets this be
			// remembered; others are asked again at each request.
			t.install(s, epoch)
		}
		return s, nil
	case errors.Is(err, ErrLoginRequired):
		t.cur.Store(nil)
		t.loginRequired(err)
		return nil, err
	default:
		return nil, err
	}
	if cur != nil && !cur.anonymous && (sameTokens(&cur.tok, tok) || t.isSpent(tok.RefreshToken)) {
		// Unchanged, or behind the tokens in memory because a save
		// failed: keep ours.
		cur.version.Store(version)
		return cur, nil
	}
	s := t.newSession(*tok, t.now())
	s.version.Store(version)
	t.install(s, epoch)
	return s, nil
}

func sameTokens(a, b *Token) bool {
	return a.AccessToken == b.AccessToken && a.RefreshToken == b.RefreshToken
}

// install makes s the session in use, unless a Reset happened since epoch.
func (t *Transport) install(s *session, epoch uint64) {
	t.mu.Lock()
	if t.epoch == epoch {
		t.cur.Store(s)
	}
	t.mu.Unlock()
}

// storeVersion returns the store's version, or 0 for a store that cannot
// tell.
func (t *Transport) storeVersion() uint64 {
	if t.watch == nil {
		return 0
	}
	return t.watch.version(t.now())
}

// loadStore reads and checks the stored token. An empty store, or a token
// that cannot be used, is ErrLoginRequired.
func (t *Transport) loadStore(ctx context.Context) (*Token, error) {
	var tok *Token
	err := t.storeCall(ctx, func(ctx context.Context) (err error) {
		tok, err = t.store.Load(ctx)
		return err
	})
	switch {
	case errors.Is(err, ErrNoToken):
		return nil, errorf("%w: %w", ErrLoginRequired, err)
	case err != nil:
		return nil, errorf("transport: loading tokens: %w", err)
	}
	if err := t.usable(tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// usable checks a stored token: one that cannot be used, or that belongs to
// another refresh endpoint, is ErrLoginRequired.
func (t *Transport) usable(tok *Token) error {
	if err := tok.validate(false); err != nil {
		return errorf("%w: the stored token cannot be used (%w); log in again to replace it", ErrLoginRequired, err)
	}
	return t.owns(tok)
}

// maxShownURL bounds how much of a recorded refresh URL an error repeats.
const maxShownURL = 200

// owns reports, as an error wrapping ErrForeignToken and ErrLoginRequired,
// a token that records another refresh endpoint than the Transport's. An
// unrecorded one is accepted: see Token.RefreshURL. A record that is not a
// URL is another endpoint too: it fails closed.
func (t *Transport) owns(tok *Token) error {
	if tok.RefreshURL == "" || tok.RefreshURL == t.stamp {
		return nil
	}
	u, err := url.Parse(tok.RefreshURL)
	if err == nil && canonicalURL(u) == t.stamp {
		return nil
	}
	// The record comes from the store, which anyone may have written:
	// mask a password in it, or leave out one that does not parse.
	shown := "a URL not shown"
	switch {
	case err == nil:
		shown = strconv.Quote(printable(u.Redacted(), maxShownURL))
	case !strings.Contains(tok.RefreshURL, "@"):
		shown = strconv.Quote(printable(tok.RefreshURL, maxShownURL))
	}
	return errorf("%w: %w: it was issued for %s, and this Transport refreshes at %q; nothing was sent",
		ErrLoginRequired, ErrForeignToken, shown, t.stamp)
}

// storeCall runs f, a call into the Store, for at most as long as ctx lasts.
// A Store should return when ctx is done; a call that does not is reported
// as failed and left to finish in its own goroutine, which holds storeBusy
// until it returns. So store calls stay in order (the next one waits for it,
// within its own deadline), and a refresh releases the store's lock only
// after it (see unlockAfterStore): a late save never overwrites a later one.
func (t *Transport) storeCall(ctx context.Context, f func(context.Context) error) error {
	// Checked first: select picks at random among ready cases, so an ended
	// ctx would otherwise sometimes call the store anyway, and sometimes
	// blame an earlier call that does not exist.
	if err := ctx.Err(); err != nil {
		return errorf("transport: %w", context.Cause(ctx))
	}
	select {
	case t.storeBusy <- struct{}{}:
	case <-ctx.Done():
		return errorf("transport: the token store has not returned from an earlier call: %w", context.Cause(ctx))
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-t.storeBusy }()
		done <- t.guard("calling the token store", func() error { return f(ctx) })
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done:
			return err
		default:
			return errorf("transport: the token store did not answer in time: %w", context.Cause(ctx))
		}
	}
}

// unlockAfterStore releases the store's lock once no store call runs.
func (t *Transport) unlockAfterStore(unlock func()) {
	select {
	case t.storeBusy <- struct{}{}:
		<-t.storeBusy
		unlock()
	default:
		// A call is still running (or about to finish): release the
		// lock when it returns. The goroutine ends with that call.
		go func() {
			t.storeBusy <- struct{}{}
			<-t.storeBusy
			// Nobody waits for this goroutine: a panic is only logged.
			_ = t.guard("releasing the token store's lock", func() error { unlock(); return nil })
		}()
	}
}

// renew returns the tokens that replace used: the current ones if a refresh
// has already replaced used (stale is then true), else the result of the
// one refresh in flight, started if need be. It waits at most until ctx is
// done; the refresh itself goes on.
func (t *Transport) renew(ctx context.Context, used *session, proactive bool) (s *session, stale bool, err error) {
	if cur := t.replaced(used); cur != nil {
		return cur, true, nil
	}
	s, err = t.flight(ctx, "refresh", "refreshing the tokens", func() (*session, error) {
		return t.refresh(ctx, used, proactive)
	})
	return s, false, err
}

// replaced returns the session in use if it has other tokens than used.
func (t *Transport) replaced(used *session) *session {
	if cur := t.cur.Load(); cur != nil && !cur.anonymous && cur.header != used.header {
		return cur
	}
	return nil
}

// flight runs f once for all the callers with the same key, on a goroutine
// singleflight owns, and waits for its result at most until ctx is done. A
// panic in f is recovered there and returned to every caller as an error
// wrapping ErrPanic: singleflight would re-panic it on a goroutine of its
// own, where nobody could recover it, and the process would die.
func (t *Transport) flight(ctx context.Context, key, what string, f func() (*session, error)) (*session, error) {
	ch := t.group.DoChan(key, func() (any, error) {
		var s *session
		err := t.guard(what, func() (err error) {
			s, err = f()
			return err
		})
		return s, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*session), nil
	case <-ctx.Done():
		return nil, errorf("transport: waiting for tokens: %w", context.Cause(ctx))
	}
}

// guard runs f, turning a panic into an error wrapping ErrPanic (and the
// panic value, if it is an error) that names what was being done. The
// stack is logged; the panic value only when the runtime made it, since a
// Store's own panic might quote a token.
func (t *Transport) guard(what string, f func() error) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		shown := fmt.Sprintf("a %T", r)
		if re, ok := r.(runtime.Error); ok {
			shown = re.Error()
		}
		t.log.Error("transport: recovered a panic", "while", what, "panic", shown, "stack", string(debug.Stack()))
		if perr, ok := r.(error); ok {
			err = errorf("%w while %s: %w", ErrPanic, what, perr)
		} else {
			err = errorf("%w while %s: %v", ErrPanic, what, r)
		}
	}()
	return f()
}

// events are what a refresh reports through Hooks. They are delivered after
// the store's lock is released, so a hook may use the store.
type events struct {
	refreshed     *RefreshInfo
	loginRequired error
	saveFailed    []error
}

func (t *Transport) emit(ev *events) {
	if h := t.hooks.SaveFailed; h != nil {
		for _, err := range ev.saveFailed {
			h(err)
		}
	}
	if h := t.hooks.Refreshed; h != nil && ev.refreshed != nil {
		h(*ev.refreshed)
	}
	if ev.loginRequired != nil {
		if h := t.hooks.LoginRequired; h != nil {
			h(ev.loginRequired)
		}
	}
}

// refresh replaces used. It runs once at a time per Transport, in the
// goroutine singleflight owns, on a context detached from the caller's.
func (t *Transport) refresh(parent context.Context, used *session, proactive bool) (*session, error) {
	if cur := t.replaced(used); cur != nil {
		return cur, nil // a refresh completed after the caller looked
	}
	if wait := t.blocked(); wait > 0 {
		return nil, errorf("%w: next attempt in %s", ErrRefreshUnavailable, wait.Round(time.Millisecond))
	}
	t.mu.Lock()
	epoch := t.epoch
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(withLockOwner(context.WithoutCancel(parent)), t.timeout)
	defer cancel()
	ev := new(events)
	defer t.emit(ev) // last: after the unlock
	if l, ok := t.store.(Locker); ok {
		unlock, err := l.Lock(ctx)
		if err != nil {
			if ctx.Err() != nil {
				err = errorf("%w: %w", ErrRefreshUnavailable, err)
			}
			return nil, errorf("transport: locking the token store: %w", err)
		}
		defer t.unlockAfterStore(unlock)
	}
	return t.refreshLocked(ctx, used, proactive, epoch, ev)
}

func (t *Transport) refreshLocked(ctx context.Context, used *session, proactive bool, epoch uint64, ev *events) (*session, error) {
	// Re-read under the lock: a peer may have rotated the tokens already,
	// or the application logged out or in.
	version := t.storeVersion()
	stored, err := t.loadStore(ctx)
	if err != nil {
		if errors.Is(err, ErrLoginRequired) {
			t.endSession(err, ev)
		}
		return nil, err
	}
	tok := used.tok
	switch {
	case t.isSpent(stored.RefreshToken):
		// The store missed our last save; ours are newer. Saving the
		// idempotency key below repairs it.
	case !sameTokens(stored, &tok):
		s := t.newSession(*stored, t.now())
		if s.refreshAt.IsZero() || t.now().Before(s.refreshAt) {
			s.version.Store(version)
			t.install(s, epoch)
			t.log.Debug("transport: adopted tokens rotated by a peer")
			ev.refreshed = &RefreshInfo{Adopted: true, Proactive: proactive}
			return s, nil
		}
		tok = *stored // the peer's tokens are due as well: redeem theirs
	default:
		tok.IdempotencyKey = stored.IdempotencyKey
	}
	switch {
	case tok.RefreshToken == "":
		return nil, t.endSession(errorf("%w: the session has no refresh token", ErrLoginRequired), ev)
	case t.isSpent(tok.RefreshToken):
		// Only after a Reset, with a store that missed a save: the newer
		// tokens are gone, and the old refresh token must not be sent.
		return nil, t.endSession(errorf("%w: the stored refresh token was redeemed already", ErrLoginRequired), ev)
	}

	key, resumed := t.idempotencyKey(tok)
	if tok.IdempotencyKey != key || tok.RefreshURL != t.stamp {
		tok.IdempotencyKey = key
		tok.RefreshURL = t.stamp // an unrecorded token is recorded here
		if err := t.storeCall(ctx, func(ctx context.Context) error { return t.store.Save(ctx, &tok) }); err != nil {
			// Go on: the key lives on in memory, and a refresh that
			// cannot be saved beats no refresh at all.
			t.saveFailed(err, ev)
		} else if cur := t.cur.Load(); cur != nil && sameTokens(&cur.tok, &tok) {
			cur.version.Store(t.storeVersion()) // our own write
		}
	}

	next, attempts, err := t.redeem(ctx, &tok, key)
	if err != nil {
		var re *ResponseError
		// Only a definite answer ends the session: a 5xx is an outage,
		// whatever its body says.
		if errors.As(err, &re) && re.Code == "invalid_grant" && !re.temporary() {
			return t.rejected(ctx, tok, err, epoch, ev)
		}
		if errors.Is(err, ErrRefreshUnavailable) {
			t.backOff(err)
		}
		t.log.Warn("transport: token refresh failed", "attempts", attempts, logError(err))
		return nil, err
	}
	if next.RefreshToken == "" {
		next.RefreshToken = tok.RefreshToken // RFC 6749 §6: the old one stays valid
	}
	next.RefreshURL = t.stamp
	t.mu.Lock()
	if next.RefreshToken != tok.RefreshToken {
		t.spent.add(tok.RefreshToken)
	}
	t.pending = pendingRefresh{}
	t.mu.Unlock()

	// Persist before use. No cancellation may lose a rotation, so the save
	// gets a timeout of its own: the refresh's may be nearly spent.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer cancel()
	// But first look again: a writer that ignores the lock (someone
	// deleting the token file, a program of its own) may have logged out
	// or in while the refresh was at the server, and saving would undo it.
	version = t.storeVersion()
	switch now, err := t.loadStore(sctx); {
	case errors.Is(err, ErrNoToken):
		return nil, t.endSession(errorf("%w: the store was cleared during the refresh (%w)", ErrLoginRequired, ErrNoToken), ev)
	case errors.Is(err, ErrForeignToken):
		// A login to another server, saved meanwhile: saving ours would
		// undo it, and its tokens are not ours to use.
		return nil, t.endSession(errorf("the store was given another server's session during the refresh: %w", err), ev)
	case err == nil && !sameTokens(now, &tok) && !t.isSpent(now.RefreshToken):
		s := t.newSession(*now, t.now())
		s.version.Store(version)
		t.install(s, epoch)
		t.log.Debug("transport: the store changed during the refresh; adopted its tokens")
		ev.refreshed = &RefreshInfo{Adopted: true, Attempts: attempts, Proactive: proactive}
		return s, nil
	}
	s := t.newSession(*next, t.now())
	if err := t.storeCall(sctx, func(ctx context.Context) error { return t.store.Save(ctx, next) }); err != nil {
		t.saveFailed(err, ev)
	}
	s.version.Store(t.storeVersion())
	t.install(s, epoch)
	t.log.Debug("transport: tokens refreshed", "attempts", attempts, "resumed", resumed, "proactive", proactive)
	ev.refreshed = &RefreshInfo{Resumed: resumed, Attempts: attempts, Proactive: proactive}
	return s, nil
}

// rejected handles invalid_grant for tok: the session is over, unless the
// store now holds tokens a peer (or a new login) put there, which are kept
// and adopted.
func (t *Transport) rejected(ctx context.Context, tok Token, cause error, epoch uint64, ev *events) (*session, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer cancel()
	version := t.storeVersion()
	var stored *Token
	err := t.storeCall(ctx, func(ctx context.Context) (err error) {
		stored, err = t.store.Load(ctx)
		return err
	})
	if err == nil && stored.RefreshToken != tok.RefreshToken && !t.isSpent(stored.RefreshToken) && t.usable(stored) == nil {
		s := t.newSession(*stored, t.now())
		s.version.Store(version)
		t.install(s, epoch)
		t.log.Debug("transport: refresh token rejected, but a peer had rotated the tokens; adopted them")
		ev.refreshed = &RefreshInfo{Adopted: true}
		return s, nil
	}
	if err := t.storeCall(ctx, t.store.Clear); err != nil {
		t.log.Warn("transport: clearing the token store failed", logError(err))
	}
	t.mu.Lock()
	t.pending = pendingRefresh{}
	t.mu.Unlock()
	return nil, t.endSession(errorf("%w: %w", ErrLoginRequired, cause), ev)
}

// endSession forgets the tokens in use and returns err, which wraps
// ErrLoginRequired, to be reported with ev. The next request loads the
// store again, so a login the application saves there is picked up.
func (t *Transport) endSession(err error, ev *events) error {
	t.cur.Store(nil)
	t.log.Info("transport: login required", logError(err))
	ev.loginRequired = err
	return err
}

// loginRequired reports err, which wraps ErrLoginRequired, at once.
func (t *Transport) loginRequired(err error) {
	t.log.Info("transport: login required", logError(err))
	if h := t.hooks.LoginRequired; h != nil {
		h(err)
	}
}

func (t *Transport) saveFailed(err error, ev *events) {
	t.log.Error("transport: saving tokens failed; using them from memory", logError(err))
	ev.saveFailed = append(ev.saveFailed, err)
}

// logError is err as a log attribute. A token endpoint's error_description
// is left out: it is the server's text, which the Transport does not
// control; the status and error code are kept.
func logError(err error) slog.Attr {
	var re *ResponseError
	if errors.As(err, &re) && re.Description != "" {
		// Wrapped, its message has lost the prefix (see errorf).
		full, short := strings.TrimPrefix(re.Error(), prefix), strings.TrimPrefix(re.text(false), prefix)
		return slog.String("error", strings.Replace(err.Error(), full, short, 1))
	}
	return slog.Any("error", err)
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

// redeem sends the refresh request for tok's refresh token, repeating it
// with the same refresh token and key while the outcome is unknown or
// temporary. It returns the number of attempts made.
func (t *Transport) redeem(ctx context.Context, tok *Token, key string) (*Token, int, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
	if t.clientID != "" {
		form.Set("client_id", t.clientID)
	}
	body := form.Encode()
	// Whatever the server writes back goes into errors: never these.
	secrets := []string{tok.RefreshToken, tok.AccessToken, key}
	perAttempt := t.timeout / time.Duration(t.attempts)
	for attempt := 1; ; attempt++ {
		tok, err := t.redeemOnce(ctx, perAttempt, body, key, secrets)
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
			return nil, attempt, errorf("%w: %w", ErrRefreshUnavailable, err)
		}
		wait := t.backoff(attempt)
		if re != nil && re.RetryAfter > 0 {
			if re.RetryAfter > t.maxBackoff {
				return nil, attempt, errorf("%w: %w", ErrRefreshUnavailable, err)
			}
			wait = max(wait, re.RetryAfter)
		}
		t.log.Debug("transport: refresh attempt failed; retrying with the same idempotency key",
			"attempt", attempt, "wait", wait, logError(err))
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, attempt, errorf("%w: %w", ErrRefreshUnavailable, err)
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

func (t *Transport) redeemOnce(ctx context.Context, timeout time.Duration, body, key string, secrets []string) (*Token, error) {
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
	tok, err := readTokenResponse(resp, t.now(), secrets)
	if err != nil {
		return nil, err
	}
	return tok, nil
}
