package transport

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Store keeps the tokens of one session. The Transport reads it when it
// first needs a token and again before every refresh, and writes it before
// and after every refresh; the application writes it after a login (Save)
// and at logout (Clear). Implementations must be safe for concurrent use and
// must return when ctx is done: the Transport stops waiting for a call after
// its refresh timeout (see WithRefreshTimeout), reports it as failed, and
// makes no other call to the store until it has returned. A method that
// panics fails the call instead of the process (see ErrPanic).
type Store interface {
	// Load returns a copy of the stored token, or an error wrapping
	// ErrNoToken when there is none.
	Load(ctx context.Context) (*Token, error)
	// Save replaces the stored token with a copy of tok. When it returns
	// nil the token must survive whatever the store promises to survive
	// (for a FileStore: a crash of the process).
	Save(ctx context.Context, tok *Token) error
	// Clear removes the stored token; clearing an empty store is not an
	// error.
	Clear(ctx context.Context) error
}

// Locker is implemented by stores that several Transports or processes
// share. The Transport holds the lock across re-read → redeem → persist, so
// that one refresh token is redeemed once even when many share it: a holder
// that finds the token already rotated adopts it instead.
//
// The Transport calls Load, Save and Clear while it holds the lock, with a
// context derived from the one it passed to Lock. MemoryStore and FileStore
// recognise that context, so their Save and Clear take the lock only when
// the caller does not hold it already: an application's login (Save) or
// logout (Clear) waits for a refresh in flight instead of being undone by
// it. A Store of your own cannot recognise it, so its Save and Clear must
// not take the lock (they would wait for the Transport, which waits for
// them); the application then takes it around its own writes: Lock, Save,
// unlock. Conversely, an application must not call Save or Clear of a
// MemoryStore or FileStore while it holds their lock itself.
type Locker interface {
	// Lock blocks until the caller holds the lock or ctx is done, and
	// returns the function that releases it.
	Lock(ctx context.Context) (unlock func(), err error)
}

// versioned is implemented by stores that can tell cheaply, on every
// request, whether their content may have changed: the Transport then
// notices a logout or a new login saved by another part of the program (or,
// for a FileStore, by another process) without waiting for a refresh. The
// version is an opaque number that changes whenever the content changes;
// now is the Transport's clock, for stores that rate-limit their checks.
type versioned interface {
	version(now time.Time) uint64
}

// lockOwner identifies one holding of a store's lock. It is not zero-sized,
// so that every new(lockOwner) is a distinct pointer.
type lockOwner struct{ _ byte }

type lockOwnerKey struct{}

// withLockOwner returns a context that identifies its holder to the Lock of
// a MemoryStore or FileStore, and to their Save and Clear afterwards.
func withLockOwner(ctx context.Context) context.Context {
	return context.WithValue(ctx, lockOwnerKey{}, new(lockOwner))
}

// lockWaitHook, when set by a test, is called each time a Lock has to wait
// because the lock is held elsewhere.
var lockWaitHook atomic.Pointer[func()]

func lockWaiting() {
	if h := lockWaitHook.Load(); h != nil {
		(*h)()
	}
}

// storeLock is the in-process part of a store's lock: one holder at a time,
// remembered by the lockOwner its context carries. The zero value is ready
// to use.
type storeLock struct {
	once   sync.Once
	sem    chan struct{} // capacity 1; created by once
	holder atomic.Pointer[lockOwner]
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
		lockWaiting()
		select {
		case l.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	owner, _ := ctx.Value(lockOwnerKey{}).(*lockOwner)
	l.holder.Store(owner)
	return func() {
		l.holder.Store(nil)
		<-l.sem
	}, nil
}

// heldBy reports whether ctx belongs to the current holder of the lock.
func (l *storeLock) heldBy(ctx context.Context) bool {
	owner, _ := ctx.Value(lockOwnerKey{}).(*lockOwner)
	return owner != nil && l.holder.Load() == owner
}

var (
	_ Store     = (*MemoryStore)(nil)
	_ Locker    = (*MemoryStore)(nil)
	_ versioned = (*MemoryStore)(nil)
)

// MemoryStore is a Store held in memory, for services that obtain their
// tokens at startup. The zero value is an empty store ready to use. It is
// safe for concurrent use, and its Lock lets several Transports in one
// process share it without redeeming a refresh token twice.
//
// Save and Clear take the store's lock unless the caller holds it, so a
// login or logout waits for a refresh in flight (at most its timeout)
// instead of being undone by it. A Transport using the store notices a
// Save or Clear at its next request: a new login is used at once, and after
// a Clear requests fail with ErrLoginRequired.
type MemoryStore struct {
	mu  sync.Mutex
	tok *Token // guarded by mu; nil when empty

	lock storeLock
	// ver counts the changes of tok.
	ver atomic.Uint64
}

// NewMemoryStore returns a MemoryStore holding a copy of tok, or an empty
// one when tok is nil.
func NewMemoryStore(tok *Token) *MemoryStore {
	s := &MemoryStore{}
	if tok != nil {
		c := *tok
		s.tok = &c
	}
	return s
}

// Load returns a copy of the token, or ErrNoToken.
func (s *MemoryStore) Load(context.Context) (*Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == nil {
		return nil, ErrNoToken
	}
	c := *s.tok
	return &c, nil
}

// Save stores a copy of tok. Unless the caller holds the store's lock, it
// waits for it, and returns ctx's error if ctx ends first.
func (s *MemoryStore) Save(ctx context.Context, tok *Token) error {
	if tok == nil {
		return errorf("transport: saving a nil token (Clear empties the store)")
	}
	c := *tok
	return s.set(ctx, &c)
}

// Clear empties the store. Unless the caller holds the store's lock, it
// waits for it, and returns ctx's error if ctx ends first.
func (s *MemoryStore) Clear(ctx context.Context) error {
	return s.set(ctx, nil)
}

func (s *MemoryStore) set(ctx context.Context, tok *Token) error {
	if !s.lock.heldBy(ctx) {
		unlock, err := s.lock.acquire(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	s.mu.Lock()
	s.tok = tok
	s.ver.Add(1)
	s.mu.Unlock()
	return nil
}

// Lock takes the store's lock, waiting at most until ctx is done.
func (s *MemoryStore) Lock(ctx context.Context) (func(), error) {
	return s.lock.acquire(ctx)
}

func (s *MemoryStore) version(time.Time) uint64 { return s.ver.Load() }
