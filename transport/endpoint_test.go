package transport

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestEndpointOnItsOwn: Endpoint redeems a refresh token without a
// Transport or a Store: it sends the key, reads and validates the answer,
// records the endpoint, and keeps the refresh token a server did not
// rotate; a repeat with the same key gets the same child.
func TestEndpointOnItsOwn(t *testing.T) {
	ctx := context.Background()
	srv := newAuthServer(t, time.Now)
	login := srv.login()
	ep := &Endpoint{URL: srv.tokenURL()}
	next, err := ep.Redeem(ctx, login, "key-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if next.RefreshToken != srv.currentRefreshToken(login.RefreshToken) || next.AccessToken == "" ||
		next.RefreshURL != canonicalURL(mustParse(t, srv.tokenURL())) || next.Expiry.IsZero() {
		t.Errorf("Redeem = %+v; want the rotated tokens recording the endpoint", next)
	}
	again, err := ep.Redeem(ctx, login, "key-0123456789")
	if err != nil || again.RefreshToken != next.RefreshToken {
		t.Errorf("repeated with the same key: %v, %v; want the same child", again, err)
	}
	if keys := srv.Keys(); len(keys) != 2 || keys[0] != "key-0123456789" || keys[1] != keys[0] {
		t.Errorf("the endpoint saw keys %q", keys)
	}
	wantStats(t, srv.Stats(), serverStats{RefreshRequests: 2, Rotations: 1, Replays: 1})

	srv.shape = func(resp map[string]any) { delete(resp, "refresh_token") }
	kept, err := ep.Redeem(ctx, next, "")
	if err != nil || kept.RefreshToken != next.RefreshToken {
		t.Errorf("without a new refresh token: %v, %v; want the old one kept", kept, err)
	}

	_, err = ep.Redeem(ctx, login, "other-key-0123456789")
	var re *ResponseError
	if !errors.As(err, &re) || re.Code != "invalid_grant" {
		t.Errorf("a used refresh token: %v; want invalid_grant", err)
	}
}

// TestEndpointRefusesBadInput: Redeem refuses what it cannot send, before
// it sends anything.
func TestEndpointRefusesBadInput(t *testing.T) {
	srv := newAuthServer(t, time.Now)
	login := srv.login()
	ep := &Endpoint{URL: srv.tokenURL()}
	for name, tc := range map[string]struct {
		ep  *Endpoint
		tok *Token
	}{
		"nil token":        {ep, nil},
		"no refresh token": {ep, &Token{AccessToken: "a"}},
		"plain http":       {&Endpoint{URL: "http://auth.example.com/token"}, login},
		"no URL":           {&Endpoint{}, login},
		"fragment":         {&Endpoint{URL: srv.tokenURL() + "#x"}, login},
	} {
		if _, err := tc.ep.Redeem(context.Background(), tc.tok, ""); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	wantStats(t, srv.Stats(), serverStats{})
}
