// Package middleware verifies JWT access tokens (RFC 7519) on API servers
// and answers failures the way OAuth 2.0 Bearer clients expect (RFC 6750
// §3), so a client can tell "refresh and retry" from "log in again".
//
// Build a [Middleware] with [New] from a [keys.Set] and wrap handlers with
// its [Middleware.Handler], which has the usual func(http.Handler)
// http.Handler shape (net/http ServeMux, chi, gorilla/mux, ...). Handlers
// read the verified claims with [ClaimsFrom] or, for the application's own
// claims type, [ClaimsAs]. [Middleware.RequireScope] adds scope checks
// (RFC 6749 §3.3, RFC 8693 §4.2, RFC 9068 §2.2.3).
//
// Security defaults: the accepted algorithm comes from the key named by the
// token's `kid` (RFC 7515 §4.1.4), never from the token; `exp` is required,
// with no leeway; `nbf` and `iat` are honoured, up to a minute in the
// future ([WithFutureLeeway]); a token is limited to 8 KiB before any
// parsing; a `crit` header is refused (RFC 7515 §4.1.11: no extension is
// understood); header parameter and claim names are matched exactly (RFC
// 7515 §4, RFC 7519 §4), and a header or claims set with a repeated name,
// or names differing only in case, is refused; tokens are read from the
// Authorization header only (a cookie only when configured; never the
// query string); no token ever reaches a log line. "Expired" is only reported for a token whose signature and
// other claims verified, so a client never refreshes because of a forgery.
//
// The accept path does no I/O: verified tokens are kept in a bounded cache
// (per Middleware, keyed by a seeded hash of the whole token and confirmed
// by comparing it in full) until their `exp` (plus the leeway) or
// until the key set changes, and the optional session check is the only
// hook that may reach a store.
package middleware
