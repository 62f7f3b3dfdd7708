package transport

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// refresher keeps a Transport's session: it loads it from the store, and
// refreshes it once at a time, detached from the requests that wait, under
// the store's lock (see pass).
type refresher struct {
	store     Store
	watch     Versioner // store, when it can tell it changed
	endpoint  Endpoint
	dpop      *prover
	stamp     string // the endpoint as Token.RefreshURL records it
	anonymous bool   // an empty store is a session without a token
	skew      time.Duration
	timeout   time.Duration // of a refresh, and of each store call
	retry     retryPolicy
	hooks     Hooks // Refreshed, LoginRequired, SaveFailed
	log       *slog.Logger
	now       func() time.Time

	cur   atomic.Pointer[session] // the session in use; nil until loaded, and after it ended
	group singleflight.Group
	calls storeCalls

	mu      sync.Mutex
	epoch   uint64      // guarded by mu; counts forget calls
	pending pendingKey  // guarded by mu
	spent   spentTokens // guarded by mu
	retryAt time.Time   // guarded by mu; no refresh before it
}

func newRefresher(store Store, ep Endpoint, stamp string, c *config, log *slog.Logger) *refresher {
	r := &refresher{store: store, endpoint: ep, dpop: ep.dpop, stamp: stamp, anonymous: c.anonymous, skew: c.skew,
		timeout: c.timeout, retry: c.retry, hooks: c.hooks, log: log, now: c.now}
	r.watch, _ = store.(Versioner)
	r.calls = storeCalls{busy: make(chan struct{}, 1), guard: r.guard}
	return r
}

// use returns the session a request sends: loaded on first use and when
// the store has changed, refreshed first when it is due.
func (r *refresher) use(ctx context.Context) (*session, error) {
	s, err := r.current(ctx)
	if err != nil || !due(s.refreshAt, r.now()) {
		return s, err
	}
	next, _, err := r.refresh(ctx, s, true)
	if err == nil {
		return next, nil
	}
	// A token that has not expired yet is still good: send it, and let a
	// later request try the refresh again.
	if errors.Is(err, ErrLoginRequired) || ctx.Err() != nil || !r.now().Before(s.expiry) {
		return nil, err
	}
	r.log.Debug("transport: proactive refresh failed; using the current access token until it expires", logError(err))
	return s, nil
}

// current returns the session in use, loading it on first use and when the
// store has changed.
func (r *refresher) current(ctx context.Context) (*session, error) {
	s := r.cur.Load()
	if s == nil || (r.watch != nil && r.watch.Version() != s.version.Load()) {
		return r.load(ctx, s)
	}
	return s, nil
}

// load reads the store once for all the requests waiting for tokens: the
// first ones, or new ones because the store changed since old was read.
func (r *refresher) load(ctx context.Context, old *session) (*session, error) {
	epoch := r.currentEpoch()
	key := "load"
	if epoch != 0 {
		// Requests after a forget must not join a load that began before.
		key += " " + strconv.FormatUint(epoch, 10)
	}
	return r.flight(ctx, key, "loading the tokens", func() (*session, error) {
		return r.loadOnce(ctx, old, epoch)
	})
}

func (r *refresher) loadOnce(parent context.Context, old *session, epoch uint64) (*session, error) {
	cur := r.cur.Load()
	if cur != nil && cur != old && (r.watch == nil || cur.version.Load() == r.watch.Version()) {
		return cur, nil // loaded meanwhile
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), r.timeout)
	defer cancel()
	version := r.version(r.store)
	tok, err := r.loadToken(ctx, r.store)
	switch {
	case err == nil:
	case r.anonymous && errors.Is(err, ErrNoToken):
		return r.anonymousSession(version, epoch), nil
	case errors.Is(err, ErrLoginRequired):
		r.cur.Store(nil)
		r.loginRequired(err)
		return nil, err
	default:
		return nil, err
	}
	if cur != nil && !cur.anonymous {
		d := decide(view{from: cur.tok, stored: tok, settled: true, storedSpent: r.isSpent(tok.RefreshToken)})
		if d.action == keep {
			// Unchanged, or behind the tokens in memory because a save
			// failed: keep ours.
			cur.version.Store(version)
			return cur, nil
		}
	}
	s := r.sessionAt(*tok, version)
	r.install(s, epoch)
	return s, nil
}

// anonymousSession is the session of an empty store with WithAnonymous.
func (r *refresher) anonymousSession(version, epoch uint64) *session {
	s := &session{anonymous: true}
	s.version.Store(version)
	if r.watch != nil {
		// Only a store that says when it changes lets this be
		// remembered; others are asked again at each request.
		r.install(s, epoch)
	}
	return s
}

// sessionAt makes a session of tok, read or saved at version.
func (r *refresher) sessionAt(tok Token, version uint64) *session {
	s := newSession(tok, r.now(), r.skew)
	if tok.bound() && s.key == nil {
		s.key = r.dpop.fixed // loadToken checked that there is one
	}
	s.version.Store(version)
	return s
}

// install makes s the session in use, unless a forget happened since epoch.
func (r *refresher) install(s *session, epoch uint64) {
	r.mu.Lock()
	if r.epoch == epoch {
		r.cur.Store(s)
	}
	r.mu.Unlock()
}

// forget drops the session in memory: the next request loads the store.
// Requests and a refresh in flight complete, but do not install theirs.
func (r *refresher) forget() {
	r.mu.Lock()
	r.epoch++
	r.cur.Store(nil)
	r.mu.Unlock()
}

