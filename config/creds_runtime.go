package config

import "github.com/gatehouse-dev/gatehouse/creds"

// CredsRoles returns the logical roles of authz.roles as the creds
// package's roles: each with its IAM role (aws_role), the creds section's
// mode, duration and session tags, and the overrides of creds.roles.
func (f *File) CredsRoles() []creds.Role {
	over := map[string]CredsRole{}
	for _, r := range f.Creds.Roles {
		over[r.Role] = r
	}
	var out []creds.Role
	for _, r := range f.AuthZ.Roles {
		cr := creds.Role{Name: r.Name, ARN: r.AWSRole, Mode: creds.Mode(f.Creds.Mode), Duration: f.Creds.Duration, SessionTags: f.Creds.SessionTags}
		if o, ok := over[r.Name]; ok {
			if o.Mode != "" {
				cr.Mode = creds.Mode(o.Mode)
			}
			if o.Duration != 0 {
				cr.Duration = o.Duration
			}
			if o.SessionTags != nil {
				cr.SessionTags = o.SessionTags
			}
			cr.GroupTags = o.GroupTags
		}
		out = append(out, cr)
	}
	return out
}
