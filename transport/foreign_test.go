package transport

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countResources counts the resource requests s receives.
func countResources(s *authServer) *atomic.Int64 {
	var n atomic.Int64
	s.resource = func(http.ResponseWriter, *http.Request) { n.Add(1) }
	return &n
}

// wantForeign checks that err is the refusal of a foreign token.
func wantForeign(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrForeignToken) || !errors.Is(err, ErrLoginRequired) {
		t.Errorf("%s: %v; want ErrForeignToken and ErrLoginRequired", what, err)
	}
}

// TestForeignTokenIsNeverSent: a session logged in through the Transport
// of one server, kept in a store that a Transport of another server (on
// another origin) opens, never reaches that server: not on a request, not
// after its expiry, not from many goroutines at once, not through Token,
// Session or Login. The store keeps the session, and its own server still
// takes it.
func TestForeignTokenIsNeverSent(t *testing.T) {
	for _, kind := range []string{"memory", "file"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			store, _ := storePair(t, kind)
			f := newFixture(t, nil, store)
			homeRequests := countResources(f.srv)
			if err := f.tr.Login(ctx, f.first); err != nil {
				t.Fatal(err)
			}
			home := canonicalURL(mustParse(t, f.srv.tokenURL()))
			if got := f.stored().RefreshURL; got != home {
				t.Fatalf("stored RefreshURL = %q, want %q", got, home)
			}

			other := newAuthServer(t, f.clock.Now)
			otherRequests := countResources(other)
			base := &http.Transport{}
			t.Cleanup(base.CloseIdleConnections)
			foreign, err := New(other.tokenURL(), store, WithBase(base), WithClock(f.clock.Now))
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Transport: foreign}
			get := func() error {
				resp, err := client.Get(other.URL + "/api/me")
				if err == nil {
					resp.Body.Close()
				}
				return err
			}

			wantForeign(t, "GET", get())
			f.clock.Advance(10 * time.Minute) // due for a refresh
			wantForeign(t, "GET after expiry", get())
			for _, err := range concurrently(50, get) {
				wantForeign(t, "concurrent GET", err)
			}
			_, err = foreign.Token(ctx)
			wantForeign(t, "Token", err)
			_, err = foreign.Session(ctx)
			wantForeign(t, "Session", err)
			wantForeign(t, "Login", foreign.Login(ctx, f.stored()))
			if err := get(); err == nil || !strings.Contains(err.Error(), home) || strings.Contains(err.Error(), f.first.AccessToken) {
				t.Errorf("the error should name the session's endpoint and no token: %v", err)
			}

			if n := otherRequests.Load(); n != 0 {
				t.Errorf("the other server received %d resource requests, want 0", n)
			}
			wantStats(t, other.Stats(), serverStats{})
			if tok := f.stored(); !sameTokens(tok, f.first) || tok.RefreshURL != home {
				t.Errorf("the store holds %v; want the session kept as it was", tok)
			}

			// The session still works at its own server, refreshed there
			// (proactively: the clock passed its expiry).
			f.mustGet("/api/me", 200)
			if n := homeRequests.Load(); n != 1 {
				t.Errorf("its own server received %d resource requests, want 1", n)
			}
			wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1})
			if got := f.stored().RefreshURL; got != home {
				t.Errorf("after the refresh the store records %q, want %q", got, home)
			}
			wantStats(t, other.Stats(), serverStats{})
		})
	}
}

// concurrently calls f n times at once and returns its errors.
func concurrently(n int, f func() error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f()
		}()
	}
	wg.Wait()
	return errs
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestLogin: Login saves a copy of the login with the Transport's refresh
// endpoint recorded, and the next request carries it; a token that cannot
// be used, or that records another endpoint, leaves the store alone.
func TestLogin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil, &memoryStore{})
	seen := authorizations(f)
	f.mustGet("/api/me", 200) // the fixture's login, saved without a record: accepted
	home := canonicalURL(mustParse(t, f.srv.tokenURL()))

	bob := f.srv.login()
	if err := f.tr.Login(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if bob.RefreshURL != "" {
		t.Errorf("Login modified its argument: RefreshURL %q", bob.RefreshURL)
	}
	stored := f.stored()
	if stored.RefreshURL != home || !sameTokens(stored, bob) {
		t.Errorf("stored %v; want bob's tokens recording %q", stored, home)
	}
	f.mustGet("/api/me", 200)
	if got := last(seen()); got != "Bearer "+bob.AccessToken {
		t.Errorf("after Login the request carried %q, want bob's token", got)
	}

	// The same endpoint spelt differently is the same endpoint.
	carol := f.srv.login()
	carol.RefreshURL = strings.Replace(f.srv.tokenURL(), "http://127.0.0.1", "HTTP://127.0.0.1", 1)
	if err := f.tr.Login(ctx, carol); err != nil {
		t.Errorf("Login of a token recording %q: %v", carol.RefreshURL, err)
	}
	if got := f.stored().RefreshURL; got != home {
		t.Errorf("stored RefreshURL %q, want the canonical %q", got, home)
	}

	before := *f.stored()
	for _, tc := range []struct {
		name    string
		tok     *Token
		foreign bool
	}{
		{"another endpoint", &Token{AccessToken: "at", RefreshToken: "rt", RefreshURL: "https://other.example/auth/token"}, true},
		{"another path", &Token{AccessToken: "at", RefreshToken: "rt", RefreshURL: f.srv.URL + "/other/token"}, true},
		{"no tokens", &Token{}, false},
		{"not Bearer", &Token{AccessToken: "at", TokenType: "MAC"}, false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.tr.Login(ctx, tc.tok)
			if err == nil || errors.Is(err, ErrForeignToken) != tc.foreign {
				t.Errorf("Login: %v; want an error, ErrForeignToken: %v", err, tc.foreign)
			}
			if got := f.stored(); *got != before {
				t.Errorf("the store changed to %v", got)
			}
		})
	}
	var zero Transport
	if err := zero.Login(ctx, bob); err == nil {
		t.Error("Login of a zero Transport succeeded")
	}
}

