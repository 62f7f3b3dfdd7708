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
// such tolerance; both tolerances are settable, independently.
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
		{"nbf at the default tolerance", nil, nbf(defaultFutureLeeway), nil},
		{"nbf past the default tolerance", nil, nbf(defaultFutureLeeway + time.Second), errNotBefore},
		{"iat past the default tolerance", nil, iat(defaultFutureLeeway + time.Second), errIssuedAt},
		{"exp 1s ago, default", nil, exp(-time.Second), ErrTokenExpired},
		{"exp now, default", nil, exp(0), ErrTokenExpired},
		{"strict: nbf 1s ahead", a(WithLeeway(0, 0)), nbf(time.Second), errNotBefore},
		{"strict: iat 1s ahead", a(WithLeeway(0, 0)), iat(time.Second), errIssuedAt},
		{"strict: nbf now", a(WithLeeway(0, 0)), nbf(0), nil},
		{"exp leeway only: nbf 1s ahead", a(WithLeeway(5*time.Second, 0)), nbf(time.Second), errNotBefore},
		{"small tolerance: nbf within it", a(WithLeeway(0, 5*time.Second)), nbf(5 * time.Second), nil},
		{"small tolerance: nbf past it", a(WithLeeway(0, 5*time.Second)), nbf(6 * time.Second), errNotBefore},
		{"wider tolerance", a(WithLeeway(0, 5*time.Minute)), iat(5 * time.Minute), nil},
		{"wider tolerance leaves exp alone", a(WithLeeway(0, 5*time.Minute)), exp(-time.Second), ErrTokenExpired},
		{"leeway on exp", a(WithLeeway(2*time.Second, defaultFutureLeeway)), exp(-time.Second), nil},
		{"leeway on exp, at its end", a(WithLeeway(2*time.Second, defaultFutureLeeway)), exp(-2 * time.Second), ErrTokenExpired},
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
	if _, err := New(set, WithLeeway(0, -time.Second)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative future leeway: %v", err)
	}
}
