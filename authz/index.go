package authz

import (
	"slices"
	"strings"
)

// The index narrows the policies handed to Cedar to those that can apply to
// a principal. It never decides: every policy it keeps is evaluated by
// Cedar, and a policy it drops is one whose conditions Cedar would find
// false. That holds because a rule's conditions are ANDed and a condition
// holds only if the principal has one of its values: a policy indexed by one
// of its conditions, under each of that condition's values, is found through
// any principal that could satisfy it. Raw Cedar policies are never
// indexed: Cedar evaluates every one of them for every request.

// keyKind says which principal value a key holds.
type keyKind uint8

const (
	keyAlways   keyKind = iota // the zero key: policies that are always candidates
	keyUser                    // user object id
	keyApp                     // calling app client id
	keyGroup                   // group object id
	keyAppRole                 // app role
	keyScope                   // scope
	keyTenant                  // tenant id
	keyOverage                 // the principal's groups overflowed
	keyAgent                   // the acting agent's app id
	keyActAgent                // an agent acts for the principal through an act chain
)

// key is one index key: a kind of principal value and the value.
type key struct {
	kind keyKind
	v    string
}

// indexKeys returns the keys under which a rule's policy is indexed: the
// values of one of its list conditions, the one whose values the fewest
// rules share (counts). A deny rule indexed by groups is also indexed under
// keyOverage, because group overage satisfies its group condition. A rule
// with no list condition (kind only) is always a candidate.
func indexKeys(k *cond, deny bool, counts map[key]int) []key {
	var best []key
	bestCost := 0
	for _, c := range condKeys(k) {
		cost := 0
		for _, key := range c {
			cost += counts[key]
		}
		if best == nil || cost < bestCost {
			best, bestCost = c, cost
		}
	}
	if best == nil {
		return []key{{}}
	}
	if best[0].kind == keyGroup && deny {
		best = append(slices.Clip(best), key{kind: keyOverage})
	}
	return best
}

// condKeys returns the keys of each list condition of a rule.
func condKeys(k *cond) [][]key {
	var out [][]key
	for _, c := range []struct {
		kind keyKind
		vals []string
	}{
		{keyUser, k.users}, {keyGroup, k.groups}, {keyAppRole, k.appRoles},
		{keyApp, k.apps}, {keyTenant, k.tenants}, {keyScope, k.scopes},
	} {
		if len(c.vals) == 0 {
			continue
		}
		keys := make([]key, len(c.vals))
		for i, v := range c.vals {
			keys[i] = key{c.kind, v}
		}
		out = append(out, keys)
	}
	return out
}

// index maps keys to policies: the permits compiled from rules, and the
// policies that apply whatever role is tried (forbids, raw files). reach
// holds what each role reaches, so that a role whose permits cannot match
// the request's action and resource is not tried.
type index struct {
	byKey map[key]*bucket
	reach []reach // by role index
}

// bucket holds the policies indexed under one key.
type bucket struct {
	permits, shared []int32
}

func buildIndex(policies []*compiled, roles []Role) index {
	ix := index{byKey: make(map[key]*bucket), reach: make([]reach, len(roles))}
	for i := range roles {
		ix.reach[i] = newReach(&roles[i])
	}
	counts := make(map[key]int)
	for _, p := range policies {
		if p.cond != nil {
			for _, c := range condKeys(p.cond) {
				for _, k := range c {
					counts[k]++
				}
			}
		}
	}
	for _, p := range policies {
		if p.cond != nil {
			p.keys = indexKeys(p.cond, p.forbid, counts)
		}
	}
	for i, p := range policies {
		keys := p.keys
		if keys == nil {
			keys = []key{{}}
		}
		for _, k := range keys {
			b := ix.byKey[k]
			if b == nil {
				b = new(bucket)
				ix.byKey[k] = b
			}
			if p.origin == fromRule && !p.forbid {
				b.permits = append(b.permits, int32(i))
			} else {
				b.shared = append(b.shared, int32(i))
			}
		}
	}
	return ix
}

// candidates appends to permits and shared the policies indexed under any
// of keys, each sorted and without duplicates.
func (ix *index) candidates(permits, shared []int32, keys []key) ([]int32, []int32) {
	for _, k := range keys {
		if b := ix.byKey[k]; b != nil {
			permits = append(permits, b.permits...)
			shared = append(shared, b.shared...)
		}
	}
	return sortedSet(permits), sortedSet(shared)
}

func sortedSet(s []int32) []int32 {
	slices.Sort(s)
	return slices.Compact(s)
}

// reach is what a role reaches, as the permits compiled for it say: a
// request outside it cannot satisfy their action scope or resource
// condition. Decide never grants a role outside its reach, whatever a
// Cedar file permits. It mirrors reachNode; TestIndexAgreesWithCedar
// checks the two agree.
type reach struct {
	actions   []string
	exact     map[Resource]bool
	prefixes  map[string][]string // by resource kind
	everyKind map[string]bool
}

func newReach(r *Role) reach {
	rr := reach{actions: r.Actions, exact: make(map[Resource]bool), prefixes: make(map[string][]string), everyKind: make(map[string]bool)}
	for kind, list := range map[string][]string{ResourceFunction: r.Functions, ResourceRoute: r.Routes} {
		for _, p := range list {
			switch prefix, glob := strings.CutSuffix(p, "*"); {
			case p == "*":
				rr.everyKind[kind] = true
			case glob:
				rr.prefixes[kind] = append(rr.prefixes[kind], prefix)
			default:
				rr.exact[Resource{Kind: kind, Name: p}] = true
			}
		}
	}
	return rr
}

// may reports whether the role may reach the request's action and
// resource. The answer is exact: Decide tries a role only if it is true,
// and Cedar's policies decide whether the role is granted.
func (rr *reach) may(r *Request) bool {
	if !slices.Contains(rr.actions, r.Action) {
		return false
	}
	if rr.everyKind[r.Resource.Kind] || rr.exact[r.Resource] {
		return true
	}
	for _, p := range rr.prefixes[r.Resource.Kind] {
		if strings.HasPrefix(r.Resource.Name, p) {
			return true
		}
	}
	return false
}
