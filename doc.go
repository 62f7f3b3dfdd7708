// Package jwtrefresh keeps users logged in safely: short-lived JWT access
// tokens, one-time-use rotating refresh tokens, and reuse detection that
// revokes sessions when a used refresh token is presented again.
//
// The package holds two things:
//
//   - The rotation store contract: [Store], its errors and events, and the
//     refresh-token format ([RefreshKeyring]). Package redisstore
//     implements it on Redis; package storetest is its conformance suite.
//   - The token service: [Service] issues a token pair at login, rotates it
//     at each refresh, revokes sessions, and serves the OAuth 2.0 endpoints
//     ([Service.Handler]) that clients call, such as package transport or
//     golang.org/x/oauth2.
//
// Standards followed:
//
//   - RFC 6749 §5 and §6: the refresh request (grant_type=refresh_token),
//     the token response and its errors (invalid_request, invalid_grant,
//     unsupported_grant_type, invalid_client); §2.3.1 for the empty Basic
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
package jwtrefresh
