package keys

import (
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Errors returned by this package. They are wrapped with %w; test them with
// errors.Is.
var (
	// ErrInvalidKey is golang-jwt's jwt.ErrInvalidKey: key material of an
	// unsupported type, curve or shape, a weak key (an HMAC secret shorter
	// than 32 bytes or one byte repeated, an RSA modulus under 2048 bits), an
	// empty, oversized or repeated key id, or a JSON Web Key Set that cannot
	// be read. Every constructor, [ParsePEM], [ParseJWKS], [NewSet] and
	// [Set.Replace] report their bad arguments with it.
	ErrInvalidKey = jwt.ErrInvalidKey
	// ErrNoKeys: a set with no keys, a public view of a set that only
	// holds HMAC secrets, or a JWKS with no key this package can use.
	ErrNoKeys = errors.New("keys: no keys")
	// ErrCannotSign: the current key holds only a public key.
	ErrCannotSign = errors.New("keys: key cannot sign")
	// ErrUnknownKID: a token names a key the set does not hold, or names
	// none while the set holds several.
	ErrUnknownKID = errors.New("keys: unknown key id")
	// ErrAlgorithmMismatch: a token's `alg` is not the algorithm its key was
	// configured for (this is what refuses `alg: none` and HS/RS confusion).
	ErrAlgorithmMismatch = errors.New("keys: token algorithm does not match its key")
	// ErrInvalidPayload: SignJSON was given a payload that is not a JSON
	// object.
	ErrInvalidPayload = errors.New("keys: payload is not a JSON object")
)

// invalidKey formats an ErrInvalidKey with the package's prefix.
func invalidKey(format string, args ...any) error {
	return fmt.Errorf("keys: %w: "+format, append([]any{ErrInvalidKey}, args...)...)
}
