package transport

import (
	"context"
	"crypto/rand"
	"errors"
	"time"
)

// refreshOnce replaces used. It runs once at a time per Transport, in the
// goroutine the single flight owns, on a context detached from the
// caller's and bounded by the refresh timeout.
func (r *refresher) refreshOnce(parent context.Context, used *session, proactive bool) (*session, error) {
	if cur := r.replaced(used); cur != nil {
		return cur, nil // a refresh completed after the caller looked
	}
	if wait := r.blocked(); wait > 0 {
		return nil, errorf("%w: next attempt in %s", ErrRefreshUnavailable, wait.Round(time.Millisecond))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), r.timeout)
	defer cancel()
	p := &pass{r: r, proactive: proactive, epoch: r.currentEpoch()}
	defer r.emit(&p.ev) // last: after the unlock
	held, unlock, err := r.lock(ctx)
	if err != nil {
		if ctx.Err() != nil {
			err = errorf("%w: %w", ErrRefreshUnavailable, err)
		}
		return nil, errorf("transport: locking the token store: %w", err)
	}
	defer unlock()
	p.held = held
	p.watch, _ = held.(Versioner)
	return p.run(ctx, used)
}

// pass is one refresh, from taking the store's lock to releasing it:
// re-read the store, decide, save the idempotency key, redeem, look again,
// save the result. With a Versioner store it reads the store once and
// saves at most twice.
type pass struct {
	r         *refresher
	held      Store     // the store as the lock's holder sees it
	watch     Versioner // held, if it can tell it changed
	proactive bool
	epoch     uint64
	ev        events
	// known is what the store held at version, as this pass last loaded
	// or saved it, if isKnown (a save failed: unknown).
	known   Token
	isKnown bool
	version uint64
}

func (p *pass) run(ctx context.Context, used *session) (*session, error) {
	// Re-read under the lock: a peer may have rotated the tokens already,
	// or the application logged out or in.
	stored, err := p.load(ctx)
	if err != nil && !errors.Is(err, ErrLoginRequired) {
		return nil, err
	}
	d := decide(p.viewOf(used.tok, stored, err, false))
	switch d.action {
	case adopt:
		return p.adopt(d.tok, 0), nil
	case giveUp:
		return nil, p.giveUp(d.err)
	}
	tok := p.begin(ctx, d)
	next, attempts, err := p.r.redeem(ctx, &tok)
	if err != nil {
		return p.failed(ctx, tok, attempts, err)
	}
	p.r.redeemed(tok.RefreshToken, next.RefreshToken)
	// Persist before use. No cancellation may lose a rotation, so the rest
	// gets a timeout of its own: the refresh's may be nearly spent.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.r.timeout)
	defer cancel()
	return p.finish(sctx, tok, *next, attempts, d.action == resume)
}

// viewOf is what decide needs, from the tokens the pass works from and what
// the store holds.
func (p *pass) viewOf(from Token, stored *Token, err error, settled bool) view {
	v := view{from: from, stored: stored, err: err, settled: settled, fromSpent: p.r.isSpent(from.RefreshToken)}
	if stored != nil {
		v.storedSpent = p.r.isSpent(stored.RefreshToken)
		now := p.r.now()
		v.storedDue = due(refreshAt(stored, now, p.r.skew), now)
	}
	p.r.mu.Lock()
	v.pending = p.r.pending
	p.r.mu.Unlock()
	return v
}

// begin chooses the idempotency key of the refresh d decided on, remembers
// it, and saves it with the tokens before anything is sent, so that a
// process killed mid-refresh leaves it behind to be resumed. A token that
// records no refresh endpoint records this one here.
func (p *pass) begin(ctx context.Context, d decision) Token {
	tok := d.tok
	if d.action == redeem {
		tok.IdempotencyKey = rand.Text()
	}
	tok.RefreshURL = p.r.stamp
	p.r.mu.Lock()
	p.r.pending = pendingKey{refreshToken: tok.RefreshToken, key: tok.IdempotencyKey}
	p.r.mu.Unlock()
	if !p.isKnown || !p.known.same(&tok) {
		// If this fails, go on: the key lives on in memory, and a refresh
		// that cannot be saved beats no refresh at all.
		p.save(ctx, &tok)
	}
	return tok
}

// finish saves next, the tokens tok was redeemed for, and makes them the
// session, unless the store changed meanwhile: a writer that ignores the
// lock (someone deleting the token file, a program of its own) may have
// logged out or in while the refresh was at the server.
func (p *pass) finish(ctx context.Context, tok, next Token, attempts int, resumed bool) (*session, error) {
	if s, done, err := p.recheck(ctx, tok, attempts, nil); done {
		return s, err
	}
	p.save(ctx, &next)
	s := p.r.sessionAt(next, p.version)
	p.r.install(s, p.epoch)
	p.r.log.Debug("transport: tokens refreshed", "attempts", attempts, "resumed", resumed, "proactive", p.proactive)
	p.ev.refreshed = &RefreshInfo{Resumed: resumed, Attempts: attempts, Proactive: p.proactive}
	return s, nil
}

