package jwtrefresh_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/session"
)

const formType = "application/x-www-form-urlencoded"

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// TestRefreshEndpoint drives every answer of the refresh endpoint over real
// HTTP against real Redis, asserting status, body and headers.
func TestRefreshEndpoint(t *testing.T) {
	e := newEnv(t, envConfig{storeOpts: strict}) // "Reused" presents a token just used
	refreshForm := func(rt string) string { return form("grant_type", "refresh_token", "refresh_token", rt) }
	post := func(ct, body string, header ...string) func(t *testing.T, rt string) reply {
		return func(t *testing.T, rt string) reply {
			return do(t, e.request(t, http.MethodPost, "/auth/refresh", ct, strings.ReplaceAll(body, "RT", rt), header...))
		}
	}
	postForm := func(header ...string) func(t *testing.T, rt string) reply {
		return func(t *testing.T, rt string) reply {
			return do(t, e.request(t, http.MethodPost, "/auth/refresh", formType, refreshForm(rt), header...))
		}
	}
	ok := func(t *testing.T, r reply) {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		tj := r.token(t)
		if tj.TokenType != "Bearer" || tj.ExpiresIn != 300 || tj.AccessToken == "" ||
			!strings.HasPrefix(tj.RefreshToken, session.TokenPrefix) {
			t.Fatalf("token response %s", r.body)
		}
		var fields map[string]any
		_ = json.Unmarshal([]byte(r.body), &fields)
		if len(fields) != 4 {
			t.Fatalf("token response has fields %v, want exactly the four of RFC 6749 §5.1", fields)
		}
		if r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
		}
		wantNoStore(t, r)
	}
	fails := func(status int, code string) func(t *testing.T, r reply) {
		return func(t *testing.T, r reply) { t.Helper(); wantError(t, r, status, code) }
	}
	forged := func(t *testing.T, rt string) reply {
		last := "A"
		if rt[len(rt)-1] == 'A' {
			last = "B"
		}
		return post(formType, refreshForm(rt[:len(rt)-1]+last))(t, rt)
	}
	reused := func(t *testing.T, rt string) reply {
		if r := postForm()(t, rt); r.status != http.StatusOK {
			t.Fatalf("first refresh: %d %s", r.status, r.body)
		}
		return postForm()(t, rt)
	}
	big := refreshForm("RT") + "&pad=" + strings.Repeat("x", jwtrefresh.DefaultMaxBodySize)
	chunked := func(t *testing.T, rt string) reply {
		req := e.request(t, http.MethodPost, "/auth/refresh", formType, "")
		req.Body = readerCloser{strings.NewReader(strings.ReplaceAll(big, "RT", rt))}
		req.ContentLength = -1 // sent chunked: the limit must hold without a length
		return do(t, req)
	}

	for _, tc := range []struct {
		name  string
		send  func(t *testing.T, rt string) reply
		check func(t *testing.T, r reply)
	}{
		{"Form", postForm(), ok},
		{"FormUTF8", post("application/x-www-form-urlencoded; charset=UTF-8", refreshForm("RT")), ok},
		{"JSON", post("application/json", `{"refresh_token":"RT"}`), ok},
		{"JSONWithGrantType", post("application/json", `{"grant_type":"refresh_token","refresh_token":"RT","extra":[1,{"a":2}]}`), ok},
		{"EmptyBasicCredentials", postForm("Authorization", basic("", "")), ok},
		{"BasicClientIDOnly", postForm("Authorization", basic("cli", "")), ok},
		{"ClientIDParam", post(formType, refreshForm("RT")+"&client_id=cli"), ok},
		{"SameClientIDTwice", post(formType, refreshForm("RT")+"&client_id=cli", "Authorization", basic("cli", "")), ok},
		{"BearerIgnored", postForm("Authorization", "Bearer abc"), ok},
		{"IdempotencyKey", postForm("Idempotency-Key", `"8e03978e-40d5-43e8-bc93-6894a57f9324"`), ok},
		{"UnknownParamIgnored", post(formType, refreshForm("RT")+"&scope=x&foo=1&foo=2"), ok},
		{"EmptyParamIsAbsent", post(formType, refreshForm("RT")+"&refresh_token="), ok},

		{"NoGrantType", post(formType, form("refresh_token", "RT")), fails(400, "invalid_request")},
		{"NoRefreshToken", post(formType, form("grant_type", "refresh_token")), fails(400, "invalid_request")},
		{"JSONNoRefreshToken", post("application/json", `{}`), fails(400, "invalid_request")},
		{"RepeatedToken", post(formType, refreshForm("RT")+"&refresh_token=RT"), fails(400, "invalid_request")},
		{"RepeatedGrantType", post(formType, refreshForm("RT")+"&grant_type=refresh_token"), fails(400, "invalid_request")},
		{"JSONRepeatedKey", post("application/json", `{"refresh_token":"RT","refresh_token":"RT"}`), fails(400, "invalid_request")},
		{"MalformedForm", post(formType, refreshForm("RT")+"&x=%zz"), fails(400, "invalid_request")},
		{"MalformedJSON", post("application/json", `{"refresh_token":"RT"`), fails(400, "invalid_request")},
		{"JSONArray", post("application/json", `["RT"]`), fails(400, "invalid_request")},
		{"JSONNumberToken", post("application/json", `{"refresh_token":12}`), fails(400, "invalid_request")},
		{"JSONTrailingData", post("application/json", `{"refresh_token":"RT"} {}`), fails(400, "invalid_request")},
		{"TokenInQuery", func(t *testing.T, rt string) reply {
			return do(t, e.request(t, http.MethodPost, "/auth/refresh?refresh_token="+rt, formType, refreshForm(rt)))
		}, fails(400, "invalid_request")},
		{"TwoAuthorizationHeaders", postForm("Authorization", basic("", ""), "Authorization", basic("", "")), fails(400, "invalid_request")},
		{"MalformedBasic", postForm("Authorization", "Basic !!!"), fails(400, "invalid_request")},
		{"BasicWithoutColon", postForm("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("cli"))), fails(400, "invalid_request")},
		{"DifferentClientIDs", post(formType, refreshForm("RT")+"&client_id=a", "Authorization", basic("b", "")), fails(400, "invalid_request")},
		{"IdempotencyKeyTwice", postForm("Idempotency-Key", "a", "Idempotency-Key", "b"), fails(400, "invalid_request")},
		{"IdempotencyKeyTooLong", postForm("Idempotency-Key", strings.Repeat("k", session.MaxIdempotencyKeyLen+1)), fails(400, "invalid_request")},
		{"IdempotencyKeyNonASCII", postForm("Idempotency-Key", "a\xe9b"), fails(400, "invalid_request")},
		{"GrantTypePassword", post(formType, form("grant_type", "password", "refresh_token", "RT")), fails(400, "unsupported_grant_type")},
		{"Garbage", post(formType, refreshForm("not-a-token")), fails(400, "invalid_grant")},
		{"Forged", forged, fails(400, "invalid_grant")},
		{"Reused", reused, fails(400, "invalid_grant")},
		{"ClientSecretParam", post(formType, refreshForm("RT")+"&client_secret=s"), fails(400, "invalid_client")},
		{"ClientSecretJSON", post("application/json", `{"refresh_token":"RT","client_secret":"s"}`), fails(400, "invalid_client")},
		{"BasicWithSecret", postForm("Authorization", basic("cli", "secret")), func(t *testing.T, r reply) {
			wantError(t, r, 401, "invalid_client")
			if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic realm=") {
				t.Fatalf("WWW-Authenticate %q", got)
			}
		}},
		{"Get", func(t *testing.T, rt string) reply {
			return do(t, e.request(t, http.MethodGet, "/auth/refresh", "", ""))
		}, func(t *testing.T, r reply) {
			wantError(t, r, 405, "invalid_request")
			if r.header.Get("Allow") != "POST" {
				t.Fatalf("Allow %q", r.header.Get("Allow"))
			}
		}},
		{"Put", func(t *testing.T, rt string) reply {
			return do(t, e.request(t, http.MethodPut, "/auth/refresh", formType, refreshForm(rt)))
		}, fails(405, "invalid_request")},
		{"TextPlain", post("text/plain", refreshForm("RT")), func(t *testing.T, r reply) {
			wantError(t, r, 415, "invalid_request")
			if r.header.Get("Accept-Post") == "" {
				t.Fatal("no Accept-Post")
			}
		}},
		{"NoContentType", post("", refreshForm("RT")), fails(415, "invalid_request")},
		{"Latin1", post(formType+"; charset=ISO-8859-1", refreshForm("RT")), fails(415, "invalid_request")},
		{"BadMediaType", post("application/", refreshForm("RT")), fails(415, "invalid_request")},
		{"TooLarge", post(formType, big), fails(413, "invalid_request")},
		{"TooLargeChunked", chunked, fails(413, "invalid_request")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := e.login(t, "alice").RefreshToken
			tc.check(t, tc.send(t, rt))
		})
	}
}

