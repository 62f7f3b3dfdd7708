package transport

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// storePair returns the store a Transport uses and the one the application
// writes to: one MemoryStore shared by two goroutines, or two FileStores on
// one file, as two processes would have.
func storePair(t *testing.T, kind string) (transportStore, appStore Store) {
	t.Helper()
	if kind == "memory" {
		m := &memoryStore{}
		return m, m
	}
	path := filepath.Join(privateDir(t), "token.json")
	a, err := newFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// heldRefresh configures the server to hold the first refresh until release
// is closed, closing arrived when it gets there.
func heldRefresh(arrived, release chan struct{}) func(*authServer) {
	var once sync.Once
	return func(s *authServer) {
		s.opaque = true
		s.beforeRefresh = func(w http.ResponseWriter, r *http.Request) bool {
			once.Do(func() {
				close(arrived)
				<-release
			})
			return false
		}
	}
}

// TestLogoutAndLoginDuringRefreshStand: a logout (Clear) or a new login
// (Save) made while a refresh is in flight, in another goroutine or another
// process, waits for the refresh and is not undone by its save.
func TestLogoutAndLoginDuringRefreshStand(t *testing.T) {
	for _, kind := range []string{"memory", "file"} {
		for _, action := range []string{"logout", "login", "Transport.Login"} {
			t.Run(kind+"/"+action, func(t *testing.T) {
				ctx := context.Background()
				trStore, appStore := storePair(t, kind)
				arrived, release := make(chan struct{}), make(chan struct{})
				f := newFixture(t, heldRefresh(arrived, release), trStore)
				f.expire()
				status := f.getAsync("/api/me")
				<-arrived // the refresh holds the store's lock and waits at the server

				waiting := onLockWait(t, appStore)
				bob := f.srv.login()
				done := make(chan error, 1)
				app, err := New(f.srv.tokenURL(), appStore)
				if err != nil {
					t.Fatal(err)
				}
				go func() {
					switch action {
					case "logout":
						done <- appStore.Clear(ctx)
					case "login":
						done <- appStore.Save(ctx, bob)
					default:
						done <- app.Login(ctx, bob)
					}
				}()
				if r := finishRace(t, waiting, done, release, status); r.err != nil || r.status != 200 {
					t.Errorf("the request in flight got %d, %v", r.status, r.err)
				}
				tok, err := appStore.Load(ctx)
				switch {
				case action == "logout" && !errors.Is(err, ErrNoToken):
					t.Errorf("after the logout the store holds %v, %v", tok, err)
				case action != "logout" && (err != nil || tok.RefreshToken != bob.RefreshToken):
					t.Errorf("after the login the store holds %v, %v; want the new login", tok, err)
				}
				wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 1})
			})
		}
	}
}

// finishRace lets a refresh held at the server (by release) complete once
// an operation racing it (reporting to done) waits for the store's lock
// (waiting closed; nil if it cannot) or has completed; then checks that the
// operation succeeded and returns the result of the request in flight.
func finishRace(t *testing.T, waiting <-chan struct{}, done chan error, release chan struct{}, inFlight <-chan result) result {
	t.Helper()
	select {
	case <-waiting: // waits for the refresh, as it must
	case err := <-done: // did not wait: the refresh comes after it
		done <- err
	}
	close(release)
	r := <-inFlight
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return r
}

// authorizations records the Authorization header of every resource request.
func authorizations(f *fixture) func() []string {
	var mu sync.Mutex
	var seen []string
	f.srv.resource = func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// last returns the last element of seen, or "" if it is empty.
func last(seen []string) string {
	if len(seen) == 0 {
		return ""
	}
	return seen[len(seen)-1]
}

// TestStoreChangesReachTheTransport: a long-running Transport notices a new
// login or a logout written to its store by another part of the program or
// another process, without waiting for a refresh.
func TestStoreChangesReachTheTransport(t *testing.T) {
	for _, kind := range []string{"memory", "file"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			trStore, appStore := storePair(t, kind)
			f := newFixture(t, func(s *authServer) { s.opaque = true }, trStore)
			seen := authorizations(f)
			f.mustGet("/api/me", 200)
			settle := func() {
				if kind == "file" {
					f.clock.Advance(statInterval) // the file is looked at once a second
				}
			}

			bob := f.srv.login()
			if err := appStore.Save(ctx, bob); err != nil {
				t.Fatal(err)
			}
			settle()
			f.mustGet("/api/me", 200)
			if got := last(seen()); got != "Bearer "+bob.AccessToken {
				t.Errorf("after a new login the request carried %q", got)
			}

			if err := appStore.Clear(ctx); err != nil {
				t.Fatal(err)
			}
			settle()
			if _, _, err := f.get("/api/me"); !errors.Is(err, ErrLoginRequired) || !errors.Is(err, ErrNoToken) {
				t.Errorf("after a logout: %v, want ErrLoginRequired", err)
			}
			if n := len(seen()); n != 2 {
				t.Errorf("%d requests reached the server, want 2", n)
			}
			wantStats(t, f.srv.Stats(), serverStats{})
		})
	}
}

