package dpop

import "sync"

// headerCacheSize bounds the cache of decoded proof headers: about the
// number of clients (keys) seen recently; a header is at most MaxLength.
const headerCacheSize = 4096

// headerCache maps an encoded header to its decoded form. Decoding a
// header (base64, JSON, the key, its thumbprint) is most of a proof's cost
// besides the signature, and each client repeats its own. When full, it
// starts over: a simple bound, with no order to keep.
type headerCache struct {
	mu sync.RWMutex
	m  map[string]*proofHeader // guarded by mu
}

var headers = &headerCache{m: make(map[string]*proofHeader)}

func (c *headerCache) get(part string) *proofHeader {
	c.mu.RLock()
	h := c.m[part]
	c.mu.RUnlock()
	return h
}

func (c *headerCache) put(part string, h *proofHeader) {
	c.mu.Lock()
	if len(c.m) >= headerCacheSize {
		c.m = make(map[string]*proofHeader)
	}
	c.m[part] = h
	c.mu.Unlock()
}
