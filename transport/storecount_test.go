package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// countingStore wraps a Store that is a Locker and a Versioner, forwarding
// both, and counts the calls a Transport makes; each Save and Clear of the
// Store that Lock returned must come while the lock is held.
type countingStore struct {
	t        *testing.T
	store    Store
	locked   atomic.Bool
	loads    atomic.Int64
	saves    atomic.Int64
	unlocked atomic.Int64 // Saves and Clears made without holding the lock
}

var (
	_ Locker    = (*countingStore)(nil)
	_ Versioner = (*countingStore)(nil)
	_ Versioner = (*countingHeld)(nil)
)

func (c *countingStore) inner() Store { return c.store }

func (c *countingStore) reset() {
	c.loads.Store(0)
	c.saves.Store(0)
	c.unlocked.Store(0)
}

func (c *countingStore) Load(ctx context.Context) (*Token, error) {
	c.loads.Add(1)
	return c.store.Load(ctx)
}

// Save, on the store itself, is the application's: it takes the lock.
func (c *countingStore) Save(ctx context.Context, tok *Token) error {
	c.saves.Add(1)
	c.unlocked.Add(1)
	return c.store.Save(ctx, tok)
}

func (c *countingStore) Clear(ctx context.Context) error {
	c.unlocked.Add(1)
	return c.store.Clear(ctx)
}

func (c *countingStore) Version() uint64 { return c.store.(Versioner).Version() }

func (c *countingStore) Lock(ctx context.Context) (Store, func(), error) {
	held, unlock, err := c.store.(Locker).Lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !c.locked.CompareAndSwap(false, true) {
		c.t.Error("Lock returned while the lock was held")
	}
	return &countingHeld{c: c, held: held}, func() { c.locked.Store(false); unlock() }, nil
}

// countingHeld is a countingStore as the holder of its lock sees it.
type countingHeld struct {
	c    *countingStore
	held Store
}

func (h *countingHeld) Load(ctx context.Context) (*Token, error) {
	h.c.loads.Add(1)
	return h.held.Load(ctx)
}

func (h *countingHeld) Save(ctx context.Context, tok *Token) error {
	h.c.saves.Add(1)
	if !h.c.locked.Load() {
		h.c.unlocked.Add(1)
	}
	return h.held.Save(ctx, tok)
}

func (h *countingHeld) Clear(ctx context.Context) error {
	if !h.c.locked.Load() {
		h.c.unlocked.Add(1)
	}
	return h.held.Clear(ctx)
}

func (h *countingHeld) Version() uint64 { return h.held.(Versioner).Version() }

// keyringStore is a Store of an application's own, such as one backed by
// the OS keyring: it keeps the token as JSON and implements Locker and
// Versioner as their documentation asks. Its Save and Clear take its lock;
// those of the Store its Lock returns do not.
type keyringStore struct {
	sem  chan struct{} // the lock
	mu   sync.Mutex
	data []byte // guarded by mu; nil when empty
	ver  atomic.Uint64
}

func newKeyringStore() *keyringStore { return &keyringStore{sem: make(chan struct{}, 1)} }

func (s *keyringStore) Load(context.Context) (*Token, error) {
	s.mu.Lock()
	data := s.data
	s.mu.Unlock()
	if data == nil {
		return nil, ErrNoToken
	}
	var tok Token
	if err := json.Unmarshal(data, &tok); err != nil {
		return nil, err
	}
	return &tok, nil
}

func (s *keyringStore) Save(ctx context.Context, tok *Token) error {
	held, unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return held.Save(ctx, tok)
}

func (s *keyringStore) Clear(ctx context.Context) error {
	held, unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return held.Clear(ctx)
}

