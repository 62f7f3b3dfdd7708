package transport

import (
	"context"
	"sync"
)

// Store keeps the tokens of one session. Implementations must be safe for
// concurrent use and return when ctx is done: the Transport stops waiting
// for a call after its refresh timeout, reports it as failed, and makes no
// other call to the store until it has returned. A method that panics fails
// the call instead of the process (see ErrPanic).
//
// A Store may also implement Locker and Versioner; NewMemoryStore and
// NewFileStore return stores that implement both.
type Store interface {
	// Load returns a copy of the stored token, or an error wrapping
	// ErrNoToken when there is none.
	Load(ctx context.Context) (*Token, error)
	// Save replaces the stored token with a copy of tok. When it returns
	// nil the token must survive whatever the store promises to survive
	// (for a file store: a crash of the process).
	Save(ctx context.Context, tok *Token) error
	// Clear removes the stored token; clearing an empty store is not an
	// error.
	Clear(ctx context.Context) error
}

// Locker is implemented by stores that several Transports or processes
// share. A refresh holds the lock across re-read → redeem → save, so that
// a refresh token is redeemed once however many share it; Login and Logout
// hold it too. Lock returns the store as the holder sees it: the Transport
// calls that Store's methods (and its Version, if it is a Versioner) while
// it holds the lock, and never after unlock.
//
// Lock is re-entrant that way: a store whose own Save and Clear take the
// lock, so that an application's login or logout waits for a refresh in
// flight, returns a Store whose Save and Clear do not. A store whose Save
// and Clear never lock may return itself. A wrapper of a Locker must
// forward Lock and wrap the Store it returns.
type Locker interface {
	// Lock blocks until the caller holds the lock or ctx is done.
	Lock(ctx context.Context) (held Store, unlock func(), err error)
}

// Versioner is implemented by stores that can tell cheaply whether their
// content changed (change detection). The Transport asks on every request,
// so that a login or logout saved by another part of the program, or
// another process, takes effect without waiting for a refresh; and after a
// refresh's request it skips re-reading the store when nothing changed.
//
// Version returns a number that changes whenever the stored token changes.
// It must not block. It may lag briefly behind changes made elsewhere (a
// file store looks at its file at most once a second), except on the Store
// that Lock returned, whose Version is current.
type Versioner interface {
	Version() uint64
}

// storeLock is the in-process part of a store's lock: one holder at a
// time. The zero value is ready to use.
type storeLock struct {
	once   sync.Once
	sem    chan struct{} // capacity 1; created by once
	onWait func()        // a test seam: called when acquire has to wait
}

// acquire takes the lock or gives up when ctx is done.
func (l *storeLock) acquire(ctx context.Context) (func(), error) {
	l.once.Do(func() { l.sem = make(chan struct{}, 1) })
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case l.sem <- struct{}{}:
	default:
		l.waiting()
		select {
		case l.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return func() { <-l.sem }, nil
}

func (l *storeLock) waiting() {
	if l.onWait != nil {
		l.onWait()
	}
}
