package middleware

import (
	"fmt"
	"net/http"
	"strings"
)

// RequireScope returns middleware, to be placed inside [Middleware.Handler],
// that lets a request through only if its token grants every scope listed.
// Otherwise it answers 403 with WWW-Authenticate: Bearer realm="<realm>",
// error="insufficient_scope", error_description="…", scope="<scopes>"
// (RFC 6750 §3.1), or, for a request without verified claims (Optional
// without a token, or no Handler around it), the 401 of a missing token. It panics at
// wiring time if a scope is not an RFC 6749 §3.3 scope-token.
func (m *Middleware) RequireScope(scopes ...string) func(http.Handler) http.Handler {
	if len(scopes) == 0 {
		panic("middleware: RequireScope without scopes")
	}
	for _, s := range scopes {
		if !validScope(s) {
			panic(fmt.Sprintf("middleware: RequireScope: invalid scope %q", s))
		}
	}
	scopes = append([]string(nil), scopes...)
	joined := strings.Join(scopes, " ")
	tmpl := m.template(http.StatusForbidden, codeInsufficient, descInsufficient, reasonInsufficientScope)
	tmpl.Scope = joined
	tmpl.Challenge = challenge(m.quotedRealm, codeInsufficient, descInsufficient, joined)
	cause := fmt.Errorf("%w: %s required", ErrInsufficientScope, joined)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := ClaimsFrom(r.Context())
			if !ok {
				m.reject(w, r, fail(m.t.missing, ErrTokenMissing))
				return
			}
			for _, s := range scopes {
				if !c.HasScope(s) {
					m.reject(w, r, fail(tmpl, cause))
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
