package jwtrefresh_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/internal/dpop"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// BenchmarkRefreshDPoP measures the refresh endpoint (the handler, on a
// real Redis) for an unbound session without a proof and for a bound one
// with an ES256 proof, in turn, with a bare proof signature verify as the
// floor. It reports medians and dpop-vs-goal = dpop / (verify + bearer):
//
//	go test -run='^$' -bench=RefreshDPoP -count=10 . > refresh-dpop.txt
//	benchstat refresh-dpop.txt
func BenchmarkRefreshDPoP(b *testing.B) {
	be := redistest.NewStandalone(b)
	const base = "https://auth.example.test"
	now := time.Now()
	svc := must(jwtrefresh.NewService(must(redisstore.New(be.Client, redisstore.WithKeyPrefix(be.Prefix(b)))),
		newSecrets(b), hsKeys(b), testIssuer, jwtrefresh.WithDPoP(base, nil), jwtrefresh.WithClock(func() time.Time { return now })))
	b.Cleanup(func() { svc.Close() })
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	proof := must(dpop.NewProof(key, dpop.Claims{Method: "POST", URL: base + "/refresh", IssuedAt: now}))
	jkt := must(dpop.Thumbprint(key.Public()))
	ctx := b.Context()
	bearer := must(svc.Login(ctx, session.NewSession{Subject: "alice"})).RefreshToken
	bound := must(svc.Login(ctx, session.NewSession{Subject: "alice", KeyThumbprint: jkt})).RefreshToken
	h := svc.Handler()
	refresh := func(rt, proof string) string {
		r := httptest.NewRequest(http.MethodPost, "/refresh", strings.NewReader("grant_type=refresh_token&refresh_token="+rt))
		r.Header.Set("Content-Type", formType)
		if proof != "" {
			r.Header.Set("DPoP", proof)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var tj tokenJSON
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &tj) != nil {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		return tj.RefreshToken
	}
	i := strings.LastIndexByte(proof, '.')
	sig := must(base64.RawURLEncoding.DecodeString(proof[i+1:]))
	var durs [3][]time.Duration
	for b.Loop() {
		t := time.Now()
		bearer = refresh(bearer, "")
		t1 := time.Now()
		bound = refresh(bound, proof)
		t2 := time.Now()
		if err := jwt.SigningMethodES256.Verify(proof[:i], sig, key.Public()); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		durs[0], durs[1], durs[2] = append(durs[0], t1.Sub(t)), append(durs[1], t2.Sub(t1)), append(durs[2], t3.Sub(t2))
	}
	med := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2])
	}
	be0, dp, ve := med(durs[0]), med(durs[1]), med(durs[2])
	b.ReportMetric(be0, "bearer-ns/req")
	b.ReportMetric(dp, "dpop-ns/req")
	b.ReportMetric(ve, "verify-ns/req")
	b.ReportMetric(dp/(ve+be0), "dpop-vs-goal")
}