// TestForget: with a Store that cannot tell the Transport it changed,
// forget (what Login and Logout do after their write) makes the next
// request read it again; requests in flight are not affected, and a
// refresh in flight does not bring the old session back.
func TestForget(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	f := newFixture(t, heldRefresh(arrived, release), &lockingStore{})
	seen := authorizations(f)
	f.mustGet("/api/me", 200)

	// A refresh in flight when forget is called saves its tokens but does
	// not make them current.
	f.expire()
	status := f.getAsync("/api/me")
	<-arrived
	f.tr.r.forget()
	close(release)
	if r := <-status; r.err != nil || r.status != 200 {
		t.Fatalf("the request in flight got %d, %v", r.status, r.err)
	}
	if cur := f.tr.r.cur.Load(); cur != nil {
		t.Error("a refresh that began before forget made its session current")
	}
	rotated := f.stored()
	f.mustGet("/api/me", 200)
	if got := last(seen()); got != "Bearer "+rotated.AccessToken {
		t.Errorf("after forget the request carried %q, want the stored token", got)
	}

	// Another user's login, saved in a store that cannot tell.
	bob := f.srv.login()
	if err := f.store.Save(context.Background(), bob); err != nil {
		t.Fatal(err)
	}
	f.tr.r.forget()
	f.mustGet("/api/me", 200)
	if got := last(seen()); got != "Bearer "+bob.AccessToken {
		t.Errorf("after forget the request carried %q, want the new login's", got)
	}
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 1})
}

// TestLogout: Logout clears the store and the session; requests fail until
// a new login is saved. With a locking store it waits for a refresh in
// flight, which completes; without, the refresh finds the store cleared
// and ends the session instead of saving over the logout.
func TestLogout(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store Store
	}{{"locking store", &lockingStore{}}, {"plain store", &plainStore{}}} {
		store := tc.store
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			arrived, release := make(chan struct{}), make(chan struct{})
			f := newFixture(t, heldRefresh(arrived, release), store)
			f.mustGet("/api/me", 200)
			f.expire()
			inFlight := f.getAsync("/api/me")
			<-arrived
			var waiting <-chan struct{}
			if isLocker(store) {
				waiting = onLockWait(t, store)
			}
			done := make(chan error, 1)
			go func() { done <- f.tr.Logout(ctx) }()
			r := finishRace(t, waiting, done, release, inFlight)
			if isLocker(store) && (r.err != nil || r.status != 200) {
				t.Errorf("the request in flight got %d, %v; want it to complete before the logout", r.status, r.err)
			}
			if !isLocker(store) && !errors.Is(r.err, ErrLoginRequired) {
				t.Errorf("the request in flight got %d, %v; want ErrLoginRequired", r.status, r.err)
			}
			if _, err := store.Load(ctx); !errors.Is(err, ErrNoToken) {
				t.Errorf("store after Logout: %v", err)
			}
			if _, _, err := f.get("/api/me"); !errors.Is(err, ErrLoginRequired) {
				t.Errorf("after Logout: %v, want ErrLoginRequired", err)
			}
			if err := store.Save(ctx, f.srv.login()); err != nil {
				t.Fatal(err)
			}
			f.tr.r.forget() // for the stores that cannot tell
			f.mustGet("/api/me", 200)
			wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 1})
		})
	}
	var zero Transport
	if err := zero.Logout(context.Background()); err == nil {
		t.Error("Logout of a zero Transport succeeded")
	}
}

func isLocker(s Store) bool {
	_, ok := s.(Locker)
	return ok
}

// TestAnonymous: with WithAnonymous, an empty store lets requests through
// without a token; by default they fail before they are sent.
func TestAnonymous(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store Store
		opts  []Option
	}{
		{"strict", &memoryStore{}, nil},
		{"anonymous", &memoryStore{}, []Option{WithAnonymous()}},
		{"anonymous, store that cannot tell", &plainStore{}, []Option{WithAnonymous()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			anonymous := tc.opts != nil
			f := newFixture(t, func(s *authServer) { s.opaque = true }, tc.store, tc.opts...)
			seen := authorizations(f)
			if err := f.store.Clear(ctx); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				wantEmptyStoreRequest(t, f, anonymous)
			}
			if _, err := f.tr.Token(ctx); !errors.Is(err, ErrLoginRequired) {
				t.Errorf("Token with an empty store: %v", err)
			}
			want := map[bool]int{true: 3, false: 0}[anonymous]
			if got := seen(); len(got) != want || (want > 0 && got[0] != "") {
				t.Errorf("server saw Authorization %q, want %d requests without", got, want)
			}
			if got := f.counts.loginRequired.Load(); anonymous && got != 0 {
				t.Errorf("LoginRequired hook called %d times for anonymous requests", got)
			}
			// A login saved in the store is used from the next request on.
			if err := f.store.Save(ctx, f.srv.login()); err != nil {
				t.Fatal(err)
			}
			f.mustGet("/api/me", 200)
			wantStats(t, f.srv.Stats(), serverStats{Unauthorized: want})
		})
	}
}

