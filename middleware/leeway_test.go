package middleware

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

// TestFutureLeeway: `nbf` and `iat` a little in this server's future (an
// issuer whose clock runs ahead) are accepted by default; `exp` gets no
// such tolerance; both tolerances are settable.
func TestFutureLeeway(t *testing.T) {
	set := must(keys.NewSet(edKey))
	nbf := func(d time.Duration) *Claims { c := claimsAt(); c.NotBefore = jwt.NewNumericDate(t0.Add(d)); return c }
	iat := func(d time.Duration) *Claims { c := claimsAt(); c.IssuedAt = jwt.NewNumericDate(t0.Add(d)); return c }
	exp := func(d time.Duration) *Claims { c := claimsAt(); c.ExpiresAt = jwt.NewNumericDate(t0.Add(d)); return c }
	tests := []struct {
		name   string
		opts   []Option
		claims *Claims
		want   error // nil: accepted
	}{
		{"nbf 1s ahead, default", nil, nbf(time.Second), nil},
		{"iat 1s ahead, default", nil, iat(time.Second), nil},
		{"nbf at the default tolerance", nil, nbf(DefaultFutureLeeway), nil},
		{"nbf past the default tolerance", nil, nbf(DefaultFutureLeeway + time.Second), errNotBefore},
		{"iat past the default tolerance", nil, iat(DefaultFutureLeeway + time.Second), errIssuedAt},
		{"exp 1s ago, default", nil, exp(-time.Second), ErrTokenExpired},
		{"exp now, default", nil, exp(0), ErrTokenExpired},
		{"strict: nbf 1s ahead", a(WithFutureLeeway(0)), nbf(time.Second), errNotBefore},
		{"strict: iat 1s ahead", a(WithFutureLeeway(0)), iat(time.Second), errIssuedAt},
		{"strict: nbf now", a(WithFutureLeeway(0)), nbf(0), nil},
		{"strict with leeway: nbf within it", a(WithFutureLeeway(0), WithLeeway(5*time.Second)), nbf(5 * time.Second), nil},
		{"strict with leeway: nbf past it", a(WithFutureLeeway(0), WithLeeway(5*time.Second)), nbf(6 * time.Second), errNotBefore},
		{"leeway larger than the tolerance", a(WithLeeway(2 * time.Minute)), nbf(2 * time.Minute), nil},
		{"wider tolerance", a(WithFutureLeeway(5 * time.Minute)), iat(5 * time.Minute), nil},
		{"wider tolerance leaves exp alone", a(WithFutureLeeway(5 * time.Minute)), exp(-time.Second), ErrTokenExpired},
		{"leeway on exp", a(WithLeeway(2 * time.Second)), exp(-time.Second), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMW(t, set, nil, tt.opts...)
			_, err := m.Verify(t.Context(), sign(edKey, tt.claims))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := New(set, WithFutureLeeway(-time.Second)); err == nil {
		t.Fatal("negative WithFutureLeeway accepted")
	}
}
