package jwtrefresh

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Handler returns the service's HTTP endpoints, with paths relative to
// where it is mounted. With Go's ServeMux, mounting under /auth is one
// line:
//
//	mux.Handle("/auth/", http.StripPrefix("/auth", svc.Handler()))
//
// which serves:
//
//	POST   /auth/refresh         refresh (RFC 6749 §6)
//	POST   /auth/revoke          revocation (RFC 7009)
//	POST   /auth/logout-all      end every session of the caller      (Bearer)
//	GET    /auth/sessions        list the caller's sessions           (Bearer)
//	DELETE /auth/sessions/{id}   end one session of the caller        (Bearer)
//	GET    /auth/jwks.json       public signing keys (RFC 7517), with asymmetric keys
//
// Every response carries Cache-Control: no-store and Pragma: no-cache
// (the JWKS excepted: Cache-Control: no-cache with an ETag), and every
// error the JSON body {"error","error_description"} of RFC 6749 §5.2 with
// a fixed description.
//
// Refresh takes a POST with Content-Type application/x-www-form-urlencoded
// (grant_type=refresh_token&refresh_token=…) or application/json
// ({"refresh_token":"…"}, grant_type optional), at most 4 KiB by default,
// and an optional Idempotency-Key header: random, 128 bits or more, of
// [MinIdempotencyKeyLen] to [MaxIdempotencyKeyLen] characters (see
// [Service.Refresh]). A
// client_id is optional and not checked; empty HTTP Basic credentials are
// ignored (public clients). It answers:
//
//   - 200 with {"access_token","token_type":"Bearer","expires_in","refresh_token"};
//   - 400 invalid_request: a parameter missing or repeated, a malformed
//     body, Authorization or Idempotency-Key header (repeated, too short,
//     too long, not visible ASCII), a token in the URL, or the refresh
//     cookie sent more than once;
//   - 400 unsupported_grant_type: a grant_type other than refresh_token;
//   - 400 invalid_grant: the refresh token is unknown, expired, revoked,
//     forged or reused (reuse revokes sessions), or the claims loader
//     refused the user;
//   - 400 invalid_client (401 with WWW-Authenticate: Basic when sent in
//     the header): a client secret, which public clients do not have;
//   - 403 access_denied: the refresh cookie used from an origin not allowed;
//   - 405 with Allow: POST; 413 for a larger body; 415 with Accept-Post for
//     another content type;
//   - 503 temporarily_unavailable with Retry-After: the store cannot be
//     reached (a retry with the same Idempotency-Key is safe), or the
//     claims loader failed (nothing was used up: any retry is safe). Never
//     invalid_grant, since clients discard their session on invalid_grant.
//   - 500 server_error: the token could not be signed, or the claims
//     loader returned claims that are not allowed.
//
// Revoke takes token=… (and token_type_hint, which it does not need) the
// same way and answers 200 with an empty body, also for unknown and
// invalid tokens (RFC 7009 §2.2); 503 when the store is down; the request
// errors above otherwise.
//
// The session endpoints need the caller's access token (Authorization:
// Bearer), checked by the middleware with the session check: its refusals
// are RFC 6750 answers (401 with WWW-Authenticate, or 503). Logout-all
// answers 200 {"revoked":n}; sessions answers 200 {"sessions":[{"id",
// "current","created","last_used","expires","user_agent","ip","device"}]};
// deleting a session answers 204, or 404 not_found when the caller has no
// such session.
//
// Browsers need CORS headers to call these endpoints from another origin,
// including answers to preflight OPTIONS requests, which get 405 here: put
// a CORS handler in front.
func (s *Service) Handler() http.Handler { return s.handler }

var (
	allowPOST   = []string{http.MethodPost}
	allowGET    = []string{"GET, HEAD"}
	allowDELETE = []string{http.MethodDelete}
)

func (s *Service) newHandler() http.Handler {
	logoutAll := s.mw.Handler(http.HandlerFunc(s.serveLogoutAll))
	sessions := s.mw.Handler(http.HandlerFunc(s.serveSessions))
	deleteSession := s.mw.Handler(http.HandlerFunc(s.serveDeleteSession))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noStore(w.Header())
		post := r.Method == http.MethodPost
		get := r.Method == http.MethodGet || r.Method == http.MethodHead
		switch path := r.URL.Path; path {
		case "/refresh":
			s.route(w, r, post, allowPOST, s.serveRefresh)
		case "/revoke":
			s.route(w, r, post, allowPOST, s.serveRevoke)
		case "/logout-all":
			s.route(w, r, post, allowPOST, logoutAll.ServeHTTP)
		case "/sessions":
			s.route(w, r, get, allowGET, sessions.ServeHTTP)
		case "/jwks.json":
			s.route(w, r, get, allowGET, s.serveJWKS)
		default:
			id, ok := strings.CutPrefix(path, "/sessions/")
			if !ok || id == "" || strings.Contains(id, "/") {
				s.writeError(w, r, respNotFound, nil)
				return
			}
			r.SetPathValue("id", id)
			s.route(w, r, r.Method == http.MethodDelete, allowDELETE, deleteSession.ServeHTTP)
		}
	})
}

// route runs h when the method fits, else answers 405 with Allow.
func (s *Service) route(w http.ResponseWriter, r *http.Request, ok bool, allow []string, h http.HandlerFunc) {
	if !ok {
		w.Header()["Allow"] = allow
		s.writeError(w, r, respMethod, nil)
		return
	}
	h(w, r)
}

// writeJSON writes a 200 JSON answer to a session endpoint.
func (s *Service) writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil { // plain structs of strings, numbers and times; unreachable
		s.writeError(w, r, respServerError, err)
		return
	}
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["X-Content-Type-Options"] = hdrNoSniff
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
