package transport_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/transport"
	"golang.org/x/oauth2"
)

// The benchmarks send GET requests with a valid token to a loopback server
// through six clients: the floor (a bare http.Client, the header set by
// hand), golang.org/x/oauth2's Transport with a static token source, and
// this package's Transport with a memory store and with a file store, and
// with a DPoP-bound session (a proof signed per request) whose key is an
// ES256 or an Ed25519 one. Compare with:
//
//	go test -run '^$' -bench . -benchmem -count 10 ./transport > bench.txt
//	benchstat -col /client bench.txt

var benchToken = strings.Repeat("t", 300) // the size of a typical JWT

type benchClient struct {
	name string
	do   func(req *http.Request) (*http.Response, error)
}

func benchClients(b *testing.B, base http.RoundTripper, url string) []benchClient {
	floor := &http.Client{Transport: base}
	auth := "Bearer " + benchToken
	o2 := &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: benchToken}),
		Base:   base,
	}}
	tok := &transport.Token{
		AccessToken: benchToken, TokenType: "Bearer", RefreshToken: "rt",
		Expiry: time.Now().Add(24 * time.Hour),
	}
	ours := func(store transport.Store, opts ...transport.Option) func(*http.Request) (*http.Response, error) {
		tr, err := transport.New(url+"/auth/token", store, append(opts, transport.WithBase(base))...)
		if err != nil {
			b.Fatal(err)
		}
		return (&http.Client{Transport: tr}).Do
	}
	// A file store adds its check, once a second, whether the file changed.
	file, err := transport.NewFileStore(filepath.Join(b.TempDir(), "token.json"))
	if err != nil {
		b.Fatal(err)
	}
	if err := file.Save(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	bound := func(key crypto.Signer) transport.Store {
		t := *tok
		t.TokenType, t.DPoPKey = "DPoP", key
		return transport.NewMemoryStore(&t)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return []benchClient{
		{"floor", func(req *http.Request) (*http.Response, error) {
			req.Header.Set("Authorization", auth)
			return floor.Do(req)
		}},
		{"oauth2", o2.Do},
		{"transport", ours(transport.NewMemoryStore(tok))},
		{"transport-file", ours(file)},
		{"transport-dpop-es256", ours(bound(ecKey), transport.WithDPoP(transport.DPoP{}))},
		{"transport-dpop-eddsa", ours(bound(edKey), transport.WithDPoP(transport.DPoP{}))},
	}
}

func benchRequests(b *testing.B, c benchClient, url string, parallel bool) {
	one := func() {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := c.do(req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportAllocs()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				one()
			}
		})
		return
	}
	for b.Loop() {
		one()
	}
}

// BenchmarkRoundTrip measures a whole request over loopback.
func BenchmarkRoundTrip(b *testing.B) {
	want := "Bearer " + benchToken
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The proof is not verified: the client's cost is measured.
		if auth := r.Header.Get("Authorization"); auth != want && (auth != "DPoP "+benchToken || r.Header.Get("DPoP") == "") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	defer base.CloseIdleConnections()
	for _, mode := range []string{"seq", "parallel"} {
		for _, c := range benchClients(b, base, srv.URL) {
			b.Run("mode="+mode+"/client="+c.name, func(b *testing.B) {
				benchRequests(b, c, srv.URL+"/api/me", mode == "parallel")
			})
		}
	}
}

// stubRoundTripper answers every request at once, so BenchmarkOverhead
// measures what each client adds to a request, without the network.
type stubRoundTripper struct{}

func (stubRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") == "" {
		return nil, io.ErrUnexpectedEOF
	}
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

// BenchmarkOverhead measures the cost each client adds around a request.
func BenchmarkOverhead(b *testing.B) {
	const url = "https://api.example.com"
	for _, mode := range []string{"seq", "parallel"} {
		for _, c := range benchClients(b, stubRoundTripper{}, url) {
			b.Run("mode="+mode+"/client="+c.name, func(b *testing.B) {
				benchRequests(b, c, url+"/api/me", mode == "parallel")
			})
		}
	}
}

// benchAuthServer is a token endpoint that rotates any refresh token into
// a new pair living expiresIn seconds, and a resource server that accepts
// any access token it issued. It counts the refreshes.
type benchAuthServer struct {
	*httptest.Server
	refreshes atomic.Int64
}

const expiresIn = 300

