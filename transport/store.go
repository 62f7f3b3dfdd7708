package transport

import (
	"context"
	"sync"
)

// Store keeps the tokens of one session. The Transport reads it when it
// first needs a token and again before every refresh, and writes it before
// and after every refresh; the application writes it after a login (Save)
// and at logout (Clear). Implementations must be safe for concurrent use.
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
type Locker interface {
	// Lock blocks until the caller holds the lock or ctx is done, and
	// returns the function that releases it.
	Lock(ctx context.Context) (unlock func(), err error)
}

var (
	_ Store  = (*MemoryStore)(nil)
	_ Locker = (*MemoryStore)(nil)
)

// MemoryStore is a Store held in memory, for services that obtain their
// tokens at startup. The zero value is an empty store ready to use. It is
// safe for concurrent use, and its Lock lets several Transports in one
// process share it without redeeming a refresh token twice.
type MemoryStore struct {
	mu  sync.Mutex
	tok *Token // guarded by mu; nil when empty

	lockOnce sync.Once
	sem      chan struct{} // capacity 1; created by lockOnce
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

// Save stores a copy of tok.
func (s *MemoryStore) Save(_ context.Context, tok *Token) error {
	c := *tok
	s.mu.Lock()
	s.tok = &c
	s.mu.Unlock()
	return nil
}

// Clear empties the store.
func (s *MemoryStore) Clear(context.Context) error {
	s.mu.Lock()
	s.tok = nil
	s.mu.Unlock()
	return nil
}

// Lock takes the store's lock, waiting at most until ctx is done.
func (s *MemoryStore) Lock(ctx context.Context) (func(), error) {
	s.lockOnce.Do(func() { s.sem = make(chan struct{}, 1) })
	return acquire(ctx, s.sem)
}

// acquire takes a one-slot semaphore or gives up when ctx is done.
func acquire(ctx context.Context, sem chan struct{}) (func(), error) {
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
