package sts

import (
	"container/heap"
	"maps"
	"slices"
	"sync"
	"time"
)

// Session is what STS issued: temporary credentials and what they stand
// for. Authenticate returns a copy; changing it changes nothing here.
type Session struct {
	AccessKeyID     string // ASIA…
	SecretAccessKey string
	SessionToken    string
	// RoleARN is the assumed role: arn:aws:iam::<account>:role/<name>.
	RoleARN string
	// AssumedRoleARN is arn:aws:sts::<account>:assumed-role/<role>/<session>.
	AssumedRoleARN string
	// AssumedRoleID is AROA…:<session>, GetCallerIdentity's UserId.
	AssumedRoleID string
	SessionName   string
	// SourceIdentity is "" when none was set; once set it stays through
	// role chaining.
	SourceIdentity string
	// Tags are the session tags (key case as given); nil when none.
	Tags map[string]string
	// TransitiveTagKeys are the keys of Tags that survive role chaining.
	TransitiveTagKeys []string
	// SessionPolicy is the inline session policy JSON, "" if none: the
	// session may do only what both the role and this policy allow.
	SessionPolicy string
	// Expiration is when the credentials stop working.
	Expiration time.Time
	// Invoke is the role's Invoke list (see Role.Invoke).
	Invoke []string
	// Policy is the role's identity policy JSON (Role.Policy), "" if none.
	// Allowed applies it and SessionPolicy.
	Policy string

	// identity and session are Policy and SessionPolicy as parsed when the
	// session was issued; nil for a Session made elsewhere, which Allowed
	// parses on each call. Never changed after issue, so copies share them.
	identity, session *permPolicy
}

func (s *Session) clone() *Session {
	c := *s
	c.Tags = maps.Clone(s.Tags)
	c.TransitiveTagKeys = slices.Clone(s.TransitiveTagKeys)
	c.Invoke = slices.Clone(s.Invoke)
	return &c
}

// sessionStore holds issued sessions by access key id, bounded: sessions
// expired for longer than retain are dropped (until then, using them is
// answered ExpiredToken rather than InvalidClientTokenId), and at capacity
// the session closest to expiry makes room.
type sessionStore struct {
	mu     sync.Mutex
	byKey  map[string]*storeEntry
	order  expiryHeap
	max    int
	retain time.Duration
}

type storeEntry struct {
	s     *Session
	index int
}

const (
	defaultMaxSessions = 100_000
	expiredRetention   = time.Hour
)

func newSessionStore(max int) *sessionStore {
	return &sessionStore{byKey: map[string]*storeEntry{}, max: max, retain: expiredRetention}
}

func (st *sessionStore) put(s *Session, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	for len(st.order) >= st.max {
		e := heap.Pop(&st.order).(*storeEntry)
		delete(st.byKey, e.s.AccessKeyID)
	}
	e := &storeEntry{s: s}
	heap.Push(&st.order, e)
	st.byKey[s.AccessKeyID] = e
}

func (st *sessionStore) get(accessKeyID string, now time.Time) *Session {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	if e := st.byKey[accessKeyID]; e != nil {
		return e.s
	}
	return nil
}

func (st *sessionStore) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.byKey)
}

// sweep drops sessions expired for longer than retain. Callers hold mu.
func (st *sessionStore) sweep(now time.Time) {
	for len(st.order) > 0 && now.Sub(st.order[0].s.Expiration) > st.retain {
		e := heap.Pop(&st.order).(*storeEntry)
		delete(st.byKey, e.s.AccessKeyID)
	}
}

// expiryHeap orders entries by expiration, soonest first.
type expiryHeap []*storeEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].s.Expiration.Before(h[j].s.Expiration) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*storeEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return e
}
