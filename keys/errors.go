package keys

import "errors"

// Errors returned by this package. They are wrapped with %w; test them with
// errors.Is.
var (
	// ErrInvalidKey: the key material is not of a supported type, curve or
	// shape (a constructor's or [ParsePEM]'s argument).
	ErrInvalidKey = errors.New("keys: invalid key")
	// ErrWeakKey: an HMAC secret shorter than 32 bytes or an RSA modulus
	// shorter than 2048 bits.
	ErrWeakKey = errors.New("keys: key too weak")
	// ErrInvalidKID: an empty or oversized key id, or one used twice in a set.
	ErrInvalidKID = errors.New("keys: invalid key id")
	// ErrNoKeys: a set with no keys, a public view of a set that only
	// holds HMAC secrets, or a JWKS with no key this package can use.
	ErrNoKeys = errors.New("keys: no keys")
	// ErrCannotSign: the current key holds only a public key.
	ErrCannotSign = errors.New("keys: key cannot sign")
	// ErrUnknownKID: a token names a key the set does not hold.
	ErrUnknownKID = errors.New("keys: unknown key id")
	// ErrKIDRequired: a token has no `kid` header and the set holds several keys.
	ErrKIDRequired = errors.New("keys: token has no key id and the set holds several keys")
	// ErrAlgorithmMismatch: a token's `alg` is not the algorithm its key was
	// configured for (this is what refuses `alg: none` and HS/RS confusion).
	ErrAlgorithmMismatch = errors.New("keys: token algorithm does not match its key")
	// ErrMalformedJWKS: a JSON Web Key Set that cannot be read.
	ErrMalformedJWKS = errors.New("keys: malformed JWKS")
	// ErrInvalidPayload: SignJSON was given a payload that is not a JSON
	// object.
	ErrInvalidPayload = errors.New("keys: payload is not a JSON object")
)
