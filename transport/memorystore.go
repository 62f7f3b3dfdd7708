package transport

import (
	"context"
	"sync"
	"sync/atomic"
)

// NewMemoryStore returns a Store held in memory, holding a copy of tok (or
// nothing, when tok is nil), for services that obtain their tokens at
// startup. It is a Locker, so several Transports in one process can share
// it, and its Save and Clear wait for a refresh in flight instead of being
// undone by it. It is a Versioner: a Transport using it sees a Save or a
// Clear from its next request on.
func NewMemoryStore(tok *Token) Store {
	s := &memoryStore{}
	if tok != nil {
		c := *tok
		s.tok = &c
	}
	return s
}

var (
	_ Locker    = (*memoryStore)(nil)
	_ Versioner = (*memoryStore)(nil)
	_ Versioner = heldMemory{}
)

// memoryStore is the store of NewMemoryStore. The zero value is empty.
type memoryStore struct {
	lock storeLock
	mu   sync.Mutex
	tok  *Token // guarded by mu; nil when empty
	ver  atomic.Uint64
}

// Load returns a copy of the token, or ErrNoToken.
func (s *memoryStore) Load(context.Context) (*Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == nil {
		return nil, ErrNoToken
	}
	c := *s.tok
	return &c, nil
}

// Save stores a copy of tok once it holds the store's lock.
func (s *memoryStore) Save(ctx context.Context, tok *Token) error {
	if tok == nil {
		return errorf("transport: saving a nil token (Clear empties the store)")
	}
	unlock, err := s.lock.acquire(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return heldMemory{s}.Save(ctx, tok)
}

// Clear empties the store once it holds the store's lock.
func (s *memoryStore) Clear(ctx context.Context) error {
	unlock, err := s.lock.acquire(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return heldMemory{s}.Clear(ctx)
}

// Lock takes the store's lock, waiting at most until ctx is done.
func (s *memoryStore) Lock(ctx context.Context) (Store, func(), error) {
	unlock, err := s.lock.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	return heldMemory{s}, unlock, nil
}

// Version counts the changes of the token.
func (s *memoryStore) Version() uint64 { return s.ver.Load() }

func (s *memoryStore) set(tok *Token) {
	s.mu.Lock()
	s.tok = tok
	s.ver.Add(1)
	s.mu.Unlock()
}

// heldMemory is a memoryStore as the holder of its lock sees it.
type heldMemory struct{ s *memoryStore }

func (h heldMemory) Load(ctx context.Context) (*Token, error) { return h.s.Load(ctx) }
func (h heldMemory) Version() uint64                          { return h.s.Version() }
func (h heldMemory) Clear(context.Context) error              { h.s.set(nil); return nil }

func (h heldMemory) Save(_ context.Context, tok *Token) error {
	if tok == nil {
		return errorf("transport: saving a nil token (Clear empties the store)")
	}
	c := *tok
	h.s.set(&c)
	return nil
}
