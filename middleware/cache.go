package middleware

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// entryOverhead approximates the memory of an entry beyond twice the
// token's length (the token and the decoded claims, which are shorter than
// their base64 form): the struct and its index and ring slots. It keeps
// the byte bound honest for small tokens.
const entryOverhead = 320

// entrySize is what an entry for tok counts against the byte bound.
func entrySize(tok string) int { return 2*len(tok) + entryOverhead }

// tokenHash is the verified-token cache's key for a token: a seeded hash,
// named apart from the signing keys of package keys. 0 marks an empty
// index slot and is never a token's hash.
type tokenHash uint64

// hashToken indexes the cache by the token's last hashedTail bytes, part of
// its signature, which differs between any two tokens the cache can hold
// (only verified tokens enter it), with a per-process random seed: no one
// outside can aim tokens at one slot, and a hit is confirmed by comparing
// the whole token, so a collision only ever costs a miss. (SHA-256 would
// cost ten times as much on every request.)
func hashToken(seed maphash.Seed, tok string) tokenHash {
	if len(tok) > hashedTail {
		tok = tok[len(tok)-hashedTail:]
	}
	return tokenHash(maphash.String(seed, tok) | 1)
}

// hashedTail is how many bytes of a token hashToken reads: 24 bytes of
// signature.
const hashedTail = 32

// entry is a verified token's claims. Everything but slot is immutable
// after insertion, so a reader holding an entry needs no lock.
type entry struct {
	claims       Claims
	claimStorage // what claims' dates and short lists point to
	token        string
	hash         tokenHash
	gen          uint64    // the key-set generation that verified it
	dropAt       time.Time // exp + leeway: from then on the token is expired
	size         int

	slot int // its place in cache.ring; guarded by cache.mu
}

// cache of verified tokens, bounded by entries and bytes, evicting in
// insertion order. Tokens are short-lived and presented many times right
// after they are minted, so first-in-first-out is close to least recently
// used here.
//
// Lookups take no lock: they read an open-addressing index of atomic slots.
// A lookup racing with a change may miss an entry (the token is then
// verified again) or find one just evicted, which is still a verdict of
// the current keys, checked for expiry like any other. Changes are
// serialised by mu: an insertion writes one index slot and one ring slot
// and, when full, empties the oldest, with no links between entries.
type cache struct {
	maxEntries, maxBytes int

	seed  maphash.Seed
	gen   atomic.Uint64         // key-set generation of every entry
	index atomic.Pointer[index] // replaced when it grows or is cleared

	mu    sync.Mutex
	ring  []slot // insertion order, growing to maxEntries; guarded by mu
	head  int    // the oldest slot; guarded by mu
	count int    // slots in use from head on, removed ones included; guarded by mu
	bytes int    // guarded by mu
}

// slot is one place in the insertion-order ring. It repeats the entry's
// hash and size, so that evicting the oldest entry (long since out of the
// CPU cache) does not read the entry itself.
type slot struct {
	e    *entry // nil: removed early (expired or replaced)
	hash tokenHash
	size int
}

// firstIndex is the index's first size; it doubles, keeping at most half of
// its slots in use, so a middleware that sees few tokens holds little.
const firstIndex = 64

func newCache(maxEntries, maxBytes int) *cache {
	c := &cache{maxEntries: maxEntries, maxBytes: maxBytes, seed: maphash.MakeSeed()}
	c.index.Store(newIndex(firstIndex))
	return c
}

// get returns the live entry for tok (hashed to hash) under key-set
// generation gen, or nil. Generations only grow: a newer one empties the
// cache, an older one (a request that read the keys before they changed)
// finds nothing.
func (c *cache) get(hash tokenHash, tok string, gen uint64, now time.Time) *entry {
	if cg := c.gen.Load(); cg != gen {
		if gen > cg { // the keys changed: forget the older verdicts
			c.mu.Lock()
			if gen > c.gen.Load() {
				c.clearLocked(gen)
			}
			c.mu.Unlock()
		}
		return nil
	}
	e := c.index.Load().find(hash, tok)
	if e == nil || e.gen != gen {
		return nil
	}
	if !now.Before(e.dropAt) {
		c.mu.Lock()
		if c.ring[e.slot].e == e {
			c.removeLocked(e)
		}
		c.mu.Unlock()
		return nil
	}
	return e
}

// put inserts e (with token, hash, gen, dropAt and size set), evicting the
// oldest entries to stay within both bounds.
func (c *cache) put(e *entry) {
	if e.size > c.maxBytes {
		return
	}
	c.mu.Lock()
	if cg := c.gen.Load(); e.gen != cg {
		if e.gen < cg { // verified under keys since replaced
			c.mu.Unlock()
			return
		}
		c.clearLocked(e.gen)
	}
	// A token inserted twice (two first sights at once) is held twice
	// until the older copy's turn comes: lookups find one of them.
	ix := c.index.Load()
	if c.count == c.maxEntries {
		c.popLocked(ix)
	}
	for c.bytes+e.size > c.maxBytes {
		c.popLocked(ix)
	}
	if 2*(ix.n+1) > len(ix.slots) {
		ix = ix.grown()
		c.index.Store(ix)
	}
	if c.count == len(c.ring) {
		c.growRingLocked()
	}
	e.slot = c.head + c.count
	if e.slot >= len(c.ring) {
		e.slot -= len(c.ring)
	}
	c.ring[e.slot] = slot{e: e, hash: e.hash, size: e.size}
	c.count++
	c.bytes += e.size
	ix.insert(e)
	c.mu.Unlock()
}

