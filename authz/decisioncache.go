package authz

import (
	"sync"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// decisionCacheSize bounds the decisions kept per policy; past it the cache
// starts again empty.
const decisionCacheSize = 10000

// decisionCache remembers decisions of a policy compiled from rules and
// agents only. Such a policy reads the principal, the action, the resource
// and the role tried, never the request's time, address, method or path
// (only raw Cedar files can), so the same Principal asking the same thing
// gets the same answer. Keys hold the *authn.Principal itself: the
// verifier hands out one immutable Principal per cached token, and a key
// keeps its Principal alive, so an address is never reused while cached.
// A reload builds a new state, and with it an empty cache.
type decisionCache struct {
	mu     sync.RWMutex
	m      map[decisionKey]Decision
	hits   *atomic.Int64
	misses *atomic.Int64
}

type decisionKey struct {
	p                            *authn.Principal
	action, kind, resource, role string
}

func (c *decisionCache) get(p *authn.Principal, r *Request) (Decision, bool) {
	k := decisionKey{p, r.Action, r.Resource.Kind, r.Resource.Name, r.Role}
	c.mu.RLock()
	d, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return d, ok
}

func (c *decisionCache) put(p *authn.Principal, r *Request, d Decision) {
	k := decisionKey{p, r.Action, r.Resource.Kind, r.Resource.Name, r.Role}
	c.mu.Lock()
	if len(c.m) >= decisionCacheSize {
		c.m = make(map[decisionKey]Decision, decisionCacheSize/4)
	}
	c.m[k] = d
	c.mu.Unlock()
}

// CacheStats are the decision cache's counters since the Engine was built:
// decisions answered from the cache and decisions evaluated. A policy with
// raw Cedar files is evaluated every time (they may read the request's
// time and address) and counts only misses.
func (e *Engine) CacheStats() (hits, misses int64) {
	return e.hits.Load(), e.misses.Load()
}
