// Package middleware verifies JWT access tokens (RFC 7519) on API servers
// and answers failures the way OAuth 2.0 Bearer clients expect (RFC 6750
// §3), so a client can tell "refresh and retry" from "log in again".
//
// Build a [Middleware] with [New] from a [keys.Set] and wrap handlers with
// its [Middleware.Handler], or [Middleware.Optional] for routes open to
// anonymous callers; both have the usual func(http.Handler) http.Handler
// shape (net/http ServeMux, chi, gorilla/mux, ...). Handlers read the
// verified claims with [ClaimsFrom] or, for the application's own claims
// type, [ClaimsAs]. [Middleware.RequireScope] adds scope checks (RFC 6749
// §3.3, RFC 8693 §4.2, RFC 9068 §2.2.3). [Middleware.Verify] checks a
// token received some other way.
//
// # Security defaults
//
// The accepted algorithm comes from the key named by the token's `kid`
// (RFC 7515 §4.1.4), never from the token. `exp` is required, with no
// leeway; `nbf` and `iat` are honoured, up to a minute in the future (see
// Clock skew). A token is limited to 8 KiB before any parsing, which is
// also what common proxies allow in one header. A `crit` header is refused
// (RFC 7515 §4.1.11: no extension is understood). Header parameter and
// claim names are matched exactly (RFC 7515 §4, RFC 7519 §4), and a header
// or claims set with a repeated name, or names differing only in case, is
// refused, because other JSON decoders (encoding/json, and so ClaimsAs)
// would read such a document differently. Tokens are read from the
// Authorization header only (a cookie only with [WithCookie]; never the
// query string), and no token ever reaches an [Event] or an error text of
// this package.
// "Expired" is only reported for a token whose signature and other claims
// verified, so a client never refreshes because of a forgery.
//
// # Errors
//
// Every refusal is an [*Error] carrying the HTTP status, the RFC 6750 code
// and a fixed description; it wraps one of the sentinel errors and its
// cause. The sentinels that golang-jwt also has are golang-jwt's own
// values ([ErrTokenExpired] is jwt.ErrTokenExpired, [ErrTokenMalformed] is
// jwt.ErrTokenMalformed), and claim failures wrap golang-jwt's error for
// the same fault (jwt.ErrTokenInvalidIssuer, jwt.ErrTokenNotValidYet, ...),
// so code written against golang-jwt's errors keeps working. Bad
// configuration is [ErrInvalidConfig], returned by New, never a panic.
//
// # Verified-token cache
//
// The accept path does no I/O. Verified tokens are kept in a bounded
// cache per Middleware (see [WithCache]), indexed by a seeded hash of the
// token's signature and confirmed by comparing the token in full, until
// their `exp` (plus the leeway) or until the key set changes; the claims
// are still validated on every request. Lookups take no lock. The
// optional session check ([WithSessionCheck]) is the only hook that may
// reach a store.
//
// # Clock skew
//
// [WithLeeway] takes two tolerances. The expiry leeway (default 0) is for
// a server whose clock runs ahead of the issuer's: tokens look expired
// early. Every second of it is a second longer that a stolen token works,
// so keep it to a few seconds. The future leeway (default one minute) is
// for a server whose clock lags: an issuer whose clock runs a second ahead
// mints tokens whose `nbf` and `iat` lie in this server's future. Refusing
// them protects nothing (they are genuine, and their life still ends at
// `exp`) but causes an outage: the client refreshes, gets another such
// token, and is refused again until the clocks agree. jwtrefresh's token
// service dates `nbf` and `iat` 10 s back, so this matters most for tokens
// of other issuers. 0 is the strict reading of RFC 7519 §4.1.5.
//
// # DPoP
//
// [WithDPoP] accepts access tokens bound to a client's key (RFC 9449, a
// `cnf.jkt` claim), each request with the scheme "DPoP" and a DPoP header
// holding a proof: a JWT the client signs for this request with that key.
// The proof is checked on every request, even when the token comes from
// the verified-token cache: `typ` dpop+jwt; an asymmetric `alg` from an
// allowlist; a public `jwk` (private members refused) whose RFC 7638
// thumbprint equals `cnf.jkt`; the signature; `htm`; `htu` after RFC 9449
// §4.3 normalisation against DPoP.BaseURL and the request's path (behind a
// proxy, the external URL; never the Host header, which would let a proof
// made for another server be replayed here); `iat` within DPoP.Window of
// now (default 10 s either way: proofs are made just before the request,
// and a clock skewed further calls for nonces); `ath`, the hash of the
// token; a length cap of 4 KiB; and, with a nonce key, a server nonce.
//
// Its `jti` must not have been seen while `iat` is within the window. It is
// recorded only once every other check passed, in a per-instance cache of
// DPoP.ReplayCacheSize entries that never forgets an unexpired proof: when
// full, requests get 503 until entries expire (size it to the requests per
// 20 s). Several instances share replay knowledge through DPoP.Replay,
// e.g. a redisstore Store: one Redis write (SET NX) per request.
//
// Rolling out: without WithDPoP, bound tokens are refused, since their
// proof cannot be checked. Start with WithDPoP (bearer and bound tokens
// both accepted, challenges naming both schemes), let logins bind, then set
// DPoP.Required to refuse bearer tokens. A bound token sent as Bearer, and
// an unbound one under the DPoP scheme, are refused in every mode: no
// downgrade. [Middleware.Verify] has no request, hence no proof: it
// reports a binding in Claims.KeyThumbprint and leaves it to the caller.
//
// # Logging and metrics
//
// The middleware does not log. [WithEvents] reports every decision to one
// hook, which can count, trace or log it; for example, to log refusals:
//
//	middleware.WithEvents(func(ctx context.Context, e middleware.Event) {
//		if e.Err != nil {
//			logger.LogAttrs(ctx, slog.LevelDebug, "access token refused",
//				slog.String("reason", e.Err.Reason), slog.String("error", e.Err.Error()))
//		}
//	})
package middleware
