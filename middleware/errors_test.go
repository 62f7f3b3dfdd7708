package middleware

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/internal/mwclock"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

// TestErrorsMatchGolangJWT: every refusal that golang-jwt has a sentinel
// for also matches golang-jwt's, so callers' errors.Is checks written for
// golang-jwt keep working, and our sentinels that share a golang-jwt name
// are golang-jwt's values.
func TestErrorsMatchGolangJWT(t *testing.T) {
	if ErrTokenExpired != jwt.ErrTokenExpired || ErrTokenMalformed != jwt.ErrTokenMalformed {
		t.Fatal("ErrTokenExpired or ErrTokenMalformed is not golang-jwt's value")
	}
	m := newMW(t, must(keys.NewSet(edKey)), nil, WithIssuer("https://issuer.example"), WithAudience("api"))
	with := func(edit func(*Claims)) string { c := claimsAt(); edit(c); return sign(edKey, c) }
	tests := []struct {
		name      string
		tok       string
		ours, jwt error
	}{
		{"expired", with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(t0) }), ErrTokenExpired, jwt.ErrTokenExpired},
		{"malformed", "a.b.c", ErrTokenMalformed, jwt.ErrTokenMalformed},
		{"too large", string(make([]byte, maxTokenLength+1)), ErrTokenMalformed, jwt.ErrTokenMalformed},
		{"signature not base64url", sign(edKey, claimsAt()) + "!", ErrTokenMalformed, jwt.ErrTokenMalformed},
		{"forged", tamperPayload(t, sign(edKey, claimsAt()), func(c map[string]any) { c["sub"] = "x" }), ErrTokenInvalid, jwt.ErrTokenSignatureInvalid},
		{"no exp", with(func(c *Claims) { c.ExpiresAt = nil }), ErrTokenInvalid, jwt.ErrTokenRequiredClaimMissing},
		{"issuer", with(func(c *Claims) { c.Issuer = "x" }), ErrTokenInvalid, jwt.ErrTokenInvalidIssuer},
		{"audience", with(func(c *Claims) { c.Audience = jwt.ClaimStrings{"x"} }), ErrTokenInvalid, jwt.ErrTokenInvalidAudience},
		{"nbf", with(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(time.Hour)) }), ErrTokenInvalid, jwt.ErrTokenNotValidYet},
		{"iat", with(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(t0.Add(time.Hour)) }), ErrTokenInvalid, jwt.ErrTokenUsedBeforeIssued},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Verify(t.Context(), tt.tok)
			if !errors.Is(err, tt.ours) || !errors.Is(err, tt.jwt) {
				t.Fatalf("%v: want both %v and %v", err, tt.ours, tt.jwt)
			}
			if tt.ours != ErrTokenExpired && errors.Is(err, jwt.ErrTokenExpired) {
				t.Fatalf("%v says expired", err)
			}
		})
	}
}

// TestModuleClock: the clock set through internal/mwclock, as the token
// service sets its own, is the one the middleware reads; a nil one is a
// configuration error.
func TestModuleClock(t *testing.T) {
	set := must(keys.NewSet(edKey))
	tok := sign(edKey, claimsAt())
	at := func(now time.Time) Option { return mwclock.Option(func() time.Time { return now }).(Option) }
	for _, tc := range []struct {
		now  time.Time
		want error
	}{
		{t0, nil},
		{t0.Add(5 * time.Minute), ErrTokenExpired},
		{t0.Add(-time.Hour), errNotBefore},
	} {
		m := must(New(set, at(tc.now)))
		if _, err := m.Verify(t.Context(), tok); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Fatalf("at %v: %v, want %v", tc.now, err, tc.want)
		}
	}
	if _, err := New(set, mwclock.Option(nil).(Option)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil clock: %v", err)
	}
}
