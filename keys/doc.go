// Package keys holds the signing and verification keys of access tokens,
// shared by the middleware that verifies them and the service that issues
// them.
//
// A [Key] binds one key to one JWS algorithm (RFC 7518 §3: HS256, ES256,
// RS256; RFC 8037: EdDSA with Ed25519) and one key id (`kid`, RFC 7515
// §4.1.4). The algorithm always comes from the key, never from a token, so
// `alg: none` and algorithm-confusion tokens (HS256 signed with the bytes of
// an RSA public key) are refused.
//
// A [Set] is the live key configuration: an immutable snapshot behind an
// atomic pointer, replaced as a whole when keys rotate, with a generation
// that changes whenever the keys do, so caches of verified tokens know when
// to forget (replacing keys with identical ones changes nothing). Its
// [Set.Keyfunc] plugs into github.com/golang-jwt/jwt/v5, its [Set.Sign]
// mints compact JWTs (RFC 7519) with the `kid` header, and its
// [Set.JWKS] publishes the public keys as a JSON Web Key Set (RFC 7517);
// [ParseJWKS] reads one back on a resource server, and [Set.ReplaceKeys]
// installs what it read.
//
// Tokens without a `kid` header are accepted only while the set holds
// exactly one key; with several keys a token must name its key.
package keys