type readerCloser struct{ *strings.Reader }

func (readerCloser) Close() error { return nil }

// TestRoutes checks the answers of paths and methods outside the endpoints.
func TestRoutes(t *testing.T) {
	e := newEnv(t, envConfig{})
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/auth/", 404, ""},
		{http.MethodGet, "/auth/nope", 404, ""},
		{http.MethodPost, "/auth/refresh/", 404, ""},
		{http.MethodGet, "/auth/sessions/", 404, ""},
		{http.MethodDelete, "/auth/sessions/a/b", 404, ""},
		{http.MethodGet, "/auth/revoke", 405, "POST"},
		{http.MethodOptions, "/auth/refresh", 405, "POST"},
		{http.MethodGet, "/auth/logout-all", 405, "POST"},
		{http.MethodPost, "/auth/sessions", 405, "GET, HEAD"},
		{http.MethodGet, "/auth/sessions/x", 405, "DELETE"},
		{http.MethodPost, "/auth/jwks.json", 405, "GET, HEAD"},
		{http.MethodGet, "/auth/jwks.json", 404, ""}, // HS256: nothing to publish
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			r := do(t, e.request(t, tc.method, tc.path, "", ""))
			code := "not_found"
			if tc.status == 405 {
				code = "invalid_request"
			}
			wantError(t, r, tc.status, code)
			if r.header.Get("Allow") != tc.allow {
				t.Fatalf("Allow %q, want %q", r.header.Get("Allow"), tc.allow)
			}
		})
	}
}

