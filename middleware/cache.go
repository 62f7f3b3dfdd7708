package middleware

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// entryOverhead approximates the memory of an entry beyond twice the
// token's length (the token and the decoded claims, which are shorter than
// their base64 form): the struct, its map slot and list links. It keeps
// the byte bound honest for small tokens.
const entryOverhead = 320

// entrySize is what an entry for tok counts against the byte bound.
func entrySize(tok string) int { return 2*len(tok) + entryOverhead }

// tokenHash is the verified-token cache's key for a token: a seeded hash,
// named apart from the signing keys of package keys.
type tokenHash uint64

// hashToken indexes the cache with a per-process random seed: no one outside
// can aim two tokens at one slot, and a hit is confirmed by comparing the
// whole token, so a collision only ever costs a miss. (SHA-256 would cost
// ten times as much on every request.)
func hashToken(seed maphash.Seed, tok string) tokenHash {
	return tokenHash(maphash.String(seed, tok))
}

// entry is a verified token's claims. Everything but the list links is
// immutable after insertion.
type entry struct {
	claims Claims
	dates  [3]jwt.NumericDate // what claims' date pointers point to
	token  string
	hash   tokenHash
	gen    uint64
	dropAt time.Time // exp + leeway: from then on the token is expired
	size   int

	prev, next *entry // insertion order; guarded by cache.mu
}

// cache of verified tokens, bounded by entries and bytes, evicting in
// insertion order. Tokens are short-lived and presented many times right
// after they are minted, so first-in-first-out is close to least recently
// used here, and a hit needs only a read lock.
type cache struct {
	maxEntries, maxBytes int

	seed maphash.Seed

	mu    sync.RWMutex
	gen   uint64               // key-set generation of every entry; guarded by mu
	items map[tokenHash]*entry // guarded by mu
	root  entry                // sentinel of the insertion-order ring; guarded by mu
	bytes int                  // guarded by mu
}

func newCache(maxEntries, maxBytes int) *cache {
	c := &cache{maxEntries: maxEntries, maxBytes: maxBytes, seed: maphash.MakeSeed(), items: make(map[tokenHash]*entry)}
	c.root.prev, c.root.next = &c.root, &c.root
	return c
}

// get returns the live entry for tok (hashed to hash) under key-set
// generation gen, or nil.
func (c *cache) get(hash tokenHash, tok string, gen uint64, now time.Time) *entry {
	c.mu.RLock()
	e := c.items[hash]
	stale := c.gen != gen
	c.mu.RUnlock()
	if stale {
		c.mu.Lock()
		if c.gen != gen {
			c.clearLocked(gen)
		}
		c.mu.Unlock()
		return nil
	}
	if e == nil || e.token != tok {
		return nil
	}
	if !now.Before(e.dropAt) {
		c.mu.Lock()
		if c.items[hash] == e {
			c.removeLocked(e)
		}
		c.mu.Unlock()
		return nil
	}
	return e
}

// put inserts e (with token, hash, gen, dropAt and size set), evicting the oldest
// entries to stay within both bounds.
func (c *cache) put(e *entry) {
	if e.size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != e.gen {
		c.clearLocked(e.gen)
	}
	if old := c.items[e.hash]; old != nil {
		c.removeLocked(old)
	}
	for len(c.items) >= c.maxEntries || c.bytes+e.size > c.maxBytes {
		c.removeLocked(c.root.next)
	}
	c.items[e.hash] = e
	e.prev, e.next = c.root.prev, &c.root
	c.root.prev.next = e
	c.root.prev = e
	c.bytes += e.size
}

func (c *cache) removeLocked(e *entry) {
	delete(c.items, e.hash)
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	c.bytes -= e.size
}

func (c *cache) clearLocked(gen uint64) {
	clear(c.items)
	c.root.prev, c.root.next = &c.root, &c.root
	c.bytes = 0
	c.gen = gen
}

// cacheStats is a snapshot of the verified-token cache, for tests.
type cacheStats struct {
	Entries int // tokens held
	Bytes   int // their accounted size
}

func (c *cache) stats() cacheStats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return cacheStats{Entries: len(c.items), Bytes: c.bytes}
}
