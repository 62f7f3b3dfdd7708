// Package keys holds the signing and verification keys of access tokens,
// shared by the middleware that verifies them and the service that issues
// them.
//
// A [Key] binds one key to one JWS algorithm (RFC 7518 §3: HS256, ES256,
// RS256; RFC 8037: EdDSA with Ed25519) and one key id (`kid`, RFC 7515
// §4.1.4). A [Set] is the live key configuration: the current key, which
// signs, and older keys that still verify. [Set.Sign] and [Set.SignJSON]
// mint compact JWTs (RFC 7519) with the `kid` header; [Set.Keyfunc] plugs
// into github.com/golang-jwt/jwt/v5; [Set.JWKS] publishes the public keys
// as a JSON Web Key Set (RFC 7517), which [ParseJWKS] reads back on a
// resource server and [Set.Replace] installs.
//
// # Algorithms come from keys
//
// The algorithm always comes from the key named by the token, never from
// the token, so `alg: none` and algorithm-confusion tokens (HS256 signed
// with the bytes of an RSA public key) are refused. Tokens without a `kid`
// header are accepted only while the set holds exactly one key; with
// several keys a token must name its key.
//
// # Rotation
//
// A Set is an immutable snapshot behind an atomic pointer, replaced as a
// whole when keys rotate, with a generation that changes whenever the keys
// do, so caches of verified tokens know when to forget. Replacing keys
// with identical ones (a JWKS poll that found nothing new) changes nothing.
// Rotate in three steps: publish the new key as an older key, make it
// current once every verifier has it, and retire the old key once the
// tokens it signed have expired.
//
// # Key material
//
// Constructors copy the material they are given, so a caller that wipes
// its buffers afterwards changes nothing here, and they refuse weak keys:
// HMAC secrets shorter than 32 bytes (RFC 7518 §3.2) or made of one
// repeated byte, RSA moduli under 2048 bits (RFC 7518 §3.3) or over 16384
// (the cost of one verification an attacker can cause through a published
// key). With HS256 every verifier can also mint tokens: deployments where
// several services verify should use EdDSA or ES256 and publish a JWKS.
package keys