// wantEmptyStoreRequest checks a request with an empty store: the
// server's 401 (anonymous), or ErrLoginRequired.
func wantEmptyStoreRequest(t *testing.T, f *fixture, anonymous bool) {
	t.Helper()
	status, _, err := f.get("/api/me")
	switch {
	case anonymous && (err != nil || status != http.StatusUnauthorized):
		t.Fatalf("got %d %v, want the server's 401", status, err)
	case !anonymous && !errors.Is(err, ErrLoginRequired):
		t.Fatalf("got %d %v, want ErrLoginRequired", status, err)
	}
}

// TestToken: Token returns the access token a request would carry, without
// the refresh token, refreshing it proactively when it is about to expire.
func TestToken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil, nil)
	tok, err := f.tr.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Token{AccessToken: f.first.AccessToken, TokenType: "Bearer", ExpiresIn: 300, Expiry: f.first.Expiry}
	if *tok != want {
		t.Errorf("Token = %+v\nwant %+v", *tok, want)
	}
	f.clock.Advance(4*time.Minute + 45*time.Second) // within the skew
	tok, err = f.tr.Token(ctx)
	if err != nil || tok.AccessToken == f.first.AccessToken || tok.RefreshToken != "" {
		t.Errorf("Token near expiry = %v, %v; want a refreshed access token only", tok, err)
	}
	f.mustGet("/api/me", 200) // the same token, no second refresh
	wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1})

	f.srv.revokeAll()
	f.clock.Advance(10 * time.Minute)
	if _, err := f.tr.Token(ctx); !errors.Is(err, ErrLoginRequired) {
		t.Errorf("Token after revocation: %v", err)
	}
	var zero Transport
	if _, err := zero.Token(ctx); err == nil {
		t.Error("Token of a zero Transport succeeded")
	}
}

// writeIgnoringTheLock removes the token file at path ("rm") or replaces
// it with bob, as a program that ignores the lock would.
func writeIgnoringTheLock(t *testing.T, path, action string, bob *Token) {
	if action == "rm" {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, _ := json.Marshal(bob)
	if err := os.WriteFile(path+".new", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// wantWriteStood checks the outcome of writeIgnoringTheLock during a
// refresh: the request's error, what the store holds, and the token the
// last request carried.
func wantWriteStood(t *testing.T, action string, err error, tok *Token, lerr error, bob *Token, lastSent string) {
	t.Helper()
	switch action {
	case "rm":
		if !errors.Is(err, ErrLoginRequired) || !errors.Is(lerr, ErrNoToken) {
			t.Errorf("request: %v; store: %v, %v; want the logout to stand", err, tok, lerr)
		}
	case "replace":
		if err != nil || lerr != nil || tok.RefreshToken != bob.RefreshToken || lastSent != "Bearer "+bob.AccessToken {
			t.Errorf("request: %v; store: %v, %v; want the new login kept and used", err, tok, lerr)
		}
	case "replace-foreign":
		if !errors.Is(err, ErrForeignToken) || lerr != nil || tok.RefreshToken != bob.RefreshToken || tok.RefreshURL != bob.RefreshURL {
			t.Errorf("request: %v; store: %v, %v; want ErrForeignToken and the other login kept", err, tok, lerr)
		}
		if lastSent == "Bearer "+bob.AccessToken {
			t.Errorf("the other server's token was sent")
		}
	}
}

// TestRefreshKeepsALogoutThatIgnoredTheLock: a token file deleted (or
// replaced, also by another server's session) without the lock while a
// refresh is at the server stays deleted (or replaced): the refresh does
// not save over it.
func TestRefreshKeepsALogoutThatIgnoredTheLock(t *testing.T) {
	for _, action := range []string{"rm", "replace", "replace-foreign"} {
		t.Run(action, func(t *testing.T) {
			ctx := context.Background()
			store, _ := newFileStore(filepath.Join(privateDir(t), "token.json"))
			arrived, release := make(chan struct{}), make(chan struct{})
			f := newFixture(t, heldRefresh(arrived, release), store)
			seen := authorizations(f)
			f.expire()
			result := make(chan error, 1)
			go func() {
				_, _, err := f.get("/api/me")
				result <- err
			}()
			<-arrived
			bob := f.srv.login()
			if action == "replace-foreign" {
				bob.RefreshURL = "https://other.example/auth/token"
			}
			writeIgnoringTheLock(t, store.Path(), action, bob)
			close(release)
			err := <-result
			tok, lerr := store.Load(ctx)
			wantWriteStood(t, action, err, tok, lerr, bob, last(seen()))
			wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 1})
		})
	}
}
