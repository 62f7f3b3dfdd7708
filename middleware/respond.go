package middleware

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Fixed descriptions: they say what went wrong without echoing the token,
// the key id or any internal detail.
const (
	descMissing           = "an access token is required"
	descDuplicate         = "more than one Authorization header"
	descEmptyBearer       = "the Bearer scheme has no token"
	descBadHeader         = "the Authorization header is malformed"
	descBadCookie         = "the access token cookie is malformed or repeated"
	descTwoMethods        = "an access token in both the Authorization header and a cookie"
	descTooLarge          = "the access token is too large"
	descMalformed         = "the access token is malformed"
	descInvalid           = "the access token is invalid"
	descExpired           = "the access token expired"
	descRevoked           = "the session of the access token has ended"
	descUnavailable       = "the session could not be checked; retry later"
	descInsufficient      = "the access token lacks a required scope"
	descInvalidProof      = "the DPoP proof is missing or invalid for this request"
	descUseNonce          = "the DPoP proof must carry the nonce of the DPoP-Nonce header"
	descDPoPDuplicate     = "more than one DPoP header"
	descReplayUnavailable = "the DPoP proof could not be checked for replay; retry later"
	codeInvalidProof      = "invalid_dpop_proof"
	codeUseNonce          = "use_dpop_nonce"
	codeInvalidReq        = "invalid_request"
	codeInvalidToken      = "invalid_token"
	codeInsufficient      = "insufficient_scope"
	codeUnauthorized      = "unauthorized"
	codeUnavailable       = "temporarily_unavailable"
	maxRealmLength        = 256
)

// Values of Error.Reason.
const (
	reasonMissing           = "missing"
	reasonInvalidRequest    = "invalid_request"
	reasonTooLarge          = "too_large"
	reasonMalformed         = "malformed"
	reasonInvalid           = "invalid"
	reasonExpired           = "expired"
	reasonRevoked           = "revoked"
	reasonUnavailable       = "unavailable"
	reasonInsufficientScope = "insufficient_scope"
	reasonInvalidProof      = "invalid_dpop_proof"
	reasonUseNonce          = "use_dpop_nonce"
)

// quote returns s as an RFC 9110 §5.6.4 quoted-string.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// checkRealm refuses what a quoted-string cannot carry (control characters
// other than tab, DEL) and realms that would bloat every response.
func checkRealm(realm string) error {
	if len(realm) > maxRealmLength {
		return configError("WithRealm: realm longer than %d bytes", maxRealmLength)
	}
	for i := 0; i < len(realm); i++ {
		if c := realm[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return configError("WithRealm: realm contains control character %#x", c)
		}
	}
	return nil
}

// validScope reports whether s is an RFC 6749 §3.3 scope-token, so it can
// sit unescaped in a challenge and compare exactly with token scopes.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

// challenge builds a WWW-Authenticate value (RFC 6750 §3). code "" gives
// the bare challenge sent for a missing token.
func challenge(quotedRealm, code, desc, scope string) string {
	if code == "" {
		return "Bearer realm=" + quotedRealm
	}
	s := "Bearer realm=" + quotedRealm + ", error=" + quote(code) + ", error_description=" + quote(desc)
	if scope != "" {
		s += ", scope=" + quote(scope)
	}
	return s
}

// challenges is the WWW-Authenticate value of a refusal with code ("" for
// none): Bearer's, DPoP's, or both when both schemes are accepted, the
// error on the scheme the request used (dpopScheme).
func (m *Middleware) challenges(code, desc string, dpopScheme bool) string {
	d := m.dpop
	if d == nil {
		return challenge(m.quotedRealm, code, desc, "")
	}
	dp := "DPoP realm=" + m.quotedRealm + `, algs="` + d.algsList + `"`
	if code != "" && (dpopScheme || d.required) {
		dp += ", error=" + quote(code) + ", error_description=" + quote(desc)
	}
	switch {
	case d.required:
		return dp
	case dpopScheme:
		return challenge(m.quotedRealm, "", "", "") + ", " + dp
	}
	return challenge(m.quotedRealm, code, desc, "") + ", " + dp
}

// asDPoP returns e with its challenge for a request that used the DPoP
// scheme.
func (m *Middleware) asDPoP(e *Error) *Error {
	if m.dpop == nil || e.Challenge == "" {
		return e
	}
	code := e.Code
	if code == codeUnauthorized {
		code = ""
	}
	e.Challenge = m.challenges(code, e.Description, true)
	return e
}

func jsonBody(code, desc string) []byte {
	b, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, desc})
	return b
}

// template is a precomputed response; fail copies it and adds the cause,
// so a refusal costs one allocation.
func (m *Middleware) template(status int, code, desc, reason string) *Error {
	e := &Error{Status: status, Code: code, Description: desc, Reason: reason}
	switch status {
	case http.StatusServiceUnavailable:
		e.RetryAfter = m.retryAfter
	case http.StatusUnauthorized, http.StatusBadRequest, http.StatusForbidden:
		chCode := code
		if code == codeUnauthorized {
			chCode = ""
		}
		e.Challenge = m.challenges(chCode, desc, false)
	}
	e.body = jsonBody(code, desc)
	return e
}

func fail(tmpl *Error, cause error) *Error {
	e := *tmpl
	e.Err = cause
	return &e
}

// reject reports and answers a refused request.
func (m *Middleware) reject(w http.ResponseWriter, r *http.Request, e *Error) {
	m.observe(r.Context(), Event{Err: e})
	if m.errorHandler != nil {
		m.errorHandler(w, r, e)
		return
	}
	e.Write(w)
}