func (r *refresher) currentEpoch() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.epoch
}

// version returns s's version, or 0 for a store that cannot tell.
func (r *refresher) version(s Store) uint64 {
	if w, ok := s.(Versioner); ok {
		return w.Version()
	}
	return 0
}

// loadToken loads and checks the token s holds. An empty store, or a token that
// cannot be used or belongs to another endpoint, is ErrLoginRequired.
func (r *refresher) loadToken(ctx context.Context, s Store) (*Token, error) {
	var tok *Token
	err := r.calls.run(ctx, func(ctx context.Context) (err error) {
		tok, err = s.Load(ctx)
		return err
	})
	switch {
	case errors.Is(err, ErrNoToken):
		return nil, errorf("%w: %w", ErrLoginRequired, err)
	case err != nil:
		return nil, errorf("transport: loading tokens: %w", err)
	case tok == nil:
		return nil, errorf("transport: loading tokens: the Store returned no token and no error")
	}
	if err := tok.validate(false); err != nil {
		return nil, errorf("%w: the stored token cannot be used (%w); log in again to replace it", ErrLoginRequired, err)
	}
	if err := r.owns(tok); err != nil {
		return nil, err
	}
	if tok.bound() && tok.DPoPKey == nil && r.dpop.fixed == nil {
		return nil, errorf("%w: the stored session is bound to a DPoP key, and the store returned none (it keeps no Token.DPoPKey) and WithDPoP names no Key", ErrLoginRequired)
	}
	return tok, nil
}

// maxShownURL bounds how much of a recorded refresh URL an error repeats.
const maxShownURL = 200

// owns reports, as an error wrapping ErrForeignToken and ErrLoginRequired,
// a token that records another refresh endpoint than the Transport's. An
// unrecorded one is accepted: see Token.RefreshURL. A record that is not a
// URL is another endpoint too: it fails closed.
func (r *refresher) owns(tok *Token) error {
	if tok.RefreshURL == "" || tok.RefreshURL == r.stamp {
		return nil
	}
	u, err := url.Parse(tok.RefreshURL)
	if err == nil && canonicalURL(u) == r.stamp {
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
		ErrLoginRequired, ErrForeignToken, shown, r.stamp)
}

// refresh returns the tokens that replace used: the current ones if a
// refresh has already replaced used (stale is then true), else the result
// of the one refresh in flight, started if need be. It waits at most until
// ctx is done; the refresh itself goes on.
func (r *refresher) refresh(ctx context.Context, used *session, proactive bool) (s *session, stale bool, err error) {
	if cur := r.replaced(used); cur != nil {
		return cur, true, nil
	}
	s, err = r.flight(ctx, "refresh", "refreshing the tokens", func() (*session, error) {
		return r.refreshOnce(ctx, used, proactive)
	})
	return s, false, err
}

// replaced returns the session in use if it has other tokens than used.
func (r *refresher) replaced(used *session) *session {
	if cur := r.cur.Load(); cur != nil && !cur.anonymous && cur.header != used.header {
		return cur
	}
	return nil
}

// lock takes the store's lock if it is a Locker, and returns the store as
// the holder sees it and the release, which waits for store calls still
// running (see storeCalls).
func (r *refresher) lock(ctx context.Context) (Store, func(), error) {
	l, ok := r.store.(Locker)
	if !ok {
		return r.store, func() {}, nil
	}
	held, unlock, err := l.Lock(ctx)
	switch {
	case err != nil:
		return nil, nil, err
	case isNil(held) || unlock == nil:
		if unlock != nil {
			unlock()
		}
		return nil, nil, errorf("transport: the store's Lock returned no Store or no unlock function")
	}
	return held, func() { r.calls.unlockAfter(unlock) }, nil
}

// replace runs write, a Save or Clear, under the store's lock, and then
// forgets the session in memory. what names the write in its error.
func (r *refresher) replace(ctx context.Context, what string, write func(context.Context, Store) error) error {
	held, unlock, err := r.lock(ctx)
	switch {
	case err == nil:
		defer unlock()
	case errors.Is(err, ErrUnsafeTokenFile):
		// A file store in an unsafe directory refuses its lock and every
		// Load and Save (so no refresh can race), and its Clear works
		// regardless, so that a logout succeeds. A Save says why it refuses.
		held = r.store
	default:
		return errorf("transport: locking the token store: %w", err)
	}
	err = r.calls.run(ctx, func(ctx context.Context) error { return write(ctx, held) })
	r.forget()
	if err != nil {
		return errorf("transport: %s: %w", what, err)
	}
	return nil
}

// events are what a refresh reports through Hooks. They are delivered after
// the store's lock is released, so a hook may use the store.
type events struct {
	refreshed     *RefreshInfo
	loginRequired error
	saveFailed    []error
}

func (r *refresher) emit(ev *events) {
	h := r.hooks
	if h.SaveFailed != nil {
		for _, err := range ev.saveFailed {
			h.SaveFailed(err)
		}
	}
	if h.Refreshed != nil && ev.refreshed != nil {
		h.Refreshed(*ev.refreshed)
	}
	if ev.loginRequired != nil && h.LoginRequired != nil {
		h.LoginRequired(ev.loginRequired)
	}
}

// loginRequired reports err, which wraps ErrLoginRequired, at once.
func (r *refresher) loginRequired(err error) {
	r.log.Info("transport: login required", logError(err))
	if h := r.hooks.LoginRequired; h != nil {
		h(err)
	}
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

func (r *refresher) isSpent(rt string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spent.has(rt)
}
