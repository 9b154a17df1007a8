package creds

import (
	"container/list"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// entry is one cached session. Everything but retryAt is fixed once the
// entry is in the cache; a refresh puts a new entry in its place.
type entry struct {
	key       string
	sess      *Session
	refreshAt time.Time // from here on, a request tries to refresh it
	expires   time.Time // the credentials' own expiry: never served after it
	// retryAt (unix ns) defers the next refresh attempt after one failed
	// with a transient error; until then the entry serves as it is.
	retryAt atomic.Int64
	elem    *list.Element
}

// cache is a bounded map of sessions with least-recently-used eviction. A
// hit is one mutex, one map lookup and one list move.
type cache struct {
	mu  sync.Mutex
	max int // <= 0: nothing is kept
	m   map[string]*entry
	lru list.List // front: most recently used; values are *entry
}

func newCache(max int) *cache {
	c := &cache{max: max, m: make(map[string]*entry)}
	c.lru.Init()
	return c
}

// get returns the entry for key (a []byte so a lookup needs no string).
func (c *cache) get(key []byte) *entry {
	c.mu.Lock()
	e := c.m[string(key)]
	if e != nil {
		c.lru.MoveToFront(e.elem)
	}
	c.mu.Unlock()
	return e
}

// put stores e under e.key, replacing any entry there, and evicts the least
// recently used entries beyond the bound.
func (c *cache) put(e *entry) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[e.key]; old != nil {
		c.lru.Remove(old.elem)
	}
	e.elem = c.lru.PushFront(e)
	c.m[e.key] = e
	for c.lru.Len() > c.max {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.m, last.Value.(*entry).key)
	}
}

// remove deletes e if it is still the entry for its key.
func (c *cache) remove(e *entry) {
	c.mu.Lock()
	if c.m[e.key] == e {
		c.lru.Remove(e.elem)
		delete(c.m, e.key)
	}
	c.mu.Unlock()
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// appendKey appends to dst the cache key of what a session is made for:
// the principal (issuer, tenant, subject), the role, every session tag
// (agent, groups, ...: a principal whose tags change gets a new session),
// and the session policy. Each field is length-prefixed, so no field's
// content can shift a boundary.
func appendKey(dst []byte, role string, p *authn.Principal, tags []tag, policy, sessionName string) []byte {
	field := func(dst []byte, s string) []byte {
		return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
	}
	dst = field(dst, role)
	dst = field(dst, p.Issuer)
	dst = field(dst, p.Tenant)
	dst = field(dst, p.Subject)
	dst = field(dst, policy)
	dst = field(dst, sessionName)
	for _, t := range tags {
		dst = field(dst, t.Key)
		dst = field(dst, t.Value)
	}
	return dst
}
