package middleware

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/rand"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"crypto/ed25519"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/internal/dpop"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

// dpopBenchProofs is how many distinct proofs a DPoP benchmark cycles
// through; the replay cache is emptied (timer stopped) at each wrap.
const dpopBenchProofs = 512

type proofAlg struct {
	name string
	key  crypto.Signer
	alg  string // jwt signing method of the bare verify
}

func proofAlgs() []proofAlg {
	ec := must(ecdsa.GenerateKey(elliptic.P256(), rand.New(rand.NewSource(3))))
	ed := ed25519.NewKeyFromSeed(make([]byte, 32))
	rk := must(rsa.GenerateKey(rand.New(rand.NewSource(4)), 2048))
	return []proofAlg{{"ES256", ec, "ES256"}, {"EdDSA", ed, "EdDSA"}, {"PS256", rk, "PS256"}}
}

// dpopRequests are GET /r requests with a token bound to pa's key under
// the DPoP scheme, each with a proof of its own.
func dpopRequests(b *testing.B, pa proofAlg) []*http.Request {
	jkt := must(dpop.Thumbprint(pa.key.Public()))
	tok := boundToken(b, jkt)
	reqs := make([]*http.Request, dpopBenchProofs)
	for i := range reqs {
		r := must(http.NewRequest(http.MethodGet, "/r", nil))
		r.RequestURI = "/r"
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", proofFor(b, pa.key, "GET", apiBase+"/r", tok, t0, ""))
		reqs[i] = r
	}
	return reqs
}

// runDPoP is run for DPoP requests: at each wrap of the pool the replay
// cache is emptied, outside the timed part, so every proof is new.
func runDPoP(b *testing.B, m *Middleware, reqs []*http.Request) {
	h := m.Handler(touch)
	w := &discardWriter{h: make(http.Header)}
	h.ServeHTTP(w, reqs[0])
	if w.code != 0 && w.code != 200 {
		b.Fatalf("status %d", w.code)
	}
	reset := func() { m.dpop.seen = newReplayCache(defaultReplayCacheSize, 2*m.dpop.window) }
	reset()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(reqs)
		if j == 0 && i > 0 {
			b.StopTimer()
			reset()
			b.StartTimer()
		}
		clear(w.h)
		h.ServeHTTP(w, reqs[j])
	}
	b.StopTimer()
	if w.code != 0 && w.code != 200 {
		b.Fatalf("status %d", w.code)
	}
}

// BenchmarkDPoP measures a resource request per proof algorithm: the
// Bearer path (an unbound token), the DPoP path (a bound token and a new
// proof), and the floor, a bare signature verify of one proof; on the
// cached path (the token in the verified-token cache) and first sight
// (cache off: the token's signature verified every time). The goal is
// dpop <= 1.1 x (verify + bearer):
//
//	go test -run='^$' -bench='DPoP$' -benchmem -count=10 ./middleware > dpop.txt
//	benchstat -col /impl dpop.txt
func BenchmarkDPoP(b *testing.B) {
	set := must(keys.NewSet(edKey))
	fixed := func() time.Time { return t0 }
	bearer := must(http.NewRequest(http.MethodGet, "/r", nil))
	bearer.RequestURI = "/r"
	bearer.Header.Set("Authorization", "Bearer "+sign(edKey, claimsAt()))
	for _, pa := range proofAlgs() {
		reqs := dpopRequests(b, pa)
		for _, path := range []string{"cached", "first"} {
			opts := []Option{withClock(fixed), WithDPoP(DPoP{BaseURL: apiBase})}
			if path == "first" {
				opts = append(opts, WithCache(0, 0))
			}
			name := "alg=" + pa.name + "/path=" + path
			b.Run(name+"/impl=bearer", func(b *testing.B) {
				run(b, must(New(set, opts...)).Handler(touch), []*http.Request{bearer}, 200)
			})
			b.Run(name+"/impl=dpop", func(b *testing.B) { runDPoP(b, must(New(set, opts...)), reqs) })
			b.Run(name+"/impl=verify", func(b *testing.B) { bareVerify(b, pa, reqs[0].Header.Get("DPoP")) })
		}
	}
}

