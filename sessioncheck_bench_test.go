package jwtrefresh_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// benchWriter discards a response.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }

// checkedRoute is a protected route of a service on standalone Redis with
// the session check (options svcOpts), and a request carrying the access
// token of a session it has checked: its cache is warm.
func checkedRoute(b *testing.B, svcOpts ...jwtrefresh.Option) (http.Handler, *http.Request, *redistest.Backend) {
	be := redistest.NewStandalone(b)
	store := must(redisstore.New(be.Client, redisstore.WithKeyPrefix(be.Prefix(b))))
	svc := must(jwtrefresh.NewService(store, newSecrets(b), hsKeys(b), testIssuer, svcOpts...))
	if c, ok := any(svc).(io.Closer); ok {
		b.Cleanup(func() { c.Close() })
	}
	mw := must(svc.Middleware(middleware.WithSessionCheck(svc.SessionCheck(), 0)))
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := middleware.ClaimsFrom(r.Context()); !ok {
			b.Fatal("no claims")
		}
	}))
	tr := must(svc.Login(context.Background(), session.NewSession{Subject: "alice"}))
	req, _ := http.NewRequest(http.MethodGet, "/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	for range 2 { // the second round after the push (if any) is live
		for range 10 {
			serve(b, h, req)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return h, req, be
}

func serve(b *testing.B, h http.Handler, req *http.Request) {
	w := &benchWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	if w.code != 0 && w.code != http.StatusOK {
		b.Fatalf("status %d", w.code)
	}
}

// BenchmarkSessionCheckAccept: the middleware's accept path with the
// session check and a warm cache, one goroutine and all of them (the
// cache's lock is shared). No store read happens.
func BenchmarkSessionCheckAccept(b *testing.B) {
	h, req, _ := checkedRoute(b)
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(b, h, req)
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serve(b, h, req)
			}
		})
	})
}

// BenchmarkSessionCheckRead: the same route asking the store on every
// request (WithSessionCache(0, n)): what a cache miss costs, in wall time
// and in CPU (this process and the Redis server, cpu-µs/op).
func BenchmarkSessionCheckRead(b *testing.B) {
	h, req, be := checkedRoute(b, jwtrefresh.WithSessionCache(0, 100))
	b.ReportAllocs()
	cpu := be.StartCPU(b)
	for b.Loop() {
		serve(b, h, req)
	}
	cpu.Stop()
}
