package jwtrefresh

import (
	"net/http"
)

// serveRefresh is the refresh endpoint (RFC 6749 §6); see Handler.
func (s *Service) serveRefresh(w http.ResponseWriter, r *http.Request) {
	p, e := readParams(w, r, s.cfg.maxBody)
	if e == nil {
		switch p.grantType {
		case "refresh_token":
		case "":
			if !p.json { // a JSON body may leave the grant type implicit
				e = respNoGrantType
			}
		default:
			e = respUnsupported
		}
	}
	token, fromCookie := p.refreshToken, false
	if e == nil && token == "" && s.cookie != nil {
		token, e = s.cookie.read(r)
		fromCookie = token != ""
	}
	if e == nil && token == "" {
		e = respNoRefreshToken
	}
	if e != nil {
		s.writeError(w, r, e, nil)
		return
	}
	tr, err := s.Refresh(r.Context(), token, p.idempotencyKey)
	if err != nil {
		e := errorFor(err)
		if fromCookie && e == respInvalidGrant {
			s.cookie.clear(w) // the browser holds a dead token
		}
		s.writeError(w, r, e, err)
		return
	}
	s.WriteTokenResponse(w, r, tr)
}

// serveRevoke is the revocation endpoint (RFC 7009); see Handler.
func (s *Service) serveRevoke(w http.ResponseWriter, r *http.Request) {
	p, e := readParams(w, r, s.cfg.maxBody)
	token, fromCookie := p.token, false
	if e == nil && token == "" && s.cookie != nil {
		token, e = s.cookie.read(r)
		fromCookie = token != ""
	}
	if e == nil && token == "" {
		e = respNoToken
	}
	if e != nil {
		s.writeError(w, r, e, nil)
		return
	}
	if err := s.Revoke(r.Context(), token); err != nil {
		s.writeError(w, r, errorFor(err), err)
		return
	}
	if fromCookie {
		s.cookie.clear(w)
	}
	w.Header()["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusOK)
}
