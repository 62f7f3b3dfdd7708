package middleware

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/keys"
)

// forge signs claims with any method, key and extra headers.
func forge(t *testing.T, m jwt.SigningMethod, key any, hdr map[string]any, c jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tamperPayload replaces the payload segment of tok, keeping its signature.
func tamperPayload(t *testing.T, tok string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

// TestAttacks checks that each hostile or broken token is refused with the
// right status and sentinel error, and that nothing but a genuine token
// reaches the handler.
func TestAttacks(t *testing.T) {
	rsPub, _ := rsKey().Public()
	set := must(keys.NewSet(rsPub, hsKey))
	rsOnly := must(keys.NewSet(rsPub))
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&rsaPriv().PublicKey))})
	good := sign(rsKey(), claimsAt())
	with := func(edit func(*Claims)) *Claims { c := claimsAt(); edit(c); return c }
	strict := []Option{WithIssuer("https://issuer.example"), WithAudience("api", "other")}

	tests := []struct {
		name   string
		set    *keys.Set
		req    []func(*http.Request)
		status int
		want   error // sentinel; nil with status 200
		cause  error // optional deeper cause
	}{
		{name: "genuine", req: a(bearer(good)), status: 200},
		{name: "lower-case bearer", req: a(header("bearer " + good)), status: 200},
		{name: "aud list with one accepted value", req: a(bearer(sign(rsKey(), with(func(c *Claims) { c.Audience = jwt.ClaimStrings{"x", "other"} })))), status: 200},
		{name: "alg none", req: a(bearer(forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"kid": "rs"}, claimsAt()))),
			status: 401, want: ErrTokenInvalid},
		{name: "alg none, no kid, one key", set: rsOnly, req: a(bearer(forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, claimsAt()))),
			status: 401, want: ErrTokenInvalid},
		{name: "HS256 signed with the RSA public key", req: a(bearer(forge(t, jwt.SigningMethodHS256, pubPEM, map[string]any{"kid": "rs"}, claimsAt()))),
			status: 401, want: ErrTokenInvalid, cause: keys.ErrAlgorithmMismatch},
		{name: "HS256 signed with the RSA public key, no kid, one key", set: rsOnly,
			req:    a(bearer(forge(t, jwt.SigningMethodHS256, pubPEM, nil, claimsAt()))),
			status: 401, want: ErrTokenInvalid, cause: keys.ErrAlgorithmMismatch},
		{name: "unknown kid", req: a(bearer(forge(t, jwt.SigningMethodRS256, rsaPriv(), map[string]any{"kid": "other"}, claimsAt()))),
			status: 401, want: ErrTokenInvalid, cause: keys.ErrUnknownKID},
		{name: "no kid, several keys", req: a(bearer(forge(t, jwt.SigningMethodRS256, rsaPriv(), nil, claimsAt()))),
			status: 401, want: ErrTokenInvalid, cause: keys.ErrUnknownKID},
		{name: "tampered payload", req: a(bearer(tamperPayload(t, good, func(m map[string]any) { m["sub"] = "mallory" }))),
			status: 401, want: ErrTokenInvalid, cause: jwt.ErrTokenSignatureInvalid},
		{name: "tampered signature", req: a(bearer(good[:len(good)-6] + "AAAAAA")),
			status: 401, want: ErrTokenInvalid, cause: jwt.ErrTokenSignatureInvalid},
		{name: "expired", req: a(bearer(sign(rsKey(), with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(t0) })))),
			status: 401, want: ErrTokenExpired},
		{name: "expired and forged is not 'expired'", req: a(bearer(tamperPayload(t, sign(rsKey(), with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(t0) })), func(m map[string]any) { m["sub"] = "x" }))),
			status: 401, want: ErrTokenInvalid},
		{name: "expired and wrong aud is not 'expired'", req: a(bearer(sign(rsKey(), with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(t0); c.Audience = jwt.ClaimStrings{"x"} })))),
			status: 401, want: ErrTokenInvalid, cause: errAudience},
		{name: "nbf in the future", req: a(bearer(sign(rsKey(), with(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(defaultFutureLeeway + time.Second)) })))),
			status: 401, want: ErrTokenInvalid, cause: errNotBefore},
		{name: "iat in the future", req: a(bearer(sign(rsKey(), with(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(t0.Add(defaultFutureLeeway + time.Second)) })))),
			status: 401, want: ErrTokenInvalid, cause: errIssuedAt},
		{name: "wrong iss", req: a(bearer(sign(rsKey(), with(func(c *Claims) { c.Issuer = "https://evil.example" })))),
			status: 401, want: ErrTokenInvalid, cause: errIssuer},
		{name: "wrong aud", req: a(bearer(sign(rsKey(), with(func(c *Claims) { c.Audience = jwt.ClaimStrings{"billing"} })))),
			status: 401, want: ErrTokenInvalid, cause: errAudience},
		{name: "no aud", req: a(bearer(sign(rsKey(), with(func(c *Claims) { c.Audience = nil })))),
			status: 401, want: ErrTokenInvalid, cause: errAudience},
		{name: "missing exp", req: a(bearer(sign(rsKey(), with(func(c *Claims) { c.ExpiresAt = nil })))),
			status: 401, want: ErrTokenInvalid, cause: errNoExp},
		{name: "1 MiB token", req: a(bearer(strings.Repeat("A", 1<<20))), status: 401, want: errTooLarge},
		{name: "100,000 dots", req: a(bearer(strings.Repeat(".", 100000))), status: 401, want: errTooLarge},
		{name: "unknown crit", req: a(bearer(forge(t, jwt.SigningMethodRS256, rsaPriv(), map[string]any{"kid": "rs", "crit": []string{"exp2"}, "exp2": 1}, claimsAt()))),
			status: 401, want: ErrTokenInvalid, cause: errCrit},
		{name: "duplicate headers", req: a(bearer(good), addHeader("Bearer "+good)), status: 400, want: ErrInvalidRequest},
		{name: "garbage segments", req: a(bearer("a.b.c")), status: 401, want: ErrTokenMalformed},
		{name: "four segments", req: a(bearer(good + ".x")), status: 401, want: ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := set
			if tt.set != nil {
				s = tt.set
			}
			var got *Error
			m := newMW(t, s, nil, append(strict, WithErrorHandler(func(w http.ResponseWriter, r *http.Request, e *Error) {
				got = e
				e.Write(w)
			}))...)
			w := serve(m.Handler(okHandler), tt.req...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (error %v)", w.Code, tt.status, got)
			}
			if tt.want == nil {
				if got != nil || w.Body.String() != "hello alice" {
					t.Fatalf("error %v, body %q", got, w.Body)
				}
				return
			}
			if got == nil || !errors.Is(got, tt.want) {
				t.Fatalf("error %v, want %v", got, tt.want)
			}
			if tt.cause != nil && !errors.Is(got, tt.cause) {
				t.Fatalf("error %v, want cause %v", got, tt.cause)
			}
			if errors.Is(got, ErrTokenExpired) != (tt.want == ErrTokenExpired) {
				t.Fatalf("expired reported wrongly: %v", got)
			}
		})
	}
}

