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
	var token string
	var fromCookie bool
	if e == nil {
		token, fromCookie, e = s.presented(r, p.refreshToken, respNoRefreshToken)
	}
	if e != nil {
		s.writeError(w, r, e, nil)
		return
	}
	jkt, err := s.DPoPThumbprint(r)
	if err != nil {
		s.dpopRefused(r.Context(), token)
		s.writeError(w, r, errorFor(err), err)
		return
	}
	tr, err := s.Refresh(r.Context(), token, p.idempotencyKey, jkt)
	if err != nil {
		e := errorFor(err)
		if e == respBadInput { // the only input a refresh checks is the key
			e = respBadIdemKey
		}
		if fromCookie && e == respInvalidGrant {
			s.cfg.cookie.clear(w) // the browser holds a dead token
		}
		s.writeError(w, r, e, err)
		return
	}
	s.WriteTokenResponse(w, r, tr)
}

// serveRevoke is the revocation endpoint (RFC 7009); see Handler.
func (s *Service) serveRevoke(w http.ResponseWriter, r *http.Request) {
	p, e := readParams(w, r, s.cfg.maxBody)
	var token string
	var fromCookie bool
	if e == nil {
		token, fromCookie, e = s.presented(r, p.token, respNoToken)
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
		s.cfg.cookie.clear(w)
	}
	w.Header()["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusOK)
}

// presented is the token a refresh or revocation acts on: the one in the
// form, else the refresh cookie's (fromCookie), else missing.
func (s *Service) presented(r *http.Request, form string, missing *wireError) (token string, fromCookie bool, e *wireError) {
	if form != "" {
		return form, false, nil
	}
	if s.cfg.cookie != nil {
		if token, e = s.cfg.cookie.read(r); e != nil || token != "" {
			return token, e == nil, e
		}
	}
	return "", false, missing
}
