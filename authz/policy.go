package authz

import (
	"errors"
	"hash/maphash"
	"iter"
	"slices"
	"sync/atomic"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// Engine decides requests against a compiled policy. It is safe for
// concurrent use; Reload swaps the policy atomically, so each Decide sees
// one whole policy, old or new. The zero Engine has no policy and denies
// everything.
type Engine struct {
	state        atomic.Pointer[state]
	hits, misses atomic.Int64 // decision cache counters, over every state
}

// state is one compiled policy, immutable once built.
type state struct {
	roles    []string
	roleVals []types.Value // the roles as Cedar values, for context.role
	roleIx   map[string]int
	policies []*compiled
	byID     map[cedar.PolicyID]*compiled
	ix       index
	agents   map[string]bool
	// filePermits is true when a Cedar file has a permit policy: it may
	// apply under any role, so no role within reach can be skipped.
	filePermits bool
	text        string
	warnings    []string
	// allowGroups are the groups allow rules name, and groupPermits the
	// permits (by role) with a group condition: what group overage hides.
	allowGroups  types.EntityUIDSet
	groupPermits [][]int32
	memo         memo
	// decisions is nil when a Cedar file is loaded (see decisionCache).
	decisions *decisionCache
}

// New compiles cfg and returns an Engine deciding by it. The error joins
// every problem found (see Problems), each naming the rule, role, agent or
// Cedar file and line.
func New(cfg Config) (*Engine, error) {
	e := new(Engine)
	st, err := e.build(&cfg)
	if err != nil {
		return nil, err
	}
	e.state.Store(st)
	return e, nil
}

// Reload compiles cfg and, if it has no problem, makes it the policy of
// every later Decide. On error the previous policy keeps running. Calls
// to Reload should not race each other: the last to finish wins.
func (e *Engine) Reload(cfg Config) error {
	st, err := e.build(&cfg)
	if err != nil {
		return err
	}
	e.state.Store(st)
	return nil
}

// Cedar returns the effective policy as Cedar text: the policies compiled
// from the rules and agents, then each raw Cedar file as given. It is what
// `gatehouse policy show` prints; "" when no policy is loaded.
func (e *Engine) Cedar() string {
	if st := e.state.Load(); st != nil {
		return st.text
	}
	return ""
}

// Warnings returns what New or Reload found questionable but not wrong in
// the current policy, such as an allow rule that a deny rule makes
// unreachable.
func (e *Engine) Warnings() []string {
	if st := e.state.Load(); st != nil {
		return slices.Clone(st.warnings)
	}
	return nil
}

func build(cfg *Config) (*state, error) {
	c := &compiler{cfg: cfg}
	c.compile()
	if len(c.problems) > 0 {
		return nil, errors.Join(c.problems...)
	}
	st := &state{
		roles:    make([]string, len(cfg.Roles)),
		roleIx:   c.roles,
		policies: c.policies,
		byID:     make(map[cedar.PolicyID]*compiled, len(c.policies)),
		ix:       buildIndex(c.policies, cfg.Roles),
		agents:   make(map[string]bool),
		text:     c.text.String(),
		warnings: c.warnings,

		allowGroups:  types.NewEntityUIDSet(c.allowGroups...),
		groupPermits: make([][]int32, len(cfg.Roles)),
	}
	for i, r := range cfg.Roles {
		st.roles[i] = r.Name
		st.roleVals = append(st.roleVals, types.NewEntityUID(typeRole, types.String(r.Name)))
	}
	st.memo.seed = maphash.MakeSeed()
	for i, p := range c.policies {
		st.byID[p.id] = p
		switch {
		case p.origin == fromAgent:
			st.agents[p.name] = true
		case p.origin == fromRule && !p.forbid && p.groups:
			st.groupPermits[p.roleIx] = append(st.groupPermits[p.roleIx], int32(i))
		case p.origin == fromFile && !p.forbid:
			st.filePermits = true
		}
	}
	return st, nil
}

// Actions as Cedar entities.
var actionUID = func() map[string]types.EntityUID {
	m := make(map[string]types.EntityUID)
	for _, a := range actions {
		m[a] = types.NewEntityUID(typeAction, types.String(a))
	}
	return m
}()

// Decide decides whether p may perform r. It never fails: anything it
// cannot evaluate is a deny that says why. The decision is Cedar's: for
// each candidate role in turn (only r.Role if set, else every role, least
// privileged first) whose Actions and Functions or Routes include the
// request, the policies that can apply to p are authorized with
// context.role set to that role; the first role Cedar allows is granted.
// A role whose reach does not include the request is never granted,
// whatever a Cedar file permits. Deny wins: a forbid policy that matches
// denies whatever permits.
//
// p is read, never modified: it may be shared through the verified-token
// cache. Nor may the caller modify it afterwards: without Cedar files,
// decisions are cached per Principal (see decisionCache), and the returned
// Decision's slices are shared between the requests it answers.
func (e *Engine) Decide(p *authn.Principal, r Request) Decision {
	st := e.state.Load()
	if st == nil {
		return denied("no policy is loaded")
	}
	if st.decisions == nil || p == nil {
		e.misses.Add(1)
		return st.decide(p, r)
	}
	if d, ok := st.decisions.get(p, &r); ok {
		return d
	}
	d := st.decide(p, r)
	st.decisions.put(p, &r, d)
	return d
}

// build compiles cfg into a state with a decision cache when it can have one.
func (e *Engine) build(cfg *Config) (*state, error) {
	st, err := build(cfg)
	if err != nil {
		return nil, err
	}
	for _, p := range st.policies {
		if p.origin == fromFile {
			return st, nil
		}
	}
	st.decisions = &decisionCache{m: make(map[decisionKey]Decision), hits: &e.hits, misses: &e.misses}
	return st, nil
}

func (st *state) decide(p *authn.Principal, r Request) Decision {
	if p == nil {
		return denied("no principal")
	}
	if p.Kind != authn.KindUser && p.Kind != authn.KindApp {
		return denied("the principal is neither a user nor an app")
	}
	action, ok := actionUID[r.Action]
	if !ok {
		return denied("unknown action " + quote(r.Action))
	}
	var rtype types.EntityType
	switch r.Resource.Kind {
	case ResourceFunction:
		rtype = typeFunction
	case ResourceRoute:
		rtype = typeRoute
	default:
		return denied("unknown resource kind " + quote(r.Resource.Kind))
	}
	if r.Resource.Name == "" {
		return denied("the request names no " + r.Resource.Kind)
	}
	first, last := 0, len(st.roles)
	if r.Role != "" {
		i, ok := st.roleIx[r.Role]
		if !ok {
			return denied("the route names role " + quote(r.Role) + ", which is not declared")
		}
		first, last = i, i+1
	}
	if first == last {
		return denied("no role is declared, so nothing can be allowed")
	}

	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	in := st.input(sc, p, r, types.NewEntityUID(rtype, types.String(r.Resource.Name)))
	req := cedar.Request{Principal: in.entities.principal.UID, Action: action, Resource: in.resource.UID}
	permits, shared := st.ix.candidates(sc.permits[:0], sc.shared[:0], in.who.keys)
	sc.permits, sc.shared = permits, shared

	var forbidden *cedar.Diagnostic
	skipped := false
	for ri := first; ri < last; ri++ {
		if !st.ix.reach[ri].may(&r) {
			// A role is never granted beyond its own actions and
			// resources, whatever a Cedar file permits: its reach is a
			// precondition, not one more policy.
			skipped = true
			continue
		}
		cands := sc.cands[:0]
		for _, i := range permits {
			if st.policies[i].roleIx == ri {
				cands = append(cands, i)
			}
		}
		if len(cands) == 0 && !st.filePermits {
			// No permit can apply under this role, so Cedar's default
			// deny is the answer: skip the evaluation.
			skipped = true
			continue
		}
		cands = append(cands, shared...)
		sc.cands = cands
		req.Context = in.context(st.roleVals[ri])
		dec, diag := cedar.Authorize(policyList{st, cands}, &in.entities, req)
		if d, failed := st.failedForbid(diag); failed {
			return d
		}
		if dec == cedar.Allow {
			return st.allowed(st.roles[ri], diag, in)
		}
		if len(diag.Reasons) == 0 {
			continue
		}
		if !st.onlyFiles(diag) {
			// A forbid compiled from a rule or agent ignores the role:
			// it would match under every role.
			forbidden = &diag
			break
		}
		// Forbids from Cedar files may read context.role: they explain
		// the deny only if a permit matched under this role.
		if forbidden == nil && st.permitsAllow(sc, cands, &in.entities, req) {
			forbidden = &diag
		}
	}
	if forbidden == nil && skipped && len(shared) > 0 {
		// Say so when a deny rule would have matched anyway.
		req.Context = in.context(st.roleVals[first])
		if _, diag := cedar.Authorize(policyList{st, shared}, &in.entities, req); !st.onlyFiles(diag) {
			forbidden = &diag
		}
	}
	if forbidden != nil {
		return st.forbidden(p, r, *forbidden, in)
	}
	if p.GroupsOverage && st.overageHides(sc, in, req, first, last) {
		return Decision{
			Reason:       "group membership unknown (group overage): group rules cannot match; " + noGrant(r),
			GroupOverage: true,
		}
	}
	return denied(noGrant(r))
}

// onlyFiles reports whether every forbid among the reasons comes from a
// Cedar file: only those can read context.role.
func (st *state) onlyFiles(diag cedar.Diagnostic) bool {
	for _, d := range diag.Reasons {
		if st.byID[d.PolicyID].origin != fromFile {
			return false
		}
	}
	return true
}

// permitsAllow reports whether Cedar allows the request when given only the
// permit policies among cands: whether anything but a forbid stood in the
// way.
func (st *state) permitsAllow(sc *scratch, cands []int32, ents *entities, req cedar.Request) bool {
	permits := sc.only[:0]
	for _, i := range cands {
		if !st.policies[i].forbid {
			permits = append(permits, i)
		}
	}
	sc.only = permits
	dec, _ := cedar.Authorize(policyList{st, permits}, ents, req)
	return dec == cedar.Allow
}

// failedForbid fails closed when a forbid policy could not be evaluated:
// Cedar skips a policy in error, which for a forbid would let through what
// it was written to stop.
func (st *state) failedForbid(diag cedar.Diagnostic) (Decision, bool) {
	for _, e := range diag.Errors {
		if p := st.byID[e.PolicyID]; p != nil && p.forbid {
			return Decision{
				Policies: []string{string(e.PolicyID)},
				Reason:   "forbid " + describePolicy(p) + " could not be evaluated, so the request is denied: " + e.Message,
			}, true
		}
	}
	return Decision{}, false
}

// overageHides reports whether a group rule would have allowed the request
// had the principal's groups been known: Cedar authorizes the permits with
// a group condition for a principal in every group that allow rules name.
func (st *state) overageHides(sc *scratch, in *input, req cedar.Request, first, last int) bool {
	if st.allowGroups.Len() == 0 {
		return false
	}
	whatIf := in.entities.principal
	whatIf.Parents = st.allowGroups
	whatIf.Attributes = in.who.attrs(false)
	ents := entities{principal: whatIf, resource: in.resource}
	for ri := first; ri < last; ri++ {
		if len(st.groupPermits[ri]) == 0 {
			continue
		}
		req.Context = in.context(st.roleVals[ri])
		if dec, _ := cedar.Authorize(policyList{st, st.groupPermits[ri]}, &ents, req); dec == cedar.Allow {
			return true
		}
	}
	return false
}

// policyList hands Cedar the policies at the given indexes.
type policyList struct {
	st *state
	ix []int32
}

func (l policyList) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for _, i := range l.ix {
			p := l.st.policies[i]
			if !yield(p.id, p.policy) {
				return
			}
		}
	}
}
