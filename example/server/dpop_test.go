package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"expvar"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/dpop"
	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
)

// newDPoPServer runs the app with -dpop mode on real Redis.
func newDPoPServer(t *testing.T, mode string) (*httptest.Server, *expvar.Map) {
	t.Helper()
	cfg, err := parseConfig([]string{"-dpop", mode}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b := redistest.NewStandalone(t)
	cfg.keyPrefix = b.Prefix(t)
	srv := httptest.NewUnstartedServer(nil)
	cfg.publicURL = "http://" + srv.Listener.Addr().String()
	counts := new(expvar.Map)
	a, h, err := newApp(cfg, b.Client, slog.New(slog.DiscardHandler), counts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.svc.Close() })
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, counts
}

// dpopDo sends a request with the Authorization and DPoP headers given
// ("" for none).
func dpopDo(t *testing.T, method, u, form, authz, proof string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func newProof(t *testing.T, key crypto.Signer, method, u, at string) string {
	t.Helper()
	p, err := dpop.NewProof(key, dpop.Claims{Method: method, URL: u, AccessToken: at, IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type dpopTokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
}

// TestDPoPThief: in the default mode (allowed), a login with a proof is
// bound; a thief holding the access and refresh dpopTokens but not the key is
// refused at the API and at the refresh endpoint, and the victim's session
// goes on untouched.
func TestDPoPThief(t *testing.T) {
	srv, counts := newDPoPServer(t, "allowed")
	victim, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	thief, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	login := url.Values{"username": {"alice"}, "password": {"wonderland"}}.Encode()
	status, body := dpopDo(t, "POST", srv.URL+"/login", login, "", newProof(t, victim, "POST", srv.URL+"/login", ""))
	var tok dpopTokens
	if status != 200 || json.Unmarshal([]byte(body), &tok) != nil || tok.TokenType != "DPoP" {
		t.Fatalf("login with a proof: %d %s", status, body)
	}
	me := srv.URL + "/api/me"
	if status, body := dpopDo(t, "GET", me, "", "DPoP "+tok.AccessToken, newProof(t, victim, "GET", me, tok.AccessToken)); status != 200 || !strings.Contains(body, `"dpop_bound":true`) {
		t.Fatalf("victim at the API: %d %s", status, body)
	}
	// The thief: the victim's dpopTokens, its own key or none.
	for name, c := range map[string]struct{ authz, proof string }{
		"as Bearer":       {"Bearer " + tok.AccessToken, ""},
		"with its key":    {"DPoP " + tok.AccessToken, newProof(t, thief, "GET", me, tok.AccessToken)},
		"without a proof": {"DPoP " + tok.AccessToken, ""},
	} {
		if status, body := dpopDo(t, "GET", me, "", c.authz, c.proof); status != 401 {
			t.Fatalf("thief at the API %s: %d %s", name, status, body)
		}
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}.Encode()
	for _, proof := range []string{"", newProof(t, thief, "POST", srv.URL+"/auth/refresh", "")} {
		if status, body := dpopDo(t, "POST", srv.URL+"/auth/refresh", refresh, "", proof); status != 400 || errorCode(body) != "invalid_grant" {
			t.Fatalf("thief at the refresh endpoint: %d %s", status, body)
		}
	}
	status, body = dpopDo(t, "POST", srv.URL+"/auth/refresh", refresh, "", newProof(t, victim, "POST", srv.URL+"/auth/refresh", ""))
	if status != 200 || !strings.Contains(body, `"token_type":"DPoP"`) {
		t.Fatalf("victim's refresh after the thief: %d %s", status, body)
	}
	if got := counts.Get("dpop_refused").String(); got != "2" {
		t.Fatalf("sessions.dpop_refused = %s, want 2", got)
	}
	if got := counts.Get("reuse").String(); got != "0" {
		t.Fatalf("sessions.reuse = %s, want 0", got)
	}
}

// TestDPoPModes: required refuses logins without a proof and bearer
// dpopTokens; off ignores proofs (bearer dpopTokens only).
func TestDPoPModes(t *testing.T) {
	login := url.Values{"username": {"bob"}, "password": {"builder"}}.Encode()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	req, _ := newDPoPServer(t, "required")
	if status, body := dpopDo(t, "POST", req.URL+"/login", login, "", ""); status != 400 || errorCode(body) != "invalid_dpop_proof" {
		t.Fatalf("required, login without a proof: %d %s", status, body)
	}
	if status, body := dpopDo(t, "POST", req.URL+"/login", login, "", newProof(t, key, "POST", req.URL+"/login", "")); status != 200 || !strings.Contains(body, `"token_type":"DPoP"`) {
		t.Fatalf("required, login with a proof: %d %s", status, body)
	}

	off, _ := newDPoPServer(t, "off")
	status, body := dpopDo(t, "POST", off.URL+"/login", login, "", newProof(t, key, "POST", off.URL+"/login", ""))
	var tok dpopTokens
	if status != 200 || json.Unmarshal([]byte(body), &tok) != nil || tok.TokenType != "Bearer" {
		t.Fatalf("off, login with a proof: %d %s", status, body)
	}
	if status, body := dpopDo(t, "GET", off.URL+"/api/me", "", "Bearer "+tok.AccessToken, ""); status != 200 || !strings.Contains(body, `"dpop_bound":false`) {
		t.Fatalf("off, API: %d %s", status, body)
	}
}