// failed handles a refresh request that failed. invalid_grant ends the
// session: the store is cleared, unless it now holds tokens a peer (or a
// new login) put there, which are adopted. Other failures keep it.
func (p *pass) failed(ctx context.Context, tok Token, attempts int, cause error) (*session, error) {
	if !rejected(cause) {
		if errors.Is(cause, ErrRefreshUnavailable) {
			p.r.backOff(cause)
		}
		p.r.log.Warn("transport: token refresh failed", "attempts", attempts, logError(cause))
		return nil, cause
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.r.timeout)
	defer cancel()
	if s, done, err := p.recheck(ctx, tok, attempts, cause); done {
		return s, err
	}
	if err := p.r.calls.run(ctx, p.held.Clear); err != nil {
		p.r.log.Warn("transport: clearing the token store failed", logError(err))
	}
	p.r.mu.Lock()
	p.r.pending = pendingKey{}
	p.r.mu.Unlock()
	return nil, p.giveUp(errorf("%w: %w", ErrLoginRequired, cause))
}

// versionNow returns the store's version: the held store's, which is
// current, else the store's own; 0 for a store that cannot tell.
func (p *pass) versionNow() uint64 {
	if p.watch != nil {
		return p.watch.Version()
	}
	return p.r.version(p.r.store)
}

// recheck looks at the store again once tok, what the pass redeemed, is
// settled (see decide). Adopted tokens, or an ended session (its error
// wrapping cause, if any), end the pass: done is then true. Otherwise the
// store still holds tok.
func (p *pass) recheck(ctx context.Context, tok Token, attempts int, cause error) (s *session, done bool, err error) {
	stored, err := p.loadAgain(ctx, tok)
	d := decide(p.viewOf(tok, stored, err, true))
	switch d.action {
	case adopt:
		return p.adopt(d.tok, attempts), true, nil
	case giveUp:
		if cause != nil {
			d.err = errorf("%w: %w", d.err, cause)
		}
		return nil, true, p.giveUp(d.err)
	}
	return nil, false, nil
}

// load loads the store, and remembers what it held at which version.
func (p *pass) load(ctx context.Context) (*Token, error) {
	version := p.versionNow()
	tok, err := p.r.loadToken(ctx, p.held)
	p.isKnown, p.version = err == nil, version
	if err == nil {
		p.known = *tok
	}
	return tok, err
}

// loadAgain returns what the store holds now, expecting tok: without loading
// it when the store can tell that it holds tok still. An error that is not
// about the token (the store failed) counts as tok.
func (p *pass) loadAgain(ctx context.Context, tok Token) (*Token, error) {
	if p.watch != nil && p.isKnown && p.known.same(&tok) && p.watch.Version() == p.version {
		return &tok, nil
	}
	stored, err := p.load(ctx)
	if err != nil && !errors.Is(err, ErrLoginRequired) {
		return &tok, nil
	}
	return stored, err
}

// save saves tok, reporting a failure (the Transport goes on with tok from
// memory).
func (p *pass) save(ctx context.Context, tok *Token) {
	if err := p.r.calls.run(ctx, func(ctx context.Context) error { return p.held.Save(ctx, tok) }); err != nil {
		p.r.log.Error("transport: saving tokens failed; using them from memory", logError(err))
		p.ev.saveFailed = append(p.ev.saveFailed, err)
		p.isKnown = false
		return
	}
	p.known, p.isKnown = *tok, true
	p.version = p.versionNow()
}

// adopt makes tok, which the store holds, the session in use.
func (p *pass) adopt(tok Token, attempts int) *session {
	s := p.r.sessionAt(tok, p.version)
	p.r.install(s, p.epoch)
	p.r.log.Debug("transport: adopted the tokens in the store, rotated by a peer")
	p.ev.refreshed = &RefreshInfo{Adopted: true, Attempts: attempts, Proactive: p.proactive}
	return s
}

// giveUp ends the session: it forgets the tokens in use and returns err,
// which wraps ErrLoginRequired, to be reported after the unlock. The next
// request loads the store again, so a login saved there is picked up.
func (p *pass) giveUp(err error) error {
	p.r.cur.Store(nil)
	p.r.log.Info("transport: login required", logError(err))
	p.ev.loginRequired = err
	return err
}