func newBenchAuthServer(b *testing.B) *benchAuthServer {
	s := &benchAuthServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("grant_type") != "refresh_token" || r.PostFormValue("refresh_token") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		n := s.refreshes.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","expires_in":%d,"refresh_token":"rt-%d"}`, n, expiresIn, n)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer at-"); !ok || at == "0" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	})
	s.Server = httptest.NewServer(mux)
	b.Cleanup(s.Close)
	return s
}

// expiredToken is a login whose access token, "at-0", has expired: the
// clients know it from its expiry, and refresh before sending.
func expiredToken(now time.Time) *transport.Token {
	return &transport.Token{AccessToken: "at-0", TokenType: "Bearer", RefreshToken: "rt-0",
		ExpiresIn: expiresIn, Expiry: now.Add(-time.Second)}
}

func get(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("status %d", resp.StatusCode)
	}
}

// BenchmarkRefresh measures a request that refreshes its token first (the
// clock moves past the token's expiry before each one): the refresh, its
// saves, and the request, over loopback, with a memory store and a file
// store.
func BenchmarkRefresh(b *testing.B) {
	srv := newBenchAuthServer(b)
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	defer base.CloseIdleConnections()
	for _, kind := range []string{"memory", "file"} {
		b.Run("store="+kind, func(b *testing.B) {
			var ns atomic.Int64
			ns.Store(time.Now().UnixNano())
			clock := func() time.Time { return time.Unix(0, ns.Load()) }
			var store transport.Store = transport.NewMemoryStore(expiredToken(clock()))
			if kind == "file" {
				file, err := transport.NewFileStore(filepath.Join(b.TempDir(), "token.json"))
				if err != nil {
					b.Fatal(err)
				}
				if err := file.Save(context.Background(), expiredToken(clock())); err != nil {
					b.Fatal(err)
				}
				store = file
			}
			tr, err := transport.New(srv.URL+"/token", store, transport.WithBase(base), transport.WithClock(clock))
			if err != nil {
				b.Fatal(err)
			}
			client := &http.Client{Transport: tr}
			before := srv.refreshes.Load()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				ns.Add(int64(expiresIn * time.Second)) // the token has expired
				get(b, client, srv.URL+"/api/me")
				n++
			}
			if got := srv.refreshes.Load() - before; got != int64(n) {
				b.Fatalf("%d refreshes for %d requests", got, n)
			}
		})
	}
}

// herdSize is how many requests a herd sends at once.
const herdSize = 500

// BenchmarkHerd measures herdSize requests sent at once by a client whose
// access token has expired, and knows it: exactly one refresh, then every
// request. The clients, a new one for each herd, are this package's
// Transport on a memory store and golang.org/x/oauth2's Config.Client
// (a ReuseTokenSource), against the same server in the same run.
func BenchmarkHerd(b *testing.B) {
	srv := newBenchAuthServer(b)
	base := &http.Transport{MaxIdleConnsPerHost: herdSize}
	defer base.CloseIdleConnections()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base})
	conf := &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	clients := map[string]func() *http.Client{
		"oauth2": func() *http.Client {
			tok := expiredToken(time.Now())
			return conf.Client(ctx, &oauth2.Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType,
				RefreshToken: tok.RefreshToken, Expiry: tok.Expiry})
		},
		"transport": func() *http.Client {
			tr, err := transport.New(srv.URL+"/token", transport.NewMemoryStore(expiredToken(time.Now())), transport.WithBase(base))
			if err != nil {
				b.Fatal(err)
			}
			return &http.Client{Transport: tr}
		},
	}
	for _, name := range []string{"oauth2", "transport"} {
		b.Run("client="+name, func(b *testing.B) {
			before := srv.refreshes.Load()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				herd(b, clients[name](), srv.URL+"/api/me")
				n++
			}
			if got := srv.refreshes.Load() - before; got != int64(n) {
				b.Fatalf("%d refreshes for %d herds", got, n)
			}
		})
	}
}

// herd sends herdSize GETs through client at once and waits for them.
func herd(b *testing.B, client *http.Client, url string) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for range herdSize {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			get(b, client, url)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

// BenchmarkSignature measures a bare signature of a proof-sized message
// with each key BenchmarkOverhead's DPoP clients use: what a proof cannot
// cost less than.
func BenchmarkSignature(b *testing.B) {
	msg := []byte(strings.Repeat("p", 400))
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("alg=es256", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := sha256.Sum256(msg)
			if _, err := ecdsa.SignASN1(rand.Reader, ecKey, h[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("alg=eddsa", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ed25519.Sign(edKey, msg)
		}
	})
}
