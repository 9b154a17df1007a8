package authz

import "time"

// Request is what a principal asks to do.
type Request struct {
	// Action is ActionInvoke, ActionRead or ActionWrite; any other is
	// denied.
	Action string
	// Resource is the function or route acted on.
	Resource Resource
	// Role, when set, is the only role considered (a route may name the
	// role it runs under); "" means the roles are tried in declared order
	// and the first one allowed is granted.
	Role string
	// Method and Path are the HTTP method and path, "" outside HTTP;
	// policies read them as context.method and context.path.
	Method, Path string
	// SourceIP is the client address, with or without a port
	// ("203.0.113.7", "[2001:db8::1]:443"); "" or unparsable leaves
	// context.sourceIp absent.
	SourceIP string
	// Time is when the request was made; zero means time.Now().
	Time time.Time
}

// Resource is a function or route.
type Resource struct {
	// Kind is ResourceFunction or ResourceRoute.
	Kind string
	// Name is the function name or route id.
	Name string
}

// Decision is the answer to a Request: allowed or not, under which role,
// because of which policies.
type Decision struct {
	// Allow is true only when a permit policy matched for the granted role
	// and no forbid policy did.
	Allow bool
	// Role is the logical role granted; "" on deny.
	Role string
	// Policies are the ids of the policies that decided, sorted: the
	// permits that matched on allow, the forbids that matched on deny
	// (none when nothing permitted).
	Policies []string
	// Reason says in words why the request was allowed or denied, naming
	// rules, roles and resources: for the log, the audit trail and
	// `gatehouse policy explain`, not for the caller.
	Reason string
	// GroupOverage reports that the principal's groups overflowed (Entra
	// group overage) and a group rule was involved: an allow rule on
	// groups could not match, or a deny rule on groups applied.
	GroupOverage bool
}

// Err returns nil if d allows, otherwise an *Error (HTTP 403).
func (d Decision) Err() error {
	if d.Allow {
		return nil
	}
	return &Error{Reason: d.Reason, Policies: d.Policies, GroupOverage: d.GroupOverage}
}

func denied(reason string) Decision { return Decision{Reason: reason} }
