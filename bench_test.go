package jwtrefresh_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
)

// BenchmarkRefresh measures one refresh at five depths, against real Redis,
// in the same run (compare with benchstat -col /impl over -count=10):
//
//   - impl=store: Store.Rotate alone, the floor;
//   - impl=service: Service.Refresh, the rotation plus minting the access
//     token (HS256);
//   - impl=handler: the refresh endpoint's ServeHTTP on a form request,
//     with httptest.NewRecorder: parsing, rotation, minting, the JSON answer;
//   - impl=harness: building that request and recorder around a handler
//     that does nothing, to subtract from impl=handler;
//   - impl=http: a real HTTP client posting to the endpoint on a loopback
//     httptest.Server (keep-alive), as a client sees it.
//
// Sequentially, and with 50 goroutines each rotating its own session.
func BenchmarkRefresh(b *testing.B) {
	e := newEnv(b, envConfig{backend: redistest.NewStandalone(b)})
	ctx := context.Background()
	var users atomic.Int64
	newChain := func(b *testing.B) string {
		tr, err := e.svc.Login(ctx, jwtrefresh.NewSession{Subject: fmt.Sprint("bench-", users.Add(1))})
		if err != nil {
			b.Fatal(err)
		}
		return tr.RefreshToken
	}
	const key = "bench-idempotency-key"
	handler := e.svc.Handler()
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)

	newRequest := func(rt string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/refresh",
			strings.NewReader("grant_type=refresh_token&refresh_token="+rt))
		r.Header.Set("Content-Type", formType)
		r.Header.Set("Idempotency-Key", key)
		return r
	}
	impls := []struct {
		name string
		step func(b *testing.B, rt string) string // rotates rt, returns its successor
	}{
		{"store", func(b *testing.B, rt string) string {
			g, err := e.store.Rotate(ctx, rt, key)
			if err != nil {
				b.Fatal(err)
			}
			return g.RefreshToken
		}},
		{"service", func(b *testing.B, rt string) string {
			tr, err := e.svc.Refresh(ctx, rt, key)
			if err != nil {
				b.Fatal(err)
			}
			return tr.RefreshToken
		}},
		{"harness", func(b *testing.B, rt string) string {
			w := httptest.NewRecorder()
			nop.ServeHTTP(w, newRequest(rt))
			return rt
		}},
		{"handler", func(b *testing.B, rt string) string {
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, newRequest(rt))
			if w.Code != http.StatusOK {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
			return nextToken(b, w.Body.Bytes())
		}},
		{"http", func(b *testing.B, rt string) string {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/auth/refresh",
				strings.NewReader("grant_type=refresh_token&refresh_token="+rt))
			req.Header.Set("Content-Type", formType)
			req.Header.Set("Idempotency-Key", key)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("%d %s", resp.StatusCode, body)
			}
			return nextToken(b, body)
		}},
	}
	b.Run("mode=seq", func(b *testing.B) {
		for _, impl := range impls {
			b.Run("impl="+impl.name, func(b *testing.B) {
				rt := newChain(b)
				b.ReportAllocs()
				for b.Loop() {
					rt = impl.step(b, rt)
				}
			})
		}
	})
	b.Run("mode=par", func(b *testing.B) {
		for _, impl := range impls {
			b.Run("impl="+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(25) // 50 goroutines on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					rt := newChain(b)
					for pb.Next() {
						rt = impl.step(b, rt)
					}
				})
			})
		}
	})
}

// nextToken picks the refresh token out of a token response without a
// JSON decoder, so the benchmark measures the server, not the client.
func nextToken(b *testing.B, body []byte) string {
	const field = `"refresh_token":"`
	s := string(body)
	i := strings.Index(s, field)
	if i < 0 {
		b.Fatalf("no refresh token in %s", body)
	}
	s = s[i+len(field):]
	return s[:strings.IndexByte(s, '"')]
}

// BenchmarkRefreshClaimsLoader measures what a claims loader costs a
// refresh: impl=service is Service.Refresh without one, impl=loader with a
// loader that returns a constant, so the difference is the session lookup
// the service makes before rotating (one more read-only EVALSHA) plus
// checking the loaded claims. Sequential, in the same run:
//
//	go test -run '^$' -bench RefreshClaimsLoader -benchmem -count 10 . > out.txt
//	benchstat -col /impl out.txt
func BenchmarkRefreshClaimsLoader(b *testing.B) {
	be := redistest.NewStandalone(b)
	loaded := json.RawMessage(`{"role":"user"}`)
	load := func(context.Context, string, string, json.RawMessage) (json.RawMessage, error) { return loaded, nil }
	ring, signing, prefix := newKeyring(b), hsKeys(b), be.Prefix(b)
	for _, impl := range []struct {
		name string
		opts []jwtrefresh.Option
	}{
		{"service", nil},
		{"loader", []jwtrefresh.Option{jwtrefresh.WithClaimsLoader(load)}},
	} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			e := newEnv(b, envConfig{backend: be, ring: ring, keys: signing, prefix: prefix, svcOpts: impl.opts})
			ctx := context.Background()
			tr, err := e.svc.Login(ctx, jwtrefresh.NewSession{Subject: "bench-" + impl.name, Claims: loaded})
			if err != nil {
				b.Fatal(err)
			}
			rt := tr.RefreshToken
			b.ReportAllocs()
			for b.Loop() {
				tr, err := e.svc.Refresh(ctx, rt, "bench-idempotency-key")
				if err != nil {
					b.Fatal(err)
				}
				rt = tr.RefreshToken
			}
		})
	}
}
