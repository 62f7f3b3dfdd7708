package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/middleware"
)

// The README's quick start: protect routes of a ServeMux.
func Example() {
	// The signing key: load it from your secret store (at least 32 bytes).
	key, err := keys.NewHS256("2026-01", []byte("example-secret-example-secret-32"))
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	mw, err := middleware.New(set,
		middleware.WithIssuer("https://auth.example.com"),
		middleware.WithAudience("api"),
	)
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /api/me", mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := middleware.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s (session %s)", claims.Subject, claims.SessionID)
	})))
	mux.Handle("DELETE /api/users/{id}", mw.Handler(mw.RequireScope("admin")(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))))
	// A real server would now run http.ListenAndServe(":8080", mux).

	// A token as the token service would issue it.
	token, err := set.Sign(middleware.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "https://auth.example.com",
			Audience:  jwt.ClaimStrings{"api"},
			Subject:   "alice",
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(5 * time.Minute)),
		},
		SessionID: "s-42",
		Scope:     middleware.Scopes{"read"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, rq := range []struct{ method, path, auth string }{
		{"GET", "/api/me", "Bearer " + token},
		{"GET", "/api/me", ""},
		{"DELETE", "/api/users/7", "Bearer " + token},
	} {
		req := httptest.NewRequest(rq.method, rq.path, nil)
		if rq.auth != "" {
			req.Header.Set("Authorization", rq.auth)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		status := fmt.Sprint(rec.Code)
		if challenge := rec.Header().Get("WWW-Authenticate"); challenge != "" {
			status += " " + challenge
		}
		fmt.Println(status)
		fmt.Println(rec.Body.String())
	}
	// Output:
	// 200
	// hello alice (session s-42)
	// 401 Bearer realm="api"
	// {"error":"unauthorized","error_description":"an access token is required"}
	// 403 Bearer realm="api", error="insufficient_scope", error_description="the access token lacks a required scope", scope="admin"
	// {"error":"insufficient_scope","error_description":"the access token lacks a required scope"}
}

// A custom error handler tells expiry apart with errors.Is, never by text.
func ExampleWithErrorHandler() {
	key, _ := keys.NewHS256("k1", []byte("example-secret-example-secret-32"))
	set, _ := keys.NewSet(key)
	mw, _ := middleware.New(set, middleware.WithErrorHandler(
		func(w http.ResponseWriter, r *http.Request, err *middleware.Error) {
			if errors.Is(err, middleware.ErrTokenExpired) {
				w.Header().Set("X-Token-Expired", "1")
			}
			err.Write(w) // the standard RFC 6750 response
		}))
	expired, _ := set.Sign(jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(-time.Minute))})

	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+expired)
	rec := httptest.NewRecorder()
	mw.Handler(http.NotFoundHandler()).ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("X-Token-Expired"))
	fmt.Println(rec.Header().Get("WWW-Authenticate"))
	// Output:
	// 401 1
	// Bearer realm="api", error="invalid_token", error_description="the access token expired"
}

// The application's own claims sit next to the registered ones in the
// token; ClaimsAs decodes them into its type.
func ExampleClaimsAs() {
	type appClaims struct {
		middleware.Claims
		Tenant string `json:"tenant"`
	}
	key, _ := keys.NewHS256("k1", []byte("example-secret-example-secret-32"))
	set, _ := keys.NewSet(key)
	mw, _ := middleware.New(set)
	token, _ := set.Sign(jwt.MapClaims{
		"sub": "alice", "tenant": "acme", "scope": "read write",
		"exp": time.Now().Add(time.Minute).Unix(),
	})

	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := middleware.ClaimsAs[appClaims](r.Context())
		fmt.Println(c.Subject, c.Tenant, c.Scope, err)
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	h.ServeHTTP(httptest.NewRecorder(), req)
	// Output: alice acme [read write] <nil>
}

// A session check refuses tokens of revoked sessions (401) and turns a
// store outage into 503 + Retry-After rather than a 401.
func ExampleWithSessionCheck() {
	revoked := map[string]bool{"s-1": true}
	check := func(ctx context.Context, c *middleware.Claims) error {
		if revoked[c.SessionID] {
			return middleware.ErrSessionRevoked
		}
		return nil
	}
	key, _ := keys.NewHS256("k1", []byte("example-secret-example-secret-32"))
	set, _ := keys.NewSet(key)
	mw, _ := middleware.New(set, middleware.WithSessionCheck(check, 2*time.Second))
	for _, sid := range []string{"s-1", "s-2"} {
		token, _ := set.Sign(middleware.Claims{SessionID: sid, RegisteredClaims: jwt.RegisteredClaims{
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))}})
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, req)
		fmt.Println(sid, rec.Code)
	}
	// Output:
	// s-1 401
	// s-2 200
}