// TestLoginHelpers: what the application's login handler writes through
// WriteError and WriteTokenResponse.
func TestLoginHelpers(t *testing.T) {
	e := newEnv(t, envConfig{})
	r := do(t, e.request(t, http.MethodPost, "/login", formType, form("user", "")))
	wantError(t, r, 400, "invalid_request")
	r = do(t, e.request(t, http.MethodPost, "/login", formType, form("user", "alice", "claims", `{"sub":"x"}`)))
	wantError(t, r, 400, "invalid_request")

	w := httptest.NewRecorder()
	e.svc.WriteTokenResponse(w, httptest.NewRequest(http.MethodPost, "/login", nil), nil)
	if w.Code != 500 || w.Header().Get("Cache-Control") != "no-store" || !strings.Contains(w.Body.String(), "server_error") {
		t.Fatalf("nil response: %d %v %s", w.Code, w.Header(), w.Body)
	}
	for err, status := range map[error]int{
		session.ErrUnavailable:       503,
		session.ErrInvalidToken:      400,
		jwtrefresh.ErrReuseDetected:  400,
		jwtrefresh.ErrSubjectRefused: 400,
		session.ErrNotFound:          404,
		session.ErrInvalidInput:      400,
		io.ErrUnexpectedEOF:          500,
	} {
		w := httptest.NewRecorder()
		e.svc.WriteError(w, httptest.NewRequest(http.MethodPost, "/login", nil), fmt.Errorf("wrapped: %w", err))
		if w.Code != status || w.Header().Get("Cache-Control") != "no-store" || (status == 503) != (w.Header().Get("Retry-After") == "1") {
			t.Errorf("WriteError(%v): %d %v", err, w.Code, w.Header())
		}
	}
}

// TestMountHint: a handler mounted without http.StripPrefix, or with a
// prefix that eats the leading slash, answers 404 with a description that
// says how to mount it, quoting neither the request's path nor its body.
func TestMountHint(t *testing.T) {
	e := newEnv(t, envConfig{})
	rt := e.login(t, "alice").RefreshToken
	for name, h := range map[string]http.Handler{
		"NoStripPrefix":   e.svc.Handler(),
		"TrailingSlashed": http.StripPrefix("/auth/", e.svc.Handler()),
	} {
		t.Run(name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.Handle("/auth/", h)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/auth/refresh",
				strings.NewReader(form("grant_type", "refresh_token", "refresh_token", rt)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", formType)
			r := do(t, req)
			wantError(t, r, http.StatusNotFound, "not_found")
			if !strings.Contains(r.body, "http.StripPrefix") || !strings.Contains(r.body, "/refresh") {
				t.Fatalf("no hint about mounting: %s", r.body)
			}
			if strings.Contains(r.body, "/auth/refresh") || strings.Contains(r.body, rt) {
				t.Fatalf("the answer echoes the request: %s", r.body)
			}
		})
	}
	// Nothing was spent: the token still refreshes where it is mounted.
	if r := e.refresh(t, rt); r.status != http.StatusOK {
		t.Fatalf("refresh after the 404s: %d %s", r.status, r.body)
	}
}
