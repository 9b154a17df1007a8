package policytest

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// Suite is a policy test file.
type Suite struct {
	// Config is the configuration file the cases test, relative to the
	// suite's file; "" leaves the choice to the caller (`gatehouse policy
	// test`: --config, else the embedded development configuration).
	Config string `yaml:"config"`
	// Principals are the principals cases name, by name.
	Principals map[string]Principal `yaml:"principals"`
	// Cases are run in order; Parse refuses a file without any.
	Cases []Case `yaml:"cases"`
}

// Principal is a principal as the verifier would make it of a token (what
// `gatehouse verify` prints), in YAML.
type Principal struct {
	// Subject is the object id of the user or app; required.
	Subject string `yaml:"subject"`
	// Tenant is the tenant id; "" means none.
	Tenant string `yaml:"tenant"`
	// Kind is user or app; required.
	Kind string `yaml:"kind"`
	// App is the client id of the calling app; "" means none.
	App           string   `yaml:"app"`
	Groups        []string `yaml:"groups"`
	GroupsOverage bool     `yaml:"groups_overage"`
	Roles         []string `yaml:"roles"`
	Scopes        []string `yaml:"scopes"`
	// Actors are the delegation chain, nearest first.
	Actors []Actor `yaml:"actors"`
}

// Actor is one link of a principal's delegation chain.
type Actor struct {
	Sub string `yaml:"sub"`
	App string `yaml:"app"`
	// Via is act (RFC 8693) or client (on-behalf-of); "" means act.
	Via string `yaml:"via"`
}

// Case is a request and the decision expected for it.
type Case struct {
	// Name names the case in results; "" means "cases[i]".
	Name string `yaml:"name"`
	// Principal names an entry of Suite.Principals.
	Principal string `yaml:"principal"`
	// Action is invoke, read or write; "" means invoke.
	Action string `yaml:"action"`
	// Resource is function:NAME, route:ID or a bare function NAME.
	Resource string `yaml:"resource"`
	// Role, when set, is the only role considered, as for a route that
	// names its role.
	Role string `yaml:"role"`
	// Expect is allow or deny.
	Expect string `yaml:"expect"`
	// ExpectRole, when set, is the role an allowed request must get.
	ExpectRole string `yaml:"expect_role"`
	// ExpectPolicies, when set, are the deciding policy ids, in any order.
	ExpectPolicies []string `yaml:"expect_policies"`
}

// principal returns tp as the verifier's principal.
func (tp Principal) principal() (*authn.Principal, error) {
	if tp.Subject == "" || (tp.Kind != string(authn.KindUser) && tp.Kind != string(authn.KindApp)) {
		return nil, fmt.Errorf("a principal needs subject and kind (user or app)")
	}
	p := &authn.Principal{
		Subject: tp.Subject, Tenant: tp.Tenant, Kind: authn.Kind(tp.Kind), App: tp.App, Groups: tp.Groups,
		GroupsOverage: tp.GroupsOverage, Roles: tp.Roles, Scopes: tp.Scopes,
	}
	for _, a := range tp.Actors {
		via := a.Via
		if via == "" {
			via = authn.ActorViaAct
		}
		p.Actors = append(p.Actors, authn.Actor{Subject: a.Sub, App: a.App, Via: via})
	}
	return p, nil
}
