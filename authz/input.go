package authz

import (
	"hash/maphash"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// This file turns a request into Cedar data: the principal and resource
// entities, the context, and the index keys. Every value from the token
// enters Cedar here, as entity ids and attribute values, never as policy
// text.

// entities is the entity store of one request: the principal and the
// resource. Groups, tenants, roles and apps need no entity: nothing is
// their member but the principal, whose parents list its groups.
type entities struct {
	principal, resource types.Entity
}

func (e *entities) Get(uid types.EntityUID) (types.Entity, bool) {
	switch uid {
	case e.principal.UID:
		return e.principal, true
	case e.resource.UID:
		return e.resource, true
	}
	return types.Entity{}, false
}

// input is one request as Cedar data.
type input struct {
	entities
	who *principalData
	ctx types.RecordMap
}

// principalData is a Principal as Cedar data: its entity, the context value of
// the agent acting for it, and its index keys. Built once per distinct
// principal content and memoised (see memo): building Cedar records costs
// more than evaluating a few policies.
type principalData struct {
	snap    snapshot
	entity  types.Entity
	keys    []key
	agent   string      // the acting agent's app id, "" if none
	agentBy string      // ActorViaAct or ActorViaClient
	agentV  types.Value // context.agent, nil if none
}

// snapshot is what a principal's Cedar data is made from: a copy, so a
// memo entry can be checked against a Principal field by field.
type snapshot struct {
	subject, app, tenant string
	kind                 authn.Kind
	overage              bool
	groups, roles        []string
	scopes               []string
	actor                authn.Actor
	hasActor             bool
}

func snapshotOf(p *authn.Principal) snapshot {
	s := snapshot{
		subject: p.Subject, app: p.App, tenant: p.Tenant, kind: p.Kind, overage: p.GroupsOverage,
		groups: slices.Clone(p.Groups), roles: slices.Clone(p.Roles), scopes: slices.Clone(p.Scopes),
	}
	if len(p.Actors) > 0 {
		s.actor, s.hasActor = p.Actors[0], true
	}
	return s
}

func (s *snapshot) matches(p *authn.Principal) bool {
	if s.subject != p.Subject || s.app != p.App || s.tenant != p.Tenant || s.kind != p.Kind ||
		s.overage != p.GroupsOverage || s.hasActor != (len(p.Actors) > 0) ||
		!slices.Equal(s.groups, p.Groups) || !slices.Equal(s.roles, p.Roles) || !slices.Equal(s.scopes, p.Scopes) {
		return false
	}
	return !s.hasActor || s.actor == p.Actors[0]
}

func (s *snapshot) hash(seed maphash.Seed) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	for _, v := range [...]string{s.subject, s.app, s.tenant, string(s.kind), s.actor.Subject, s.actor.App, s.actor.Via} {
		h.WriteString(v)
		h.WriteByte(0)
	}
	for _, list := range [...][]string{s.groups, s.roles, s.scopes} {
		for _, v := range list {
			h.WriteString(v)
			h.WriteByte(0)
		}
		h.WriteByte(1)
	}
	return h.Sum64()
}

// newPrincipal builds the Cedar data of p.
func newPrincipal(p *authn.Principal) *principalData {
	d := &principalData{snap: snapshotOf(p)}
	s := &d.snap
	subject, app, tenant := canonical(s.subject), canonical(s.app), canonical(s.tenant)
	d.keys = append(d.keys, key{}, key{keyApp, app}, key{keyTenant, tenant})
	if s.kind == authn.KindApp {
		id := app
		if id == "" {
			id = subject
		}
		d.entity.UID = types.NewEntityUID(typeApp, types.String(id))
	} else {
		d.entity.UID = types.NewEntityUID(typeUser, types.String(subject))
		d.keys = append(d.keys, key{keyUser, subject})
	}
	if s.overage {
		d.keys = append(d.keys, key{kind: keyOverage})
	} else if len(s.groups) > 0 {
		groups := make([]types.EntityUID, len(s.groups))
		for i, g := range s.groups {
			g = canonical(g)
			groups[i] = types.NewEntityUID(typeGroup, types.String(g))
			d.keys = append(d.keys, key{keyGroup, g})
		}
		d.entity.Parents = types.NewEntityUIDSet(groups...)
	}
	for _, v := range s.roles {
		d.keys = append(d.keys, key{keyAppRole, v})
	}
	for _, v := range s.scopes {
		d.keys = append(d.keys, key{keyScope, v})
	}
	d.entity.Attributes = d.attrs(s.overage)
	if s.hasActor {
		a := s.actor // RFC 8693 §4.1: only the current actor counts
		d.agent = a.App
		if d.agent == "" {
			d.agent = a.Subject
		}
		d.agent = canonical(d.agent)
		d.agentBy = authn.ActorViaAct // anything but a delegated client must be declared
		if a.Via == authn.ActorViaClient {
			d.agentBy = authn.ActorViaClient
		}
		d.agentV = types.NewRecord(types.RecordMap{
			"app": types.NewEntityUID(typeApp, types.String(d.agent)),
			"via": types.String(d.agentBy),
		})
		d.keys = append(d.keys, key{keyAgent, d.agent})
		if d.agentBy == authn.ActorViaAct {
			d.keys = append(d.keys, key{kind: keyActAgent})
		}
	}
	return d
}

