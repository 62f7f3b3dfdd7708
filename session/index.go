package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
)

// Index derives subject ids ([SubjectID]) from subjects with the
// subject-index key, which does not depend on the secret version: a
// session begun under one secret stays listed and revocable after that
// secret is retired. Get it with [Secrets.Index]; it is immutable and safe
// for concurrent use.
type Index struct {
	secrets *Secrets
	key     hmacPool
}

// indexKeyName is the store entry holding the index key wrapped under the
// secret of version v.
func indexKeyName(v uint32) string { return "index-key:" + strconv.FormatUint(uint64(v), 10) }

// Index loads the subject-index key from store, where it is kept wrapped
// (AES-GCM) under each secret version that has seen it, and stores it
// under the current version if it is not there yet. At first use the key
// is derived from the oldest secret given, so that instances starting
// together agree on it. Its errors wrap [ErrUnavailable] (the store) or
// [ErrInvalidSecret] (a stored key that does not open). The package
// documentation's "Subject index" section says what the key protects.
func (s *Secrets) Index(ctx context.Context, store Store) (*Index, error) {
	if s == nil || s.current == nil {
		return nil, errNoSecrets
	}
	key, err := s.current.loadIndexKey(ctx, store, nil)
	if err == nil && key == nil {
		key, err = s.firstIndexKey(ctx, store)
	}
	if err == nil {
		err = s.shareIndexKey(ctx, store, key)
	}
	return s.newIndex(key, err)
}

// firstIndexKey stores, under the current version, the key found under an
// older one, or else one derived from the oldest secret, and returns it.
func (s *Secrets) firstIndexKey(ctx context.Context, store Store) ([]byte, error) {
	seed := s.all[len(s.all)-1].seed
	for _, k := range s.all[1:] {
		if old, err := k.loadIndexKey(ctx, store, nil); err != nil {
			return nil, err
		} else if old != nil {
			seed = old
			break
		}
	}
	return s.current.loadIndexKey(ctx, store, seed)
}

// shareIndexKey stores key under every other version s holds that has
// none yet, so that an instance which later holds only a newer secret
// (the old one retired) finds the key instead of deriving another one.
func (s *Secrets) shareIndexKey(ctx context.Context, store Store, key []byte) error {
	for _, k := range s.all[1:] {
		if _, err := k.loadIndexKey(ctx, store, key); err != nil && !errors.Is(err, ErrInvalidSecret) {
			return err
		}
	}
	return nil
}

func (s *Secrets) newIndex(key []byte, err error) (*Index, error) {
	if err != nil {
		return nil, err
	}
	return &Index{secrets: s, key: newHMACPool(key)}, nil
}

// loadIndexKey returns the key stored under k's version, storing it first
// (wrapped) when there is none and store is not nil. nil: none stored.
func (k *derived) loadIndexKey(ctx context.Context, s Store, store []byte) ([]byte, error) {
	name := indexKeyName(k.version)
	var wrapped []byte
	if store != nil {
		nonce := make([]byte, k.wrap.NonceSize(), k.wrap.NonceSize()+len(store)+k.wrap.Overhead())
		_, _ = rand.Read(nonce)
		wrapped = k.wrap.Seal(nonce, nonce, store, []byte(name))
	}
	got, err := s.LoadOrStore(ctx, name, wrapped)
	if err != nil || got == nil {
		return nil, err
	}
	n := k.wrap.NonceSize()
	if len(got) < n {
		return nil, fmt.Errorf("%w: the stored %s is malformed", ErrInvalidSecret, name)
	}
	key, err := k.wrap.Open(nil, got[:n], got[n:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("%w: the stored %s does not open with secret version %d", ErrInvalidSecret, name, k.version)
	}
	return key, nil
}

// SubjectID is the subject's id: HMAC-SHA256 of the subject under the
// index key, 128 bits, so that no two subjects share one.
func (x *Index) SubjectID(subject string) SubjectID {
	var id SubjectID
	var sum [32]byte
	copy(id[:], x.key.sum(sum[:0], []byte(subject)))
	return id
}

// NewFamily returns the first token of a new session of subject (random
// family and proof, generation 1, under the current secret), its child,
// to which the session commits (see [Store.Create]), and the key of its
// record seal.
func (x *Index) NewFamily(subject string) (first, child Token, seal SealKey) {
	first = x.secrets.newFamily(x.SubjectID(subject))
	child, _ = x.secrets.Child(first, first.Version) // the current version
	return first, child, x.secrets.current.sealKey(first.Family)
}
