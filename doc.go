// Package jwtrefresh keeps users logged in safely: short-lived JWT access
// tokens, one-time-use rotating refresh tokens, and reuse detection that
// revokes sessions when a used refresh token is presented again.
//
// The token service, [Service], issues a token pair at login, rotates it
// at each refresh, revokes sessions, and serves the OAuth 2.0 endpoints
// ([Service.Handler]) that clients call, such as package transport or
// golang.org/x/oauth2. It owns the refresh-token secrets
// (session.Secrets): it authenticates every presented refresh token once
// and hands its session.Store (package redisstore, or any implementation
// passing package storetest) decoded values.
//
// Standards followed:
//
//   - RFC 6749 §5 and §6: the refresh request (grant_type=refresh_token),
//     the token response and its errors; §2.3.1 for the empty Basic
//     credentials of public clients.
//   - RFC 7009: token revocation, 200 for unknown tokens.
//   - RFC 6750: the bearer tokens the session endpoints accept, through
//     package middleware.
//   - RFC 7519 and RFC 9068: access tokens are JWTs of type "at+jwt" with
//     iss, sub, aud, exp, nbf, iat, jti and the session id sid; RFC 8725
//     §3.11 for explicit typing.
//   - RFC 7517: the public signing keys as a JWK Set.
//   - RFC 9700 §4.14 (refresh-token rotation and reuse detection for public
//     clients) and FAPI 2.0 (a retried refresh must succeed): rotation with
//     idempotent retries.
//   - RFC 6265bis: the optional HttpOnly, Secure, SameSite=Strict refresh
//     cookie for browser front ends.
//
// # Endpoints
//
// [Service.Handler] serves the endpoints clients call, under one mount
// point: refresh, revocation, logout everywhere, the caller's sessions and
// the public signing keys. Their HTTP contract, every request, answer and
// error, is docs/http-api.md in the module's repository ([HTTP API]). Two
// rules shape it: a store outage is 503 with Retry-After, never
// invalid_grant, since clients discard their session on invalid_grant; and
// the session endpoints take the caller's access token from the
// Authorization header only, never from a cookie, since browsers attach
// cookies to cross-site requests.
//
// # Session check
//
// [Service.SessionCheck] (and [NewSessionCheck], for a resource server
// without a Service) asks the store whether a session is active and keeps
// the answers in a bounded local cache: "active" for the cache TTL, never
// past the session's own deadline (its idle timeout or absolute lifetime,
// which the store reports), "ended" for as long as an access token of the
// session can live (a session never comes back).
//
// Ends are pushed. With a store that is a session.Watcher (redisstore, the
// in-memory store of package storetest), the check subscribes at its first
// request, and every session ended through any instance sharing the store
// (revoked, logged out everywhere, ended by reuse detection or by the
// claims loader, evicted at the per-subject cap) reaches it within
// milliseconds: measured with three instances on one Redis, p99 under
// 3 ms on standalone Redis. Each pushed end is kept as a tombstone for the
// access-token lifetime plus 10 s, whether or not the session was cached,
// and a store read that began before it and answers "active" after it is
// refused and not cached. Ends through this Service are refused at once,
// before any push. Expiry is not pushed: the deadline bounds the cache.
//
// The push is checked: Redis answers a PING on the subscription's own
// connection at least once a second, and a broken connection is noticed
// at once. While the subscription is lost, no cached "active" is trusted:
// every request asks the store, and answers read before the subscription
// came back are asked again. A message missed because the connection died
// silently can thus leave a revoked session accepted for at most 2
// seconds. The TTL (default 1 minute) bounds only what push cannot tell:
// a record deleted in the store by hand, or a Redis Cluster whose nodes no
// longer reach each other while this instance still reaches its own.
//
// Why 1 minute: on the reference machine a store read costs 52 µs and
// 59 µs of CPU (this process and Redis), a cached answer 0.6 µs. Each
// active session costs one read per TTL: at 1 minute, 10,000 active
// sessions cost 167 reads a second, about 1% of a core; at the former 5 s,
// 12%, and a session sending a request a second caused 0.2 Redis commands
// per request (0.017 at 1 minute). Longer would save little and let a
// hand-deleted record live longer; 1 minute stays well inside the default
// 5-minute access-token lifetime, the bound without any check. With a
// store that does not push, the default stays 5 s: the TTL is then how
// long a session ended through another instance keeps working.
// WithSessionCache(0, n) asks the store on every request.
//
// # Store outages
//
// When the store cannot answer (Redis down, hung or unreachable), the check
// answers from what this instance knows (stale-if-error), instead of
// refusing every access token whose answer is not cached: a JWT is
// verified without I/O, and revocations cannot happen while the store is
// down anyway.
//
//   - A session with a tombstone, or known ended: 401.
//   - A session known active (a cached answer, whatever its TTL, before
//     the session's deadline): accepted.
//   - A session never seen: accepted only if this instance's push was
//     verified live from before the access token was issued up to the
//     outage (within 2 s of its start): any end of that session would
//     then have reached it as a tombstone. Otherwise 503 with Retry-After.
//
// Each answer rests on knowledge at most [WithMaxStale] old (default: the
// access-token lifetime): a cached answer is as recent as its read, or as
// the push that kept it current; past that, 503. WithMaxStale(0) fails
// closed: 503 for every session the store must answer for (an end known
// here is still 401). Either way an outage never turns a live session
// into a 401, which would send every client to refresh.
//
// While the store fails, one request per second asks it (the others are
// answered from memory), so that a recovering Redis is not flooded; the
// first answer ends degraded mode. Entering and leaving it are reported
// once each, as [EventCheckDegraded] and [EventCheckRestored] and as log
// lines (WithLogger), never per request. A request whose own context is
// cancelled says nothing of the store; one whose deadline passed while
// waiting for it does.
//
// What the bound means: during a full outage no session can end, so the
// answers are exact. During a partition (this instance cut off from a
// Redis others still reach), a session ended elsewhere keeps working here
// for at most WithMaxStale. Before the first failed read, a hung store
// delays the requests that must ask it by the store's timeout (3 s).
//
// # Resource servers
//
// A server that only verifies access tokens (no Service, no refresh-token
// secret) gets the same check from the store, on the same Redis and key
// prefix as the token service:
//
//	store, err := redisstore.New(rdb, redisstore.WithKeyPrefix(prefix))
//	check, stop, err := jwtrefresh.NewSessionCheck(store, jwtrefresh.WithAccessTokenTTL(ttl))
//	defer stop()
//	mw, err := middleware.New(publicKeys, middleware.WithIssuer(iss),
//		middleware.WithTokenType(jwtrefresh.AccessTokenType),
//		middleware.WithSessionCheck(check, 0))
//
// Give it the issuer's access-token lifetime: tombstones are kept that
// long. Keep the middleware's expiry leeway and the clock difference to
// the issuer under 10 s together.
//
// # Claims loader
//
// [WithClaimsLoader] runs before the refresh token is used up: the
// service first looks the session up (session.Store.Lookup, one more store
// read per refresh, with the token's MAC checked only once), so that a
// failed load leaves the token current and any retry, with or without an
// Idempotency-Key, refreshes normally. It is also called for a used token
// whose session is still active, just before reuse detection ends it. The
// snapshot it receives is the claims given at login, which stay as they
// were.
//
// # Refresh cookie
//
// With [WithRefreshCookie], browser front ends keep the refresh token in a
// cookie. Clients that send no Origin (a CLI, a Go service) keep using
// bodies. Refused refresh tokens get their cookie cleared.
//
// A cookie is sent by the browser whatever page caused the request, so a
// request whose token comes from the cookie must carry an Origin header
// from the allowlist, or it is refused with 403 (cross-site request
// forgery defence in addition to SameSite=Strict).
//
// Cookie tossing: a page on another host of the same site (a sibling
// subdomain, the parent domain; over https for a "__Secure-" name, over
// plain http too for a name without a prefix) can set a cookie of the same
// name for the whole domain, e.g. holding the attacker's own refresh
// token, and the browser then sends it along with the real one. A request
// carrying the cookie more than once is therefore refused with 400
// invalid_request instead of one being picked: nothing is rotated or
// revoked, and the front end asks the user to log in again. This cannot
// help when the browser holds only the tossed cookie (after a logout, say):
// the service would then rotate the attacker's session, logging the user
// in as the attacker. A "__Host-" name (with Path "/") closes that door,
// since browsers refuse a "__Host-" cookie set with a Domain attribute; it
// costs sending the cookie (HttpOnly, SameSite=Strict) to every path of
// the host rather than only to the endpoints. Choose it unless every host
// of the site is trusted.
//
// # Session records
//
// The store keeps, with each session, a seal: a MAC under the
// refresh-token secret over the session id, the subject and the claims
// given at login (session.SealKey). The store checks it inside every
// refresh and lookup, before deciding anything, so that a record edited
// in the store (another subject, other claims) is refused with
// invalid_grant, changes nothing, and is reported as [EventTampered].
//
// [HTTP API]: https://github.com/jwtrefresh/jwtrefresh/blob/main/docs/http-api.md
package jwtrefresh
