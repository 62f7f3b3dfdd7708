package dpop

import (
	"crypto"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Limits of [Verify].
const (
	// MaxLength caps a proof's length in bytes: room for a 4096-bit RSA
	// key and signature, and a bound on the work a request can cause.
	MaxLength = 4096
	// maxJTI caps `jti`, which callers keep in replay caches.
	maxJTI = 256
	// DefaultWindow is how far `iat` may be from now, either way, when
	// [Check].Window is zero.
	DefaultWindow = 10 * time.Second
)

// DefaultAlgorithms are the `alg`s [Verify] accepts when
// [Check].Algorithms is nil: every one this package verifies. Ed25519 is
// RFC 9864's fully-specified name of EdDSA with an Ed25519 key, which
// some clients (openid-client 6) send.
var DefaultAlgorithms = []string{"ES256", "EdDSA", "Ed25519", "PS256", "RS256"}

// Check is what [Verify] checks a proof against.
type Check struct {
	Method string // the request's method
	// URL is the request's absolute URL as the client addressed it
	// (behind a proxy: the external one); compared after [NormalizeURL].
	URL string
	// AccessToken is the token the request presents; its hash must be the
	// proof's `ath`. Empty when the request carries none (`ath` is then
	// not checked).
	AccessToken string
	Now         time.Time
	Window      time.Duration // how far iat may be from Now; 0: DefaultWindow
	// Algorithms is the allowlist of `alg`; nil: DefaultAlgorithms. Only
	// those are ever accepted.
	Algorithms []string
	// Nonce, when set, must accept the proof's `nonce`; a missing or
	// refused one is [ErrNonce]. nil: nonces are not required (one sent
	// anyway is ignored).
	Nonce func(nonce string) bool
}

// Proof is what [Verify] learnt from a valid proof.
type Proof struct {
	Thumbprint string // RFC 7638 thumbprint of the proof's key
	JTI        string // at most 256 bytes; check it for replays
	IssuedAt   time.Time
}

// rawHeader is a proof's JOSE header as received.
type rawHeader struct {
	Typ, Alg string
	JWK      jwk
	hasJWK   bool
	Crit     bool // a `crit` member, of any value
}

// rawClaims are a proof's claims as received; has marks those present.
type rawClaims struct {
	JTI, HTM, HTU, ATH, Nonce string
	IAT                       float64
	has                       uint8
}

// Bits of rawClaims.has, and of the names seen while decoding.
const (
	hasJTI = 1 << iota
	hasHTM
	hasHTU
	hasIAT
	hasATH
	hasNonce
)

// Verify checks proof against c and returns its key's thumbprint, jti and
// iat. Errors wrap one of the sentinels in errors.go. It does not check
// jti for replays, nor compare the thumbprint with a token's binding: the
// caller does both.
func Verify(proof string, c Check) (Proof, error) {
	h, cl, err := parse(proof, c.Algorithms)
	if err != nil {
		return Proof{}, err
	}
	alg := h.alg
	if alg == "Ed25519" {
		alg = "EdDSA" // the same signature (RFC 9864 §2.2)
	}
	method := jwt.GetSigningMethod(alg)
	i := strings.LastIndexByte(proof, '.')
	sig, err := b64.DecodeString(proof[i+1:])
	if err != nil {
		return Proof{}, fmt.Errorf("%w: signature encoding", ErrMalformed)
	}
	if err := method.Verify(proof[:i], sig, h.pub); err != nil {
		return Proof{}, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	iat, err := checkClaims(cl, c)
	if err != nil {
		return Proof{}, err
	}
	return Proof{Thumbprint: h.thumb, JTI: cl.JTI, IssuedAt: iat}, nil
}

// parse decodes proof's header (see parseHeader) and claims and checks their
// form and `alg` against algs. It verifies nothing else.
func parse(proof string, algs []string) (*proofHeader, *rawClaims, error) {
	if len(proof) > MaxLength {
		return nil, nil, fmt.Errorf("%w: %d bytes", ErrTooLong, len(proof))
	}
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	h, err := parseHeader(parts[0])
	if err != nil {
		return nil, nil, err
	}
	if !allowed(h.alg, algs) {
		return nil, nil, fmt.Errorf("%w: %q", ErrAlgorithm, h.alg)
	}
	var cl rawClaims
	if err := decodePart(parts[1], cl.decode); err != nil {
		return nil, nil, err
	}
	const required = hasJTI | hasHTM | hasHTU | hasIAT
	if cl.has&required != required || cl.JTI == "" || len(cl.JTI) > maxJTI {
		return nil, nil, fmt.Errorf("%w: jti, htm, htu or iat missing", ErrMalformed)
	}
	return h, &cl, nil
}

// proofHeader is a valid proof header, decoded: what a client sends the same
// in every proof.
type proofHeader struct {
	alg   string
	pub   crypto.PublicKey
	thumb string
}

// parseHeader decodes and checks the encoded header part: `typ`, no
// `crit`, an `alg` this package verifies that fits a public `jwk`. Valid
// headers are cached, since a client repeats its own.
func parseHeader(part string) (*proofHeader, error) {
	if h := headers.get(part); h != nil {
		return h, nil
	}
	var h rawHeader
	if err := decodePart(part, h.decode); err != nil {
		return nil, err
	}
	if !strings.EqualFold(h.Typ, Type) || h.Crit {
		return nil, fmt.Errorf("%w: typ %q", ErrType, h.Typ)
	}
	if !allowed(h.Alg, DefaultAlgorithms) {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, h.Alg)
	}
	if !h.hasJWK {
		return nil, fmt.Errorf("%w: no jwk", ErrKey)
	}
	pub, thumb, err := h.JWK.publicKey()
	if err != nil {
		return nil, err
	}
	if !fits(h.Alg, h.JWK.Kty) {
		return nil, fmt.Errorf("%w: %s with a %s key", ErrAlgorithm, h.Alg, h.JWK.Kty)
	}
	hd := &proofHeader{alg: h.Alg, pub: pub, thumb: thumb}
	headers.put(part, hd)
	return hd, nil
}

func decodePart(part string, decode func(string) error) error {
	b, err := b64.DecodeString(part)
	if err != nil {
		return fmt.Errorf("%w: base64url: %w", ErrMalformed, err)
	}
	if err := decode(string(b)); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// decode reads the header's members: typ, alg, jwk, crit; others skipped.
func (h *rawHeader) decode(doc string) error {
	var seen uint8
	return document(doc, func(p *scanner, name string) error {
		var bit uint8
		var err error
		switch name {
		case "typ":
			bit = 1
			h.Typ, err = p.str()
		case "alg":
			bit = 2
			h.Alg, err = p.str()
		case "jwk":
			bit, h.hasJWK = 4, true
			err = h.JWK.decode(p)
		case "crit":
			bit, h.Crit = 8, true
			err = p.skip(0)
		default:
			return p.skip(0)
		}
		if seen&bit != 0 {
			return errRepeated
		}
		seen |= bit
		return err
	})
}

var errRepeated = errors.New("a member name repeated")

// decode reads the claims the proof must or may hold; others skipped.
func (c *rawClaims) decode(doc string) error {
	return document(doc, func(p *scanner, name string) error {
		var bit uint8
		var err error
		switch name {
		case "jti":
			bit = hasJTI
			c.JTI, err = p.str()
		case "htm":
			bit = hasHTM
			c.HTM, err = p.str()
		case "htu":
			bit = hasHTU
			c.HTU, err = p.str()
		case "iat":
			bit = hasIAT
			c.IAT, err = p.number()
		case "ath":
			bit = hasATH
			c.ATH, err = p.str()
		case "nonce":
			bit = hasNonce
			c.Nonce, err = p.str()
		default:
			return p.skip(0)
		}
		if c.has&bit != 0 {
			return errRepeated
		}
		c.has |= bit
		return err
	})
}

// allowed reports whether alg is in algs (nil: DefaultAlgorithms) and is
// one of the asymmetric algorithms this package verifies.
func allowed(alg string, algs []string) bool {
	if algs == nil {
		algs = DefaultAlgorithms
	}
	switch alg {
	case "ES256", "EdDSA", "Ed25519", "PS256", "RS256":
	default:
		return false
	}
	for _, a := range algs {
		if a == alg {
			return true
		}
	}
	return false
}

func fits(alg, kty string) bool {
	switch alg {
	case "ES256":
		return kty == "EC"
	case "EdDSA", "Ed25519":
		return kty == "OKP"
	}
	return kty == "RSA"
}

// checkClaims checks htm, htu, iat, ath and nonce, in that order.
func checkClaims(cl *rawClaims, c Check) (time.Time, error) {
	if cl.HTM != c.Method {
		return time.Time{}, fmt.Errorf("%w: %q", ErrMethod, cl.HTM)
	}
	want, err := NormalizeURL(c.URL)
	if err != nil {
		return time.Time{}, err
	}
	if got, err := NormalizeURL(cl.HTU); err != nil || got != want {
		return time.Time{}, fmt.Errorf("%w: proof for another URL", ErrURL)
	}
	window := c.Window
	if window <= 0 {
		window = DefaultWindow
	}
	f := cl.IAT
	if math.IsNaN(f) || f < 0 || f > 1<<53 {
		return time.Time{}, fmt.Errorf("%w: iat out of range", ErrMalformed)
	}
	iat := time.Unix(int64(f), 0)
	if d := c.Now.Sub(iat); d > window || d < -window {
		return time.Time{}, fmt.Errorf("%w: iat %v from now", ErrIssuedAt, -d.Truncate(time.Second))
	}
	if c.AccessToken != "" {
		want := AccessTokenHash(c.AccessToken)
		if cl.has&hasATH == 0 || subtle.ConstantTimeCompare([]byte(cl.ATH), []byte(want)) != 1 {
			return time.Time{}, ErrAccessTokenHash
		}
	}
	if c.Nonce != nil && (cl.has&hasNonce == 0 || !c.Nonce(cl.Nonce)) {
		return time.Time{}, ErrNonce
	}
	return iat, nil
}
