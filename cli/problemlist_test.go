package cli

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/config"
)

// texts is the Error() of each problem.
func texts[P error](ps []P) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Error())
	}
	return out
}

// TestProblemList: a failed reload logs every problem, whichever package
// found it, one string each.
func TestProblemList(t *testing.T) {
	_, cfgErr := config.Parse("gatehouse.yaml", []byte("authn:\n  issuers: []\n  issuer: x\n"))
	cfgProblems := texts(config.Problems(cfgErr))
	if len(cfgProblems) < 2 {
		t.Fatalf("config.Parse problems = %v, want at least two", cfgErr)
	}
	_, polErr := authz.New(authz.Config{Rules: []authz.Rule{{ID: "r", Effect: "maybe"}, {ID: "r", Effect: authz.EffectAllow, Roles: []string{"nobody"}}}})
	polProblems := texts(authz.Problems(polErr))
	if len(polProblems) < 2 {
		t.Fatalf("authz.New problems = %v, want at least two", polErr)
	}

	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"configuration problems", cfgErr, cfgProblems},
		{"policy problems", polErr, polProblems},
		{"both", errors.Join(cfgErr, polErr), append(cfgProblems[:len(cfgProblems):len(cfgProblems)], polProblems...)},
		{"any other error, as it is", errors.New("issuer keys: connection refused"), []string{"issuer keys: connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, problemList(tt.err)); diff != "" {
				t.Errorf("problemList (-want +got):\n%s", diff)
			}
		})
	}
}