// popLocked empties the oldest slot, evicting its entry if it still holds
// one.
func (c *cache) popLocked(ix *index) {
	s := &c.ring[c.head]
	if s.e != nil {
		ix.remove(s.hash, s.e)
		c.bytes -= s.size
	}
	*s = slot{}
	if c.head++; c.head == len(c.ring) {
		c.head = 0
	}
	c.count--
}

// removeLocked takes e out before its turn; its ring slot stays, empty,
// until it is the oldest.
func (c *cache) removeLocked(e *entry) {
	c.index.Load().remove(e.hash, e)
	c.ring[e.slot].e = nil
	c.bytes -= e.size
}

// growRingLocked doubles the full ring (up to maxEntries), oldest slot
// first.
func (c *cache) growRingLocked() {
	ring := make([]slot, min(max(2*len(c.ring), firstIndex/2), c.maxEntries))
	for i := range c.count {
		j := c.head + i
		if j >= len(c.ring) {
			j -= len(c.ring)
		}
		ring[i] = c.ring[j]
		if ring[i].e != nil {
			ring[i].e.slot = i
		}
	}
	c.ring, c.head = ring, 0
}

func (c *cache) clearLocked(gen uint64) {
	c.index.Store(newIndex(firstIndex))
	clear(c.ring)
	c.head, c.count, c.bytes = 0, 0, 0
	c.gen.Store(gen)
}

// index maps token hashes to entries: open addressing with linear probing
// over a power-of-two number of slots. Readers load slots atomically and
// confirm a match on the entry itself; writers hold cache.mu.
type index struct {
	slots []islot
	n     int // entries held; guarded by cache.mu
}

// islot is one index slot: a hash beside its entry, so that a probe reads
// one cache line for both.
type islot struct {
	hash atomic.Uint64 // tokenHash, 0 for an empty slot
	e    atomic.Pointer[entry]
}

func newIndex(size int) *index {
	return &index{slots: make([]islot, size)}
}

// find returns the entry for tok, or nil. The number of probes is bounded
// so that a lookup racing with changes always ends.
func (ix *index) find(hash tokenHash, tok string) *entry {
	mask := uint64(len(ix.slots) - 1)
	i := uint64(hash) & mask
	for range ix.slots {
		s := &ix.slots[i]
		switch s.hash.Load() {
		case 0:
			return nil
		case uint64(hash):
			if e := s.e.Load(); e != nil && e.token == tok {
				return e
			}
		}
		i = (i + 1) & mask
	}
	return nil
}

// insert puts e into the first free slot of its probe sequence; the index
// has one (it is at most half full).
func (ix *index) insert(e *entry) {
	mask := uint64(len(ix.slots) - 1)
	i := uint64(e.hash) & mask
	for ix.slots[i].hash.Load() != 0 {
		i = (i + 1) & mask
	}
	ix.slots[i].e.Store(e)
	ix.slots[i].hash.Store(uint64(e.hash))
	ix.n++
}

// remove takes e out and shifts the entries after it back into the gap
// (no tombstones), so probe sequences stay short.
func (ix *index) remove(hash tokenHash, e *entry) {
	mask := uint64(len(ix.slots) - 1)
	i := uint64(hash) & mask
	for ix.slots[i].e.Load() != e {
		if ix.slots[i].hash.Load() == 0 {
			return // not held
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		h := ix.slots[j].hash.Load()
		if h == 0 {
			break
		}
		// The entry at j stays unless its home slot k lies cyclically
		// outside (i, j]: then the gap at i is on its probe sequence.
		if k := h & mask; (i < j && i < k && k <= j) || (j < i && (i < k || k <= j)) {
			continue
		}
		ix.slots[i].e.Store(ix.slots[j].e.Load())
		ix.slots[i].hash.Store(h)
		i = j
	}
	ix.slots[i].hash.Store(0)
	ix.slots[i].e.Store(nil)
	ix.n--
}

// grown returns a copy of ix with twice the slots.
func (ix *index) grown() *index {
	bigger := newIndex(2 * len(ix.slots))
	for i := range ix.slots {
		if e := ix.slots[i].e.Load(); e != nil {
			bigger.insert(e)
		}
	}
	return bigger
}

// cacheStats is a snapshot of the verified-token cache, for tests.
type cacheStats struct {
	Entries int // tokens held
	Bytes   int // their accounted size
}

func (c *cache) stats() cacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cacheStats{Entries: c.index.Load().n, Bytes: c.bytes}
}