// TestEveryAlgorithm accepts a token of each algorithm, through a private
// key and through the public-only view a resource server would hold.
func TestEveryAlgorithm(t *testing.T) {
	for _, k := range []*keys.Key{hsKey, edKey, esKey(), rsKey()} {
		t.Run(k.Algorithm(), func(t *testing.T) {
			tok := sign(k, claimsAt())
			verifier := k
			if pub, ok := k.Public(); ok {
				verifier = pub
			}
			m := newMW(t, must(keys.NewSet(verifier)), nil)
			for i := range 2 { // first sight, then cached
				if w := serve(m.Handler(okHandler), bearer(tok)); w.Code != 200 {
					t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
				}
			}
		})
	}
}

// TestNonCanonicalBase64 refuses a token whose signature is re-spelled with
// non-zero unused bits: it decodes to the same bytes but is another string.
func TestNonCanonicalBase64(t *testing.T) {
	m := newMW(t, must(keys.NewSet(edKey)), nil)
	good := sign(edKey, claimsAt())
	last := good[len(good)-1]
	// An Ed25519 signature is 64 bytes: the last base64url character
	// carries 2 bits, the 4 below them must be zero.
	idx := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", last)
	variant := good[:len(good)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[idx|1])
	if _, err := m.Verify(t.Context(), good); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(t.Context(), variant); !errors.Is(err, ErrTokenMalformed) {
		t.Fatalf("non-canonical spelling: %v", err)
	}
}
