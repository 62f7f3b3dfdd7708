package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"sync"
	"time"
)

// Type is the `typ` header of every proof (RFC 9449 §4.2).
const Type = "dpop+jwt"

// Claims are what a proof asserts about the request it comes with.
type Claims struct {
	Method string // htm: the request's method, e.g. "POST"
	// URL is the request's URL; htu is its [NormalizeURL] form (no query,
	// no fragment).
	URL string
	// AccessToken is the token the request presents; ath is its hash.
	// Empty for requests without one (the token endpoint).
	AccessToken string
	Nonce       string    // the server's last DPoP-Nonce; empty for none
	IssuedAt    time.Time // iat, in whole seconds
}

type header struct {
	Typ string `json:"typ"`
	Alg string `json:"alg"`
	JWK pubJWK `json:"jwk"`
}

type payload struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// Algorithm returns the `alg` [NewProof] uses for key's public key: ES256
// for ECDSA P-256, EdDSA for Ed25519, PS256 for RSA. Other keys wrap
// [ErrUnsupportedKey].
func Algorithm(key crypto.Signer) (string, error) {
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		if _, err := publicJWK(k); err != nil {
			return "", err
		}
		return "ES256", nil
	case ed25519.PublicKey:
		return "EdDSA", nil
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits || k.N.BitLen() > maxRSABits {
			return "", fmt.Errorf("%w: RSA key of %d bits", ErrUnsupportedKey, k.N.BitLen())
		}
		return "PS256", nil
	}
	return "", fmt.Errorf("%w: %T", ErrUnsupportedKey, key.Public())
}

// NewProof signs a proof of c with key and a random jti, the public key in
// its header. key may be any crypto.Signer (a hardware or OS-keyring key
// too) whose public key [Algorithm] accepts.
func NewProof(key crypto.Signer, c Claims) (string, error) {
	h, err := encodedHeaderOf(key)
	if err != nil {
		return "", err
	}
	htu, err := NormalizeURL(c.URL)
	if err != nil {
		return "", err
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	p := payload{JTI: b64.EncodeToString(id[:]), HTM: c.Method, HTU: htu, IAT: c.IssuedAt.Unix(), Nonce: c.Nonce}
	if c.AccessToken != "" {
		p.ATH = AccessTokenHash(c.AccessToken)
	}
	pb := p.appendJSON(make([]byte, 0, 160+len(htu)+len(c.Nonce)+len(c.Method)))
	input := make([]byte, 0, len(h.b64)+1+b64.EncodedLen(len(pb)))
	input = b64.AppendEncode(append(append(input, h.b64...), '.'), pb)
	sig, err := sign(key, h.alg, string(input))
	if err != nil {
		return "", fmt.Errorf("dpop: signing the proof: %w", err)
	}
	return string(b64.AppendEncode(append(input, '.'), sig)), nil
}

// appendJSON appends p as encoding/json would from its struct tags.
func (p *payload) appendJSON(b []byte) []byte {
	b = appendJSONString(append(b, `{"jti":`...), p.JTI)
	b = appendJSONString(append(b, `,"htm":`...), p.HTM)
	b = appendJSONString(append(b, `,"htu":`...), p.HTU)
	b = strconv.AppendInt(append(b, `,"iat":`...), p.IAT, 10)
	if p.ATH != "" {
		b = appendJSONString(append(b, `,"ath":`...), p.ATH)
	}
	if p.Nonce != "" {
		b = appendJSONString(append(b, `,"nonce":`...), p.Nonce)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: as it is when nothing needs
// escaping (base64url values, normalised URLs), else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			q, _ := json.Marshal(s) // a string: cannot fail
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// encodedHeader is the encoded JOSE header of a key's proofs and its alg.
type encodedHeader struct{ alg, b64 string }

// headersBySigner caches encodedHeader per signing key: a client signs
// every request with one key, and the header never changes. Keys are
// pointers (ECDSA, RSA, most hardware signers) or Ed25519 public halves;
// other Signers are encoded every time. Reset when full.
var headersBySigner = struct {
	sync.Mutex
	m map[any]encodedHeader // guarded by the mutex
}{m: make(map[any]encodedHeader)}

const signerCacheSize = 256

func encodedHeaderOf(key crypto.Signer) (encodedHeader, error) {
	var id any
	switch k := key.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey:
		id = k
	case ed25519.PrivateKey:
		if len(k) == ed25519.PrivateKeySize {
			id = "ed25519:" + string(k[ed25519.SeedSize:])
		}
	}
	if id != nil {
		headersBySigner.Lock()
		h, ok := headersBySigner.m[id]
		headersBySigner.Unlock()
		if ok {
			return h, nil
		}
	}
	alg, err := Algorithm(key)
	if err != nil {
		return encodedHeader{}, err
	}
	pub, err := publicJWK(key.Public())
	if err != nil {
		return encodedHeader{}, err
	}
	hb, err := json.Marshal(header{Typ: Type, Alg: alg, JWK: pub})
	if err != nil {
		return encodedHeader{}, err
	}
	h := encodedHeader{alg: alg, b64: b64.EncodeToString(hb)}
	if id != nil {
		headersBySigner.Lock()
		if len(headersBySigner.m) >= signerCacheSize {
			headersBySigner.m = make(map[any]encodedHeader)
		}
		headersBySigner.m[id] = h
		headersBySigner.Unlock()
	}
	return h, nil
}

// sign returns the JWS signature of input: r||s for ES256 (a Signer
// returns ASN.1), the raw signature otherwise.
func sign(key crypto.Signer, alg, input string) ([]byte, error) {
	if alg == "EdDSA" {
		return key.Sign(rand.Reader, []byte(input), crypto.Hash(0))
	}
	digest := sha256.Sum256([]byte(input))
	if alg == "PS256" {
		return key.Sign(rand.Reader, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	}
	der, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("ECDSA signature is not ASN.1: %v", err)
	}
	if rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
		return nil, fmt.Errorf("ECDSA signature out of range")
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}

// AccessTokenHash returns a proof's `ath` for token: the base64url SHA-256
// of its ASCII bytes.
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64.EncodeToString(sum[:])
}
