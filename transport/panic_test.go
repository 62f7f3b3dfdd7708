package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// panicStore is a Store of the application's own whose methods panic with
// the value set in panicLoad or panicSave; with none set it is a plain
// in-memory store. Lock panics with panicLock, when it is a Locker.
type panicStore struct {
	m                               memoryStore
	panicLoad, panicSave, panicLock atomic.Pointer[any]
}

func (s *panicStore) Load(ctx context.Context) (*Token, error) {
	mayPanic(&s.panicLoad)
	return s.m.Load(ctx)
}

func (s *panicStore) Save(ctx context.Context, tok *Token) error {
	mayPanic(&s.panicSave)
	return s.m.Save(ctx, tok)
}

func (s *panicStore) Clear(ctx context.Context) error { return s.m.Clear(ctx) }

// panicLocker is a panicStore that is a Locker too.
type panicLocker struct{ panicStore }

func (s *panicLocker) Lock(ctx context.Context) (Store, func(), error) {
	mayPanic(&s.panicLock)
	held, unlock, err := s.m.Lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	return &panicHeld{s: &s.panicStore, held: held}, unlock, nil
}

// panicHeld is a panicLocker as the holder of its lock sees it.
type panicHeld struct {
	s    *panicStore
	held Store
}

func (h *panicHeld) Load(ctx context.Context) (*Token, error) {
	mayPanic(&h.s.panicLoad)
	return h.held.Load(ctx)
}

func (h *panicHeld) Save(ctx context.Context, tok *Token) error {
	mayPanic(&h.s.panicSave)
	return h.held.Save(ctx, tok)
}

func (h *panicHeld) Clear(ctx context.Context) error { return h.held.Clear(ctx) }

func mayPanic(p *atomic.Pointer[any]) {
	if v := p.Load(); v != nil {
		panic(*v)
	}
}

func setPanic(p *atomic.Pointer[any], v any) { p.Store(&v) }

// panicRT panics with its value while one is set, else passes the request
// to http.DefaultTransport; it counts the requests it saw.
type panicRT struct {
	value atomic.Pointer[any]
	calls atomic.Int64
}

func (rt *panicRT) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.calls.Add(1)
	mayPanic(&rt.value)
	return http.DefaultTransport.RoundTrip(req)
}

// getConcurrently sends n requests at once and returns their errors.
func (f *fixture) getConcurrently(n int) []error {
	return concurrently(n, func() error {
		status, _, err := f.get("/api/me")
		if err == nil && status != http.StatusOK {
			err = errors.New(http.StatusText(status))
		}
		return err
	})
}

// wantPanicErrors checks that every request failed with ErrPanic (and
// also with cause, when not nil).
func wantPanicErrors(t *testing.T, errs []error, cause error) {
	t.Helper()
	failed := 0
	for _, err := range errs {
		if errors.Is(err, ErrPanic) && (cause == nil || errors.Is(err, cause)) {
			failed++
		} else {
			t.Errorf("request: %v; want ErrPanic (and %v)", err, cause)
		}
	}
	if failed != len(errs) {
		t.Errorf("%d of %d requests failed with ErrPanic", failed, len(errs))
	}
}

// TestPanicInStoreLoad: a Store whose Load panics, while the Transport
// loads the session on its own goroutine, fails every waiting request with
// ErrPanic instead of killing the process; the panic's error value is
// wrapped too, and the log has the stack but not the panic value, which a
// Store's own code may have filled with a token. Once the store behaves,
// requests succeed.
func TestPanicInStoreLoad(t *testing.T) {
	const n = 32
	for _, tc := range []struct {
		name  string
		value any
		cause error
	}{
		{"string", "cannot load tok-SECRET", nil},
		{"error", io.ErrUnexpectedEOF, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			store := &panicStore{}
			f := newFixture(t, nil, store,
				logTo(slog.New(slog.NewTextHandler(&logs, nil))))
			setPanic(&store.panicLoad, tc.value)
			wantPanicErrors(t, f.getConcurrently(n), tc.cause)
			if !strings.Contains(logs.String(), "recovered a panic") || !strings.Contains(logs.String(), "panic_test.go") {
				t.Errorf("the log lacks the panic or its stack:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), "SECRET") {
				t.Errorf("the log shows the panic value:\n%s", logs.String())
			}

			store.panicLoad.Store(nil)
			errs := f.getConcurrently(n)
			for _, err := range errs {
				if err != nil {
					t.Errorf("after the store recovered: %v", err)
				}
			}
			wantStats(t, f.srv.Stats(), serverStats{})
		})
	}
}

