// Package dpop creates and verifies DPoP proofs (RFC 9449): compact JWTs
// that a client signs with its own key for every request, so that a token
// bound to that key is worthless without it.
//
// It is shared by the token service, the middleware and the transport;
// its API is theirs, not the module's users'.
//
// # Proofs
//
// [NewProof] signs a proof with a [crypto.Signer] (ECDSA P-256 → ES256,
// Ed25519 → EdDSA, RSA → PS256), so the private key may live in hardware.
// [Verify] checks one against the request it came with: the header's `typ`
// (dpop+jwt), an asymmetric `alg` from an allowlist, a public `jwk` (a key
// with private members is refused), the signature (through golang-jwt),
// `htm`, `htu` after RFC 9449 §4.3 normalisation ([NormalizeURL]), `iat`
// within a window, `ath` (the hash of the access token, [AccessTokenHash])
// and, when the server asks for them, a nonce. It returns the key's RFC 7638
// thumbprint ([Thumbprint]) and the `jti`; remembering `jti`s is the
// caller's job, done only once every other check passed.
//
// # Nonces
//
// [Nonces] derives server nonces from a key and a time slot (RFC 9449 §8):
// any instance holding the key issues and accepts them without shared
// state; the current and the previous slot's nonces are accepted.
package dpop
