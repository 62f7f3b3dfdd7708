package transport_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/transport"
	"golang.org/x/oauth2"
)

// The benchmarks send GET requests with a valid token to a loopback server
// through three clients: the floor (a bare http.Client, the header set by
// hand), golang.org/x/oauth2's Transport with a static token source, and
// this package's Transport. Compare with:
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
	tr, err := transport.New(url+"/auth/token", transport.NewMemoryStore(&transport.Token{
		AccessToken: benchToken, TokenType: "Bearer", RefreshToken: "rt",
		Expiry: time.Now().Add(24 * time.Hour),
	}), transport.WithBase(base))
	if err != nil {
		b.Fatal(err)
	}
	ours := &http.Client{Transport: tr}
	return []benchClient{
		{"floor", func(req *http.Request) (*http.Response, error) {
			req.Header.Set("Authorization", auth)
			return floor.Do(req)
		}},
		{"oauth2", o2.Do},
		{"transport", ours.Do},
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
