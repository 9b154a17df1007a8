package authn

import (
	"hash/maphash"
	"sync"
	"time"
)

// tokenCache remembers verified tokens. The key is a maphash of the whole
// token (fast, seeded per process); a hit also compares the whole token, so a
// hash collision is a miss, never a wrong principal. An entry is served only
// within the token's validity window and while the key that verified it is
// still published by its issuer and not stale past MaxKeyAge.
type tokenCache struct {
	seed     maphash.Seed
	shards   [cacheShards]cacheShard
	perShard int
}

const cacheShards = 32

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]*cacheEntry
}

type cacheEntry struct {
	token               string
	p                   *Principal
	keys                *keySet
	key                 *key
	notBefore, notAfter time.Time
}

func newTokenCache(entries int) *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: max(1, entries/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cacheEntry)
	}
	return c
}

// get returns the cached principal, or (nil, nil) on a miss. A token whose
// cached validity ended gets its definitive error.
func (c *tokenCache) get(token string, now time.Time) (*Principal, error) {
	h := maphash.String(c.seed, token)
	s := &c.shards[h%cacheShards]
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e == nil || e.token != token {
		return nil, nil
	}
	if !now.Before(e.notAfter) {
		c.drop(s, h, e)
		return nil, invalid(CheckExpiry, "token expired")
	}
	if now.Before(e.notBefore) {
		return nil, nil // verify in full: the same answer, with its reason
	}
	st := e.keys.current(now)
	if st == nil || st.keys[e.key.kid] != e.key {
		// The key was withdrawn, replaced, or is stale: verify afresh.
		c.drop(s, h, e)
		return nil, nil
	}
	return e.p, nil
}

func (c *tokenCache) put(token string, e *cacheEntry) {
	h := maphash.String(c.seed, token)
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	if len(s.m) >= c.perShard {
		// Full: drop one entry (map order makes it an arbitrary one).
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[h] = e
	s.mu.Unlock()
}

func (c *tokenCache) drop(s *cacheShard, h uint64, e *cacheEntry) {
	s.mu.Lock()
	if s.m[h] == e {
		delete(s.m, h)
	}
	s.mu.Unlock()
}