func (s *keyringStore) Lock(ctx context.Context) (Store, func(), error) {
	select {
	case s.sem <- struct{}{}:
		return keyringHeld{s}, func() { <-s.sem }, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

func (s *keyringStore) Version() uint64 { return s.ver.Load() }

func (s *keyringStore) set(data []byte) {
	s.mu.Lock()
	s.data = data
	s.ver.Add(1)
	s.mu.Unlock()
}

type keyringHeld struct{ s *keyringStore }

func (h keyringHeld) Load(ctx context.Context) (*Token, error) { return h.s.Load(ctx) }
func (h keyringHeld) Clear(context.Context) error              { h.s.set(nil); return nil }
func (h keyringHeld) Version() uint64                          { return h.s.Version() }

func (h keyringHeld) Save(_ context.Context, tok *Token) error {
	data, err := json.Marshal(tok)
	if err != nil {
		return err
	}
	h.s.set(data)
	return nil
}

// TestStoreCallsPerRefresh: with a store that is a Locker and a Versioner
// (the memory and file stores, and one of the application's own), a
// refresh reads the store once and saves at most twice (the idempotency key
// before sending, the new tokens after), every save under the lock.
func TestStoreCallsPerRefresh(t *testing.T) {
	stores := map[string]func(t *testing.T) Store{
		"memory": func(*testing.T) Store { return NewMemoryStore(nil) },
		"file": func(t *testing.T) Store {
			s, err := NewFileStore(filepath.Join(privateDir(t), "token.json"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"custom": func(*testing.T) Store { return newKeyringStore() },
	}
	for _, kind := range []string{"memory", "file", "custom"} {
		for _, tc := range []struct {
			scenario     string
			loads, saves int64
		}{
			{"redeem", 1, 2}, // a new key saved before sending
			{"resume", 1, 1}, // the key was saved by a process that died
			{"adopt", 1, 0},  // a peer rotated the tokens meanwhile
		} {
			t.Run(kind+"/"+tc.scenario, func(t *testing.T) {
				inner := stores[kind](t)
				c := &countingStore{t: t, store: inner}
				f := newFixture(t, func(s *authServer) { s.opaque = true }, c)
				prepare := map[string]func(*fixture, Store){"redeem": nil, "resume": savePendingKey, "adopt": refreshByPeer}[tc.scenario]
				if prepare != nil {
					prepare(f, inner)
				}
				f.mustGet("/api/me", 200) // loads the session, or refreshes (adopt)
				if tc.scenario != "adopt" {
					c.reset()
					f.expire()
					f.mustGet("/api/me", 200) // a 401 and one refresh
				}
				loads, saves := c.loads.Load(), c.saves.Load()
				t.Logf("%s store, %s: %d Load, %d Save per refresh", kind, tc.scenario, loads, saves)
				if loads != tc.loads || saves != tc.saves {
					t.Errorf("%d Loads and %d Saves per refresh; want %d and %d", loads, saves, tc.loads, tc.saves)
				}
				if n := c.unlocked.Load(); n != 0 {
					t.Errorf("%d Saves or Clears without the lock", n)
				}
				if got, want := f.stored().RefreshToken, f.srv.currentRefreshToken(f.first.RefreshToken); got != want {
					t.Errorf("store holds %q, want the rotated %q", got, want)
				}
				if st := f.srv.Stats(); st.Rotations != 1 || st.Reuses != 0 {
					t.Errorf("server saw %+v; want one rotation", st)
				}
			})
		}
	}
}

// savePendingKey leaves in store what a process killed mid-refresh leaves:
// the login with the key of the refresh it had started, and its endpoint.
func savePendingKey(f *fixture, store Store) {
	tok := *f.first
	tok.IdempotencyKey = "key-of-a-process-that-died"
	tok.RefreshURL = f.tr.r.stamp
	if err := store.Save(context.Background(), &tok); err != nil {
		f.t.Fatal(err)
	}
	f.srv.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Idempotency-Key") != tok.IdempotencyKey {
			f.t.Errorf("the refresh carried another key than the one saved")
		}
		return false
	}
}

// refreshByPeer makes the session's first request, sent with the login's
// token, draw a 401 after a peer sharing store has refreshed: the refresh
// under the lock finds the peer's tokens and adopts them. The counts start
// once the peer is done.
func refreshByPeer(f *fixture, store Store) {
	peer, err := New(f.srv.tokenURL(), store, WithClock(f.clock.Now))
	if err != nil {
		f.t.Fatal(err)
	}
	f.expire()
	var started atomic.Bool
	f.srv.resource = func(http.ResponseWriter, *http.Request) {
		if started.CompareAndSwap(false, true) {
			resp, err := (&http.Client{Transport: peer}).Get(f.srv.URL + "/api/me")
			if err != nil || resp.StatusCode != 200 {
				f.t.Errorf("the peer's request: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			f.store.(*countingStore).reset()
		}
	}
}