// TestUnrecordedTokenIsRecordedAtItsRefresh: a token saved without a record
// (an older file, or one the application built) is used, and the refresh
// records the Transport's endpoint, in the save of its idempotency key and
// in the rotated tokens.
func TestUnrecordedTokenIsRecordedAtItsRefresh(t *testing.T) {
	for _, kind := range []string{"memory", "file"} {
		t.Run(kind, func(t *testing.T) {
			store, app := storePair(t, kind)
			var saved []string
			var mu sync.Mutex
			f := newFixture(t, func(s *authServer) {
				s.beforeRefresh = func(http.ResponseWriter, *http.Request) bool {
					tok, err := app.Load(context.Background())
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						saved = append(saved, err.Error())
					} else {
						saved = append(saved, tok.RefreshURL)
					}
					return false
				}
			}, store)
			if f.stored().RefreshURL != "" {
				t.Fatal("the fixture's login is recorded already")
			}
			f.mustGet("/api/me", 200)
			f.expire()
			f.mustGet("/api/me", 200)
			home := canonicalURL(mustParse(t, f.srv.tokenURL()))
			mu.Lock()
			defer mu.Unlock()
			if len(saved) != 1 || saved[0] != home {
				t.Errorf("while the refresh was at the server the store recorded %q, want [%q]", saved, home)
			}
			if got := f.stored(); got.RefreshURL != home || sameTokens(got, f.first) {
				t.Errorf("after the refresh the store holds %v; want rotated tokens recording %q", got, home)
			}
			wantStats(t, f.srv.Stats(), serverStats{RefreshRequests: 1, Rotations: 1, Unauthorized: 1})
		})
	}
}

// TestForeignTokenFoundAtRefresh: a store that cannot tell it changed (no
// version) is given another server's session after the Transport loaded
// its own; the refresh re-reads it under the lock and sends nothing.
func TestForeignTokenFoundAtRefresh(t *testing.T) {
	store := &plainStore{}
	f := newFixture(t, func(s *authServer) { s.opaque = true }, store)
	f.mustGet("/api/me", 200)
	elsewhere := *f.srv.login()
	elsewhere.RefreshURL = "https://other.example/auth/token"
	if err := store.Save(context.Background(), &elsewhere); err != nil {
		t.Fatal(err)
	}
	f.expire()
	_, _, err := f.get("/api/me")
	wantForeign(t, "GET", err)
	wantStats(t, f.srv.Stats(), serverStats{Unauthorized: 1})
	if got := f.stored(); *got != elsewhere {
		t.Errorf("the store holds %v; want the other server's session kept", got)
	}
	if n := f.counts.loginRequired.Load(); n != 1 {
		t.Errorf("LoginRequired hook called %d times, want 1", n)
	}
}

// TestRefreshURLSpellings: which records name the Transport's endpoint.
// Only case, a default port and an empty path are spelling; anything else
// is another endpoint, and a record that is not a URL is one too.
func TestRefreshURLSpellings(t *testing.T) {
	for _, tc := range []struct {
		transport, recorded string
		same                bool
	}{
		{"https://api.example.com/auth/token", "https://api.example.com/auth/token", true},
		{"https://api.example.com/auth/token", "HTTPS://API.Example.COM/auth/token", true},
		{"https://api.example.com/auth/token", "https://api.example.com:443/auth/token", true},
		{"https://api.example.com:443/auth/token", "https://api.example.com/auth/token", true},
		{"http://127.0.0.1:80/auth/token", "http://127.0.0.1/auth/token", true},
		{"http://[::1]:8080/auth/token", "http://[::1]:8080/auth/token", true},
		{"https://api.example.com", "https://api.example.com/", true},
		{"https://api.example.com/auth/token?tenant=a", "https://api.example.com/auth/token?tenant=a", true},
		{"https://api.example.com/auth/token", "https://api.example.com/auth/token/", false},
		{"https://api.example.com/auth/token", "https://api.example.com/Auth/token", false},
		{"https://api.example.com/auth/token", "https://api.example.com:8443/auth/token", false},
		{"https://api.example.com/auth/token", "https://evil.example/auth/token", false},
		{"https://api.example.com/auth/token", "https://api.example.com.evil.example/auth/token", false},
		{"http://localhost/auth/token", "https://localhost/auth/token", false},
		{"https://api.example.com/auth/token?tenant=a", "https://api.example.com/auth/token?tenant=b", false},
		{"https://api.example.com/auth/token", "/auth/token", false},
		{"https://api.example.com/auth/token", "api.example.com/auth/token", false},
		{"https://api.example.com/auth/token", "https://api.example.com/%zz", false},
		{"https://api.example.com/auth/token", "https://api.example.com/auth/token\x1b[2J", false},
	} {
		t.Run(tc.transport+" "+tc.recorded, func(t *testing.T) {
			tok := &Token{AccessToken: "at", RefreshToken: "rt", RefreshURL: tc.recorded}
			tr, err := New(tc.transport, NewMemoryStore(tok))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.Session(context.Background())
			if tc.same {
				if err != nil || got.RefreshToken != "rt" {
					t.Errorf("Session: %v, %v; want the token", got, err)
				}
				return
			}
			wantForeign(t, "Session", err)
			if err != nil && strings.ContainsAny(err.Error(), "\x1b\n") {
				t.Errorf("the error repeats control characters: %q", err)
			}
		})
	}
}

