package transport

import (
	"context"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type hookCounts struct {
	unauthorized, refreshed, adopted, resumed, retried, stale, loginRequired, saveFailed atomic.Int64
	refreshedCh                                                                          chan RefreshInfo
}

func (c *hookCounts) hooks() Hooks {
	return Hooks{
		Unauthorized: func(*http.Request) { c.unauthorized.Add(1) },
		Refreshed: func(info RefreshInfo) {
			c.refreshed.Add(1)
			if info.Adopted {
				c.adopted.Add(1)
			}
			if info.Resumed {
				c.resumed.Add(1)
			}
			if c.refreshedCh != nil {
				c.refreshedCh <- info
			}
		},
		Retried: func(_ *http.Request, stale bool) {
			c.retried.Add(1)
			if stale {
				c.stale.Add(1)
			}
		},
		LoginRequired: func(error) { c.loginRequired.Add(1) },
		SaveFailed:    func(error) { c.saveFailed.Add(1) },
	}
}

type fixture struct {
	t      *testing.T
	srv    *authServer
	clock  *testClock
	store  Store
	tr     *Transport
	client *http.Client
	counts *hookCounts
	first  *Token // the login's tokens
}

func newFixture(t *testing.T, configure func(*authServer), store Store, opts ...Option) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newTestClock(), counts: &hookCounts{}}
	f.srv = newAuthServer(t, f.clock.Now)
	if configure != nil {
		configure(f.srv)
	}
	if f.srv.dpop {
		// Bound to a key of the session, kept by the store.
		key := newKey(t, algES256)
		f.first = f.srv.loginBound(mustThumbprint(t, key))
		f.first.DPoPKey = key
		opts = append([]Option{WithDPoP(DPoP{})}, opts...)
	} else {
		f.first = f.srv.login()
	}
	if store == nil {
		store = NewMemoryStore(f.first)
	} else if err := store.Save(context.Background(), f.first); err != nil {
		t.Fatal(err)
	}
	f.store = store
	if fs, ok := store.(*fileStore); ok {
		fs.now = f.clock.Now // it looks at its file once a second of this clock
	}
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(base.CloseIdleConnections)
	opts = append([]Option{
		WithBase(base),
		WithClock(f.clock.Now),
		withRefreshRetries(4, time.Millisecond, 4*time.Millisecond),
		WithHooks(f.counts.hooks()),
	}, opts...)
	tr, err := New(f.srv.tokenURL(), store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.tr = tr
	f.client = &http.Client{Transport: tr}
	return f
}

func (f *fixture) do(req *http.Request) (int, string, error) {
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (f *fixture) get(path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.do(req)
}

func (f *fixture) mustGet(path string, wantStatus int) string {
	f.t.Helper()
	status, body, err := f.get(path)
	if err != nil || status != wantStatus {
		f.t.Fatalf("GET %s = %d %q, %v; want %d", path, status, body, err, wantStatus)
	}
	return body
}

func (f *fixture) stored() *Token {
	f.t.Helper()
	tok, err := f.store.Load(context.Background())
	if err != nil {
		f.t.Fatalf("store: %v", err)
	}
	return tok
}

func wantStats(t *testing.T, got, want serverStats) {
	t.Helper()
	if got != want {
		t.Errorf("server saw %+v\nwant          %+v", got, want)
	}
}

func (f *fixture) expire() { f.srv.expireAccess() }

func waitTimeout(t testing.TB, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Error("timed out waiting for the gate")
	}
}

// privateDir returns a new directory only the test's user can write to, as
// a FileStore requires, whatever the umask.
func privateDir(t testing.TB) string {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// onLockWait makes every Lock of store that has to wait close the returned
// channel.
func onLockWait(t testing.TB, store Store) <-chan struct{} {
	waiting := make(chan struct{})
	var once sync.Once
	l := lockOf(store)
	if l == nil {
		t.Fatalf("no lock in %T", store)
	}
	l.onWait = func() { once.Do(func() { close(waiting) }) }
	return waiting
}

// result is the outcome of a request.
type result struct {
	status int
	err    error
}

// getAsync sends GET path in the background; the channel yields its result.
func (f *fixture) getAsync(path string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		status, _, err := f.get(path)
		ch <- result{status, err}
	}()
	return ch
}
