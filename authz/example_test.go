package authz_test

import (
	"fmt"
	"log"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
)

func Example() {
	engine, err := authz.New(authz.Config{
		Roles: []authz.Role{
			{Name: "reader", Actions: []string{authz.ActionInvoke}, Functions: []string{"reports-*"}},
		},
		Rules: []authz.Rule{{
			ID: "allow-finance", Effect: authz.EffectAllow, Roles: []string{"reader"},
			Groups: []authz.GroupRef{{ID: "cc501977-ed03-40c6-bff3-944575d3a8ca", Name: "finance"}},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	bob := &authn.Principal{
		Subject: "1ee840e4-61de-4634-b1e6-1e29799b084f", Kind: authn.KindUser,
		Groups: []string{"cc501977-ed03-40c6-bff3-944575d3a8ca"},
	}
	for _, fn := range []string{"reports-daily", "payroll-run"} {
		d := engine.Decide(bob, authz.Request{
			Action:   authz.ActionInvoke,
			Resource: authz.Resource{Kind: authz.ResourceFunction, Name: fn},
		})
		fmt.Printf("%s: allow=%v role=%q policies=%q\n  %s\n", fn, d.Allow, d.Role, d.Policies, d.Reason)
	}
	// Output:
	// reports-daily: allow=true role="reader" policies=["allow-finance/reader"]
	//   allowed as "reader" by rule allow-finance
	// payroll-run: allow=false role="" policies=[]
	//   no rule grants a role that may invoke function payroll-run
}
