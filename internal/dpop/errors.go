package dpop

import "errors"

// Sentinel errors of [Verify], one per failure class; errors wrap one of
// them with %w. Every one but [ErrNonce] means invalid_dpop_proof;
// [ErrNonce] means use_dpop_nonce.
var (
	// ErrTooLong: the proof is longer than [MaxLength].
	ErrTooLong = errors.New("dpop: proof too long")
	// ErrMalformed: not a compact JWS with JSON header and claims, or a
	// required claim (jti, htm, htu, iat) missing or of the wrong type.
	ErrMalformed = errors.New("dpop: malformed proof")
	// ErrType: the `typ` header is not dpop+jwt, or a `crit` header is
	// present.
	ErrType = errors.New("dpop: wrong typ")
	// ErrAlgorithm: `alg` is not an allowed asymmetric algorithm, or does
	// not fit the key.
	ErrAlgorithm = errors.New("dpop: algorithm not allowed")
	// ErrKey: `jwk` is missing, not a supported public key, or carries
	// private members.
	ErrKey = errors.New("dpop: invalid jwk")
	// ErrSignature: the signature does not verify with `jwk`.
	ErrSignature = errors.New("dpop: invalid signature")
	// ErrMethod: `htm` differs from the request's method.
	ErrMethod = errors.New("dpop: htm does not match")
	// ErrURL: `htu` differs from the request's URL after normalisation.
	ErrURL = errors.New("dpop: htu does not match")
	// ErrIssuedAt: `iat` is outside the accepted window.
	ErrIssuedAt = errors.New("dpop: iat outside window")
	// ErrAccessTokenHash: `ath` is missing or is not the access token's
	// hash.
	ErrAccessTokenHash = errors.New("dpop: ath does not match")
	// ErrNonce: the server requires a nonce and the proof has none, or one
	// it does not accept (answer use_dpop_nonce with a fresh one).
	ErrNonce = errors.New("dpop: nonce missing or stale")
	// ErrUnsupportedKey: [NewProof] or [Thumbprint] got a key type or curve
	// this package does not handle.
	ErrUnsupportedKey = errors.New("dpop: unsupported key")
)
