package keys

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/golang-jwt/jwt/v5"
)

// Set is the live key configuration: a current key (the one that signs)
// and older keys that still verify. Its contents are replaced as a whole by
// [Set.Replace], so keys rotate without a restart.
//
// A Set is safe for concurrent use; readers never block. The zero Set holds
// no keys: its Keyfunc refuses every token and Sign fails with [ErrNoKeys]
// until Replace is called. A Set must not be copied after first use.
type Set struct {
	snap atomic.Pointer[snapshot]
	mu   sync.Mutex // serialises Replace so generations only grow
}

// snapshot is immutable once published.
type snapshot struct {
	gen   uint64
	keys  []*Key // keys[0] is the current key
	byKID map[string]*Key
}

// NewSet returns a set holding ks, the current key (the one that signs)
// first, then older keys that still verify: the shape [ParseJWKS] returns.
// Key ids must be distinct. No keys is [ErrNoKeys].
func NewSet(ks ...*Key) (*Set, error) {
	s := new(Set)
	if err := s.Replace(ks...); err != nil {
		return nil, err
	}
	return s, nil
}

// Replace atomically swaps in ks, the current key first, e.g. straight from
// [ParseJWKS]. Requests already verifying keep the snapshot they started
// with. The set does not keep ks. On error (no keys is [ErrNoKeys]) the set
// is unchanged.
//
// [Set.Generation] advances only if the keys differ from the current ones
// (by key id, algorithm, key material, order, or ability to sign), so a
// caller that polls its issuer's JWKS and replaces the keys each time does
// not make the middleware forget the tokens it has verified.
func (s *Set) Replace(ks ...*Key) error {
	if len(ks) == 0 {
		return fmt.Errorf("%w: Replace without keys", ErrNoKeys)
	}
	return s.replace(slices.Clone(ks))
}

// replace publishes all, which it owns from now on.
func (s *Set) replace(all []*Key) error {
	next := &snapshot{keys: all, byKID: make(map[string]*Key, len(all))}
	for _, k := range all {
		if k == nil || k.method == nil {
			return invalidKey("nil or zero Key")
		}
		if _, dup := next.byKID[k.kid]; dup {
			return invalidKey("key id %q used twice", k.kid)
		}
		next.byKID[k.kid] = k
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.snap.Load()
	switch {
	case prev == nil:
		next.gen = 1
	case slices.EqualFunc(prev.keys, next.keys, (*Key).same):
		return nil // nothing changed: keep the snapshot and its generation
	default:
		next.gen = prev.gen + 1
	}
	s.snap.Store(next)
	return nil
}

var empty = &snapshot{}

// errKIDRequired is the ErrUnknownKID of a token without a `kid` header
// while the set holds several keys.
var errKIDRequired = fmt.Errorf("%w: the token has no key id and the set holds several keys", ErrUnknownKID)

func (s *Set) load() *snapshot {
	if p := s.snap.Load(); p != nil {
		return p
	}
	return empty
}

// Generation returns a number that grows on every [Set.Replace] that
// changes the keys; 0 for a set that never held keys. Caches of verified
// tokens record it and drop their entries when it moves.
func (s *Set) Generation() uint64 { return s.load().gen }

// Current returns the key that signs, or nil if the set is empty.
func (s *Set) Current() *Key {
	if p := s.load(); len(p.keys) > 0 {
		return p.keys[0]
	}
	return nil
}

// Keys returns the keys of the current snapshot, the current key first. The
// slice is a copy.
func (s *Set) Keys() []*Key { return append([]*Key(nil), s.load().keys...) }

// Keyfunc is a [jwt.Keyfunc]: it picks the key named by the token's `kid`
// header and returns its verification key, after checking that the token's
// `alg` is the algorithm that key is bound to (see [Set.Resolve]).
func (s *Set) Keyfunc(t *jwt.Token) (any, error) {
	var kid string
	switch v := t.Header["kid"].(type) {
	case nil:
	case string:
		kid = v
	default:
		return nil, fmt.Errorf("%w: kid header is not a string", ErrUnknownKID)
	}
	alg, _ := t.Header["alg"].(string)
	if t.Method == nil || t.Method.Alg() != alg {
		return nil, ErrAlgorithmMismatch
	}
	k, err := s.Resolve(kid, alg)
	if err != nil {
		return nil, err
	}
	return k.verify, nil
}

// Resolve returns the key that must verify a token with the given `kid`
// and `alg` headers ("" for an absent kid). A token without a kid is
// matched to the only key of a one-key set and refused when the set holds
// several. The alg must be the one the key is bound to. Errors:
// [ErrNoKeys], [ErrUnknownKID], [ErrAlgorithmMismatch].
func (s *Set) Resolve(kid, alg string) (*Key, error) {
	p := s.load()
	var k *Key
	switch {
	case len(p.keys) == 0:
		return nil, ErrNoKeys
	case kid != "":
		var ok bool
		if k, ok = p.byKID[kid]; !ok {
			return nil, ErrUnknownKID
		}
	case len(p.keys) == 1:
		k = p.keys[0]
	default:
		return nil, errKIDRequired
	}
	if alg != k.method.Alg() {
		return nil, ErrAlgorithmMismatch
	}
	return k, nil
}

// Sign returns a compact JWT carrying claims, signed by the current key,
// with its `alg` and `kid` headers. Errors: [ErrNoKeys], [ErrCannotSign].
func (s *Set) Sign(claims jwt.Claims) (string, error) {
	k := s.Current()
	if k == nil {
		return "", ErrNoKeys
	}
	return k.signClaims(claims)
}

// Public returns a new, independent set holding the public form of every
// asymmetric key of the current snapshot, for a resource server that must
// verify but never sign. HMAC keys are left out; if nothing is left, it
// fails with [ErrNoKeys]. The new set does not follow later rotations of s.
func (s *Set) Public() (*Set, error) {
	var pubs []*Key
	for _, k := range s.load().keys {
		if pk, ok := k.Public(); ok {
			pubs = append(pubs, pk)
		}
	}
	if len(pubs) == 0 {
		return nil, fmt.Errorf("%w: no asymmetric keys to publish", ErrNoKeys)
	}
	return NewSet(pubs...)
}
