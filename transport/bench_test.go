package transport_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/transport"
	"golang.org/x/oauth2"
)

// The benchmarks send GET requests with a valid token to a loopback server
// through four clients: the floor (a bare http.Client, the header set by
// hand), golang.org/x/oauth2's Transport with a static token source, and
// this package's Transport with a MemoryStore and with a FileStore. Compare
// with:
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
	ours := func(store transport.Store) func(*http.Request) (*http.Response, error) {
		tr, err := transport.New(url+"/auth/token", store, transport.WithBase(base))
		if err != nil {
			b.Fatal(err)
		}
		return (&http.Client{Transport: tr}).Do
	}
	// A FileStore adds its check, once a second, whether the file changed.
	file, err := transport.NewFileStore(filepath.Join(b.TempDir(), "token.json"))
	if err != nil {
		b.Fatal(err)
	}
	if err := file.Save(context.Background(), tok); err != nil {
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
		if r.Header.Get("Authorization") != want {
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
