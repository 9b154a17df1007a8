package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/gatehouse-dev/gatehouse/authz"
)

// Runtime returns the section as the authz package's Config, with files as
// the contents of PolicyFiles (read by the caller: Validate does no I/O).
func (a *AuthZ) Runtime(files []authz.PolicyFile) authz.Config {
	c := authz.Config{Policies: files}
	for _, r := range a.Roles {
		c.Roles = append(c.Roles, authz.Role{Name: r.Name, Actions: r.Actions, Functions: r.Functions, Routes: r.Routes})
	}
	for _, r := range a.Rules {
		ar := authz.Rule{
			ID: r.ID, Effect: r.Effect, Roles: r.Roles, AppRoles: r.AppRoles, Scopes: r.Scopes, Users: r.Users,
			Apps: r.Apps, Tenants: r.Tenants, Kind: r.Kind, Actions: r.Actions, Functions: r.Functions, Routes: r.Routes,
		}
		for _, g := range r.Groups {
			ar.Groups = append(ar.Groups, authz.GroupRef{ID: g.ID, Name: g.Name})
		}
		c.Rules = append(c.Rules, ar)
	}
	for _, ag := range a.Agents {
		c.Agents = append(c.Agents, authz.Agent{App: ag.App, Actions: ag.Actions, Functions: ag.Functions, Routes: ag.Routes})
	}
	return c
}

// arnRE is an IAM role ARN in any AWS partition.
var arnRE = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)

// authz checks the section: the AWS role of each logical role here, and
// everything else by compiling the rules with the authz package itself (so
// the file is judged by exactly the compiler that will run it), its
// problems mapped back to the file's fields.
func (v *validator) authz(f *File) {
	a := &f.AuthZ
	for i, r := range a.Roles {
		field := fmt.Sprintf("authz.roles[%d].aws_role", i)
		switch {
		case r.AWSRole == "":
			v.add(field, "role %q has no AWS role: every logical role maps to the IAM role it gets credentials for (arn:aws:iam::<account>:role/<name>)", r.Name)
		case !arnRE.MatchString(r.AWSRole):
			v.add(field, "%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", r.AWSRole)
		}
	}
	for i, p := range a.PolicyFiles {
		if strings.TrimSpace(p) == "" || !strings.HasSuffix(p, ".cedar") {
			v.add(fmt.Sprintf("authz.policy_files[%d]", i), "%q: want the path of a .cedar file", p)
		}
	}
	if _, err := authz.New(a.Runtime(nil)); err != nil {
		for _, p := range authz.Problems(err) {
			field := "authz"
			if p.Field != "" {
				field += "." + p.Field
			}
			v.add(field, "%s", p.Msg)
		}
	}
}
