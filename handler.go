package jwtrefresh

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Handler returns the service's HTTP endpoints, with paths relative to
// where it is mounted:
//
//	mux.Handle("/auth/", http.StripPrefix("/auth", svc.Handler()))
//
// serves refresh (RFC 6749 §6) and revocation (RFC 7009), logout
// everywhere and the caller's sessions (with its access token), and the
// public signing keys (RFC 7517). A store outage is 503 with Retry-After,
// never invalid_grant. Every request, answer and error is specified in
// docs/http-api.md in the module's repository: [HTTP API].
//
// [HTTP API]: https://github.com/jwtrefresh/jwtrefresh/blob/main/docs/http-api.md
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