// bareVerify is the floor: the proof's signature checked with a public key
// already decoded.
func bareVerify(b *testing.B, pa proofAlg, proof string) {
	i := strings.LastIndexByte(proof, '.')
	sig := must(base64.RawURLEncoding.DecodeString(proof[i+1:]))
	method := jwt.GetSigningMethod(pa.alg)
	pub := pa.key.Public()
	b.ReportAllocs()
	for b.Loop() {
		if err := method.Verify(proof[:i], sig, pub); err != nil {
			b.Fatal(fmt.Sprint(err))
		}
	}
}

// BenchmarkDPoPInterleaved runs the three of BenchmarkDPoP in turn, one
// request each per iteration, and reports the median duration of each
// (which the moments another process took the CPU do not move) and the
// goal's ratio, dpop-vs-goal = dpop / (verify + bearer), to be at most 1.1:
//
//	go test -run='^$' -bench=DPoPInterleaved -count=10 ./middleware > dpopi.txt
//	benchstat dpopi.txt
func BenchmarkDPoPInterleaved(b *testing.B) {
	set := must(keys.NewSet(edKey))
	fixed := func() time.Time { return t0 }
	bearer := must(http.NewRequest(http.MethodGet, "/r", nil))
	bearer.RequestURI = "/r"
	bearer.Header.Set("Authorization", "Bearer "+sign(edKey, claimsAt()))
	for _, pa := range proofAlgs() {
		reqs := dpopRequests(b, pa)
		for _, path := range []string{"cached", "first"} {
			opts := []Option{withClock(fixed), WithDPoP(DPoP{BaseURL: apiBase})}
			if path == "first" {
				opts = append(opts, WithCache(0, 0))
			}
			b.Run("alg="+pa.name+"/path="+path, func(b *testing.B) {
				interleaveDPoP(b, must(New(set, opts...)), must(New(set, opts...)), bearer, reqs, pa)
			})
		}
	}
}

func interleaveDPoP(b *testing.B, bm, dm *Middleware, bearer *http.Request, reqs []*http.Request, pa proofAlg) {
	bh, dh := bm.Handler(touch), dm.Handler(touch)
	proof := reqs[0].Header.Get("DPoP")
	i := strings.LastIndexByte(proof, '.')
	sig := must(base64.RawURLEncoding.DecodeString(proof[i+1:]))
	method, pub := jwt.GetSigningMethod(pa.alg), pa.key.Public()
	w := &discardWriter{h: make(http.Header)}
	var durs [3][]time.Duration
	reset := func() { dm.dpop.seen = newReplayCache(defaultReplayCacheSize, 2*dm.dpop.window) }
	reset()
	n := 0
	for b.Loop() {
		if n%len(reqs) == 0 {
			reset()
		}
		t := time.Now()
		bh.ServeHTTP(w, bearer)
		t1 := time.Now()
		dh.ServeHTTP(w, reqs[n%len(reqs)])
		t2 := time.Now()
		if err := method.Verify(proof[:i], sig, pub); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		durs[0], durs[1], durs[2] = append(durs[0], t1.Sub(t)), append(durs[1], t2.Sub(t1)), append(durs[2], t3.Sub(t2))
		n++
	}
	if w.code != 0 && w.code != 200 {
		b.Fatalf("status %d", w.code)
	}
	med := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2])
	}
	be, dp, ve := med(durs[0]), med(durs[1]), med(durs[2])
	b.ReportMetric(be, "bearer-ns/req")
	b.ReportMetric(dp, "dpop-ns/req")
	b.ReportMetric(ve, "verify-ns/req")
	b.ReportMetric(dp/(ve+be), "dpop-vs-goal")
}