// TestPanicInRefresh: a panic in the refresh path (the refresh
// RoundTripper, a Locker's Lock, a hook) is recovered in the goroutine the
// refresh runs on, and every request waiting for that refresh fails with
// ErrPanic. The Transport stays usable: once the panics stop, the next
// request refreshes, and the refresh token is redeemed once.
func TestPanicInRefresh(t *testing.T) {
	const n = 32
	t.Run("refresh RoundTripper", func(t *testing.T) {
		rt := &panicRT{}
		f := newFixture(t, nil, nil, WithEndpoint(Endpoint{Transport: rt}))
		setPanic(&rt.value, "refresh failed")
		f.expire()
		wantPanicErrors(t, f.getConcurrently(n), nil)
		if calls := rt.calls.Load(); calls < 1 || calls > n {
			t.Errorf("%d refresh requests for %d requests", calls, n)
		}

		rt.value.Store(nil)
		rt.calls.Store(0)
		for _, err := range f.getConcurrently(n) {
			if err != nil {
				t.Errorf("after the RoundTripper recovered: %v", err)
			}
		}
		if calls := rt.calls.Load(); calls != 1 {
			t.Errorf("%d refresh requests after the recovery, want 1", calls)
		}
		// Each request drew a 401 while the refresh panicked; after it,
		// those sent once the refresh completed carried the new token.
		st := f.srv.Stats()
		if st.Unauthorized < n+1 || st.Unauthorized > 2*n {
			t.Errorf("%d 401s, want %d to %d", st.Unauthorized, n+1, 2*n)
		}
		st.Unauthorized = 0
		wantStats(t, st, serverStats{RefreshRequests: 1, Rotations: 1})
	})
	t.Run("runtime error", func(t *testing.T) {
		var nilMap map[string]int
		f := newFixture(t, nil, nil, WithEndpoint(Endpoint{Transport: roundTripperFunc(func(*http.Request) (*http.Response, error) {
			nilMap["x"] = 1 // panics
			return nil, nil
		})}))
		f.expire()
		_, _, err := f.get("/api/me")
		var re runtime.Error
		if !errors.Is(err, ErrPanic) || !errors.As(err, &re) || !strings.Contains(err.Error(), "nil map") {
			t.Errorf("runtime panic: %v; want ErrPanic wrapping the runtime.Error", err)
		}
	})
	t.Run("Lock", func(t *testing.T) {
		store := &panicLocker{}
		f := newFixture(t, nil, store)
		f.mustGet("/api/me", http.StatusOK)
		setPanic(&store.panicLock, "lock failed")
		f.expire()
		wantPanicErrors(t, f.getConcurrently(n), nil)
		store.panicLock.Store(nil)
		f.mustGet("/api/me", http.StatusOK)
		wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: n + 1})
	})
	t.Run("Refreshed hook", func(t *testing.T) {
		var panicking atomic.Bool
		panicking.Store(true)
		f := newFixture(t, nil, nil, WithHooks(Hooks{Refreshed: func(RefreshInfo) {
			if panicking.Load() {
				panic("hook failed")
			}
		}}))
		f.expire()
		_, _, err := f.get("/api/me")
		if !errors.Is(err, ErrPanic) {
			t.Errorf("request: %v; want ErrPanic", err)
		}
		panicking.Store(false)
		// The refresh itself completed: its tokens are in use and stored.
		f.mustGet("/api/me", http.StatusOK)
		wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 1})
		if got, want := f.stored().RefreshToken, f.srv.currentRefreshToken(f.first.RefreshToken); got != want {
			t.Errorf("store holds %q, want the rotated %q", got, want)
		}
	})
}

// TestPanicInStoreSave: a Save that panics is a Save that failed. During a
// refresh the new tokens are used from memory and the failure is reported
// (Hooks.SaveFailed, wrapping ErrPanic); Login returns it.
func TestPanicInStoreSave(t *testing.T) {
	const n = 32
	store := &panicStore{}
	var saveFailed []error
	var mu sync.Mutex
	f := newFixture(t, nil, store, WithHooks(Hooks{SaveFailed: func(err error) {
		mu.Lock()
		saveFailed = append(saveFailed, err)
		mu.Unlock()
	}}))
	f.mustGet("/api/me", http.StatusOK)
	setPanic(&store.panicSave, "disk on fire")
	f.expire()
	for _, err := range f.getConcurrently(n) {
		if err != nil {
			t.Errorf("request: %v; a failed save must not fail the request", err)
		}
	}
	// Requests that start after the refresh use the new tokens (held in
	// memory, since saving them failed) and see no 401: how many saw one
	// depends on scheduling, but they all shared one refresh.
	st := f.srv.Stats()
	if st.Unauthorized < 1 || st.Unauthorized > n {
		t.Errorf("server answered %d requests with 401; want 1 to %d", st.Unauthorized, n)
	}
	st.Unauthorized = 0
	wantStats(t, st, serverStats{RefreshRequests: 1, Rotations: 1})
	mu.Lock()
	if len(saveFailed) != 2 { // the idempotency key, then the new tokens
		t.Errorf("SaveFailed called %d times, want 2", len(saveFailed))
	}
	for _, err := range saveFailed {
		if !errors.Is(err, ErrPanic) {
			t.Errorf("SaveFailed: %v; want ErrPanic", err)
		}
	}
	mu.Unlock()
	if err := f.tr.Login(context.Background(), f.srv.login()); !errors.Is(err, ErrPanic) {
		t.Errorf("Login with a panicking Save: %v; want ErrPanic", err)
	}
}

// roundTripperFunc adapts a function to http.RoundTripper.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
