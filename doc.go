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
// without a Service) refuses the access tokens of ended sessions. It asks
// the store whether a session is active and caches the answers: "active"
// for the cache TTL ([WithSessionCache]), never past the session's own
// deadline, "ended" for as long as an access token can live.
//
// With a store that pushes ends (a session.Watcher, as redisstore's), every
// session ended through any instance (revoked, logged out everywhere,
// ended by reuse detection or by the claims loader, evicted at the cap) is
// refused everywhere within milliseconds: each pushed end is kept as a
// tombstone, and a store read racing it cannot revive the session. The
// push is verified every second; while it is lost no cached answer is
// trusted, so a missed message leaves a revoked session accepted for at
// most 2 seconds. The cache TTL defaults to 1 minute with push, 5 s
// without. While the store cannot answer, the check answers from what it
// knows for at most [WithMaxStale], else 503; an outage never turns a live
// session into a 401. The rules, the measurements behind the defaults and
// the staleness bound are in docs/protocol.md ([Session check]),
// docs/security.md and docs/operations.md ([During an outage]), which also
// shows a resource server's setup.
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
// # DPoP
//
// With [WithDPoP], sessions can be bound to a key pair the client never
// lets go (RFC 9449): a token copied from a log, a proxy, a backup or a
// Redis dump is then worthless without the private key. The binding is
// fixed at login: the application's login handler passes the thumbprint
// that [Service.DPoPThumbprint] returns for the request's DPoP header to
// session.NewSession.KeyThumbprint. The store seals it with the record, so
// no Redis write can unbind or rebind the session. Access tokens of a
// bound session carry `cnf.jkt` and the token type is "DPoP"; resource
// servers check them with middleware.WithDPoP.
//
// The refresh endpoint verifies a DPoP header when present. A bound
// session is refreshed only with a valid proof by its key: without one, or
// with another key's, the answer is invalid_grant, before any other
// outcome (rotation, replay, grace, reuse), so nothing is spent or revoked
// and a used token presented by a thief is not taken for reuse; the event
// is [EventDPoPRefused]. A bad proof is invalid_dpop_proof. A proof on an
// unbound session's refresh is ignored: it never binds it, or a thief
// holding a refresh token could lock its owner out. Server nonces are
// optional; they are derived from a shared key and the time, so any
// instance checks any other's.
//
// [HTTP API]: https://github.com/jwtrefresh/jwtrefresh/blob/main/docs/http-api.md
// [Session check]: https://github.com/jwtrefresh/jwtrefresh/blob/main/docs/protocol.md#session-check
// [During an outage]: https://github.com/jwtrefresh/jwtrefresh/blob/main/docs/operations.md#during-an-outage
package jwtrefresh