// attrs returns the principal's attributes, with groupsOverage as given.
func (d *principalData) attrs(overage bool) types.Record {
	s := &d.snap
	kind := types.String(authn.KindUser)
	if s.kind == authn.KindApp {
		kind = types.String(authn.KindApp)
	}
	return types.NewRecord(types.RecordMap{
		"tenant":        types.NewEntityUID(typeTenant, types.String(canonical(s.tenant))),
		"app":           types.NewEntityUID(typeApp, types.String(canonical(s.app))),
		"kind":          kind,
		"appRoles":      stringSet(s.roles),
		"scopes":        stringSet(s.scopes),
		"groupsOverage": types.Boolean(overage),
	})
}

func stringSet(list []string) types.Set {
	vals := make([]types.Value, len(list))
	for i, v := range list {
		vals[i] = types.String(v)
	}
	return types.NewSet(vals...)
}

// memo remembers the Cedar data of recent principals and resources. It is
// direct-mapped, so its size is fixed whatever callers send; an entry is
// used only if it was built from equal values, so a collision or a
// Principal changed in place costs a rebuild, never a wrong answer.
type memo struct {
	seed       maphash.Seed
	principals [4096]atomic.Pointer[principalData]
	resources  [256]atomic.Pointer[types.Entity]
}

func (m *memo) principal(p *authn.Principal) *principalData {
	snap := snapshot{
		subject: p.Subject, app: p.App, tenant: p.Tenant, kind: p.Kind,
		groups: p.Groups, roles: p.Roles, scopes: p.Scopes,
	}
	if len(p.Actors) > 0 {
		snap.actor, snap.hasActor = p.Actors[0], true
	}
	slot := &m.principals[snap.hash(m.seed)%uint64(len(m.principals))]
	if d := slot.Load(); d != nil && d.snap.matches(p) {
		return d
	}
	d := newPrincipal(p)
	slot.Store(d)
	return d
}

func (m *memo) resource(uid types.EntityUID) types.Entity {
	slot := &m.resources[maphash.Comparable(m.seed, uid)%uint64(len(m.resources))]
	if e := slot.Load(); e != nil && e.UID == uid {
		return *e
	}
	e := &types.Entity{UID: uid, Attributes: types.NewRecord(types.RecordMap{"name": uid.ID})}
	slot.Store(e)
	return *e
}

// scratch holds the per-request buffers, reused through scratchPool.
type scratch struct {
	in      input
	shared  []int32
	cands   []int32
	permits []int32
	only    []int32
}

var scratchPool = sync.Pool{New: func() any { return &scratch{in: input{ctx: make(types.RecordMap, 8)}} }}

func (sc *scratch) release() {
	clear(sc.in.ctx)
	sc.in = input{ctx: sc.in.ctx}
	scratchPool.Put(sc)
}

// input fills the scratch input for a request.
func (st *state) input(sc *scratch, p *authn.Principal, r Request, resource types.EntityUID) *input {
	in := &sc.in
	in.who = st.memo.principal(p)
	in.entities.principal = in.who.entity
	in.entities.resource = st.memo.resource(resource)
	in.ctx["method"] = types.String(r.Method)
	in.ctx["path"] = types.String(r.Path)
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	in.ctx["time"] = types.NewDatetime(t)
	if ip, ok := sourceIP(r.SourceIP); ok {
		in.ctx["sourceIp"] = ip
	}
	if in.who.agentV != nil {
		in.ctx["agent"] = in.who.agentV
	}
	return in
}

// context returns the request context with context.role set to role.
func (in *input) context(role types.Value) types.Record {
	in.ctx["role"] = role
	return types.NewRecord(in.ctx)
}

// sourceIP parses an address, with or without a port.
func sourceIP(s string) (types.IPAddr, bool) {
	if s == "" {
		return types.IPAddr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return types.IPAddr{}, false
		}
		a = ap.Addr()
	}
	a = a.WithZone("")
	return types.IPAddr(netip.PrefixFrom(a, a.BitLen())), true
}
