package middleware

import (
	"net/http"
	"strings"
)

// extractBearer returns the token of a request's Authorization header
// values (RFC 6750 §2.1): "", nil when there is no header or the scheme is
// not Bearer (matched case-insensitively), since another scheme is not a
// bearer token; ErrInvalidRequest for two headers, "Bearer" without a
// token, or a token with characters outside RFC 6750's b64token. It does
// not check the length.
func extractBearer(values []string) (string, error) {
	tok, err := splitBearer(values)
	if err == nil && tok != "" && !isB64Token(tok) {
		return "", errBadHeader
	}
	return tok, err
}

// splitBearer is extractBearer without the character check, which the
// middleware defers until a token misses the cache: a token equal to one
// already verified needs no scan.
func splitBearer(values []string) (string, error) {
	tok, _, err := splitAuthorization(values, false)
	return tok, err
}

// splitAuthorization is splitBearer that also takes the DPoP scheme (RFC
// 9449 §7.1) when withDPoP is set, and reports which scheme it found.
func splitAuthorization(values []string, withDPoP bool) (tok string, dpopScheme bool, err error) {
	switch len(values) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", false, errDuplicate
	}
	v := strings.TrimLeft(values[0], " \t")
	scheme, rest, _ := strings.Cut(v, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
	case withDPoP && strings.EqualFold(scheme, "DPoP"):
		dpopScheme = true
	default:
		return "", false, nil
	}
	tok = strings.Trim(rest, " \t")
	if tok == "" {
		return "", dpopScheme, errEmptyBearer
	}
	return tok, dpopScheme, nil
}

// b64tokenChar marks the bytes of RFC 6750's b64token alphabet (without the
// trailing "=" padding).
var b64tokenChar = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/") {
		t[c] = true
	}
	return t
}()

// isB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	end := len(s)
	for end > 0 && s[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		if !b64tokenChar[s[i]] {
			return false
		}
	}
	return true
}

// extract finds the request's token: "" with a nil error when there is
// none. The token's characters are not checked yet; badChars is the
// refusal to give if they turn out wrong.
func (m *Middleware) extract(r *http.Request) (tok string, dpopScheme bool, badChars, e *Error) {
	tok, dpopScheme, err := splitAuthorization(r.Header["Authorization"], m.dpop != nil)
	switch err {
	case nil:
	case errDuplicate:
		return "", false, nil, fail(m.t.duplicate, err)
	default:
		return "", false, nil, fail(m.t.emptyBearer, err)
	}
	if m.cookie == "" {
		return tok, dpopScheme, m.t.badHeader, nil
	}
	cookies := r.CookiesNamed(m.cookie)
	if len(cookies) == 1 && cookies[0].Value == "" {
		cookies = nil // a cleared cookie is no token
	}
	switch {
	case len(cookies) == 0:
		return tok, dpopScheme, m.t.badHeader, nil
	case len(cookies) > 1:
		return "", false, nil, fail(m.t.badCookie, errBadCookie)
	case tok != "":
		return "", false, nil, fail(m.t.twoMethods, errTwoMethods)
	}
	return cookies[0].Value, false, m.t.badCookie, nil
}