// TestSession: Session returns the stored tokens, refresh token included,
// without refreshing; after Logout it fails like a request.
func TestSession(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil, &memoryStore{})
	f.clock.Advance(10 * time.Minute) // expired: a request would refresh first
	tok, err := f.tr.Session(ctx)
	if err != nil || *tok != *f.first {
		t.Errorf("Session = %v, %v; want the login %v", tok, err, f.first)
	}
	wantStats(t, f.srv.Stats(), serverStats{})
	if err := f.tr.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tr.Session(ctx); !errors.Is(err, ErrLoginRequired) || !errors.Is(err, ErrNoToken) {
		t.Errorf("Session after Logout: %v; want ErrLoginRequired and ErrNoToken", err)
	}
	anon, err := New(f.srv.tokenURL(), &memoryStore{}, WithAnonymous())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Session(ctx); !errors.Is(err, ErrLoginRequired) {
		t.Errorf("Session of an empty store with WithAnonymous: %v; want ErrLoginRequired", err)
	}
	var zero Transport
	if _, err := zero.Session(ctx); err == nil {
		t.Error("Session of a zero Transport succeeded")
	}
}

// FuzzRefreshURL: any record is accepted or refused without panicking. A
// Transport accepts its refresh URL however it was spelt, and the record it
// writes, given to New, makes a Transport with the same record.
func FuzzRefreshURL(f *testing.F) {
	for _, s := range []string{"https://api.example.com/auth/token", "HTTP://[::1]:80/a?b=c", "http://[fe80::1%25en0]:8080/x",
		"https://ex%41mple.com/", "/auth/token", "%zz", "https://h:443", "http://%250"} {
		f.Add(s)
	}
	store := &memoryStore{}
	tr, err := New("https://api.example.com/auth/token", store)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = tr.r.owns(&Token{RefreshURL: s})
		own, err := New(s, store, WithInsecureHTTP())
		if err != nil {
			return
		}
		if err := own.r.owns(&Token{RefreshURL: s}); err != nil {
			t.Fatalf("New(%q) refuses its own URL: %v", s, err)
		}
		if _, err := url.Parse(own.r.stamp); err != nil {
			return // a host no client can reach, such as "::"
		}
		again, err := New(own.r.stamp, store, WithInsecureHTTP())
		if err != nil {
			t.Fatalf("New(%q) records %q, which New refuses: %v", s, own.r.stamp, err)
		}
		if again.r.stamp != own.r.stamp {
			t.Fatalf("New(%q) records %q, and New of that records %q", s, own.r.stamp, again.r.stamp)
		}
	})
}

// TestForeignTokenErrorShowsNoCredentials: the refresh URL a stored token
// records is the store's content, which anyone may have written; the
// ErrForeignToken error masks a password in it, or leaves out a record that
// does not parse and may hold one.
func TestForeignTokenErrorShowsNoCredentials(t *testing.T) {
	const secret = "s3cretpw"
	for _, record := range []string{
		"https://user:" + secret + "@other.example.com/auth/refresh",
		"https://user:" + secret + "%zz@other.example.com/auth/refresh",
		"https://user:" + secret + "@other example/",
	} {
		tr, err := New("https://auth.example.com/auth/refresh",
			NewMemoryStore(&Token{AccessToken: "a", RefreshToken: "r", RefreshURL: record}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = tr.Session(context.Background())
		if !errors.Is(err, ErrForeignToken) {
			t.Fatalf("record %q: %v; want ErrForeignToken", record, err)
		}
		if strings.Contains(err.Error(), secret[:4]) {
			t.Errorf("the error shows the password: %v", err)
		}
		if n := strings.Count(err.Error(), "transport:"); n != 1 {
			t.Errorf("%q says \"transport:\" %d times", err, n)
		}
	}
}
