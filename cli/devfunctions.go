package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/devkit/idp"
	"github.com/gatehouse-dev/gatehouse/devkit/runtime"
)

// The development doubles of `gatehouse dev` take configurations of their
// own (devkit stays independent of the file format); these turn the dev
// section into them.

// devAccount is the AWS account of the local loop when no role names one.
const devAccount = "000000000000"

// execRoles are the execution roles of the dev functions, as creds roles
// the local STS trusts (broker mode, no session tags).
func execRoles(f *config.File) []creds.Role {
	var out []creds.Role
	for _, fn := range f.Dev.Lambda.Functions {
		if fn.ExecutionRole != "" {
			out = append(out, creds.Role{Name: "fn-" + fn.Name, ARN: fn.ExecutionRole, Mode: creds.ModeBroker, SessionTags: []string{}, NoSourceIdentity: true})
		}
	}
	return out
}

// devFunctions turns dev.lambda.functions into the local host's functions,
// with packages relative to base. A package directory that does not exist
// is left out with a note (the embedded configuration names the examples
// of the source tree, which a binary run elsewhere does not have).
func devFunctions(f *config.File, base string, env map[string]string, self string) ([]runtime.Function, []string) {
	var out []runtime.Function
	var notes []string
	for _, fn := range f.Dev.Lambda.Functions {
		rf := runtime.Function{
			Name: fn.Name, Executable: fn.Executable, ExecutionRole: fn.ExecutionRole, Timeout: fn.Timeout,
			MemoryMB: fn.MemoryMB, Concurrency: fn.Concurrency, Env: map[string]string{}, URL: fn.URL,
		}
		for k, v := range env {
			rf.Env[k] = v
		}
		for k, v := range fn.Env {
			rf.Env[k] = v
		}
		if fn.Builtin != "" {
			// This very binary, told which example to run.
			rf.Executable, rf.Args = self, builtinArgs(fn.Builtin)
		}
		if fn.Package != "" {
			dir := fn.Package
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(base, dir)
			}
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				notes = append(notes, fmt.Sprintf("function %s left out: package directory %s not found (run from the source tree, or use --config)", fn.Name, dir))
				continue
			}
			rf.Package = dir
		}
		out = append(out, rf)
	}
	return out, notes
}

// execCredentials gives dev function instances their execution role's
// credentials from the local STS, through gatehouse's issuer.
func execCredentials(broker *creds.Broker, issuerURL string) func(ctx context.Context, roleARN, session string) (aws.Credentials, error) {
	return func(ctx context.Context, roleARN, session string) (aws.Credentials, error) {
		p := &authn.Principal{IssuerName: "gatehouse-dev-lambda", Issuer: issuerURL, Subject: "function:" + session, Kind: authn.KindApp, Expiry: time.Now().Add(time.Hour)}
		req := creds.Request{Principal: p, Role: "fn-" + session}
		if len(session) >= 2 {
			req.SessionName = session // as Lambda names execution-role sessions
		}
		s, err := broker.Credentials(ctx, req)
		if err != nil {
			return aws.Credentials{}, err
		}
		return s.Credentials, nil
	}
}

// idpConfig turns dev.idp into the development IdP's configuration.
func idpConfig(d config.IDP, baseURL, keyDir string, log *slog.Logger) idp.Config {
	c := idp.Config{BaseURL: baseURL, KeyDir: keyDir, TokenLifetime: d.TokenLifetime, Logger: log}
	for _, t := range d.Tenants {
		it := idp.Tenant{ID: t.ID, Domain: t.Domain}
		for _, g := range t.Groups {
			it.Groups = append(it.Groups, idp.Group{ObjectID: g.ID, DisplayName: g.Name})
		}
		for _, u := range t.Users {
			it.Users = append(it.Users, idp.User{
				ObjectID: u.ID, UserPrincipalName: u.UPN, DisplayName: u.Name, Password: string(u.Password),
				Groups: u.Groups, AppRoles: u.AppRoles,
			})
		}
		for _, a := range t.Apps {
			ia := idp.App{
				Name: a.Name, ClientID: a.ClientID, ObjectID: a.ObjectID, AppIDURI: a.AppIDURI,
				Certificates: a.Certificates, PublicClient: a.PublicClient, RedirectURIs: a.RedirectURIs,
				Scopes: a.Scopes, AccessTokenVersion: a.AccessTokenVersion, GroupClaims: a.GroupClaims,
				GroupOverageLimit: a.GroupOverageLimit,
			}
			for _, s := range a.Secrets {
				ia.Secrets = append(ia.Secrets, string(s))
			}
			for _, r := range a.AppRoles {
				ia.AppRoles = append(ia.AppRoles, idp.AppRole{Value: r.Value, MemberTypes: r.MemberTypes})
			}
			for _, p := range a.Permissions {
				ia.Permissions = append(ia.Permissions, idp.Permission{Resource: p.Resource, Scopes: p.Scopes, Roles: p.Roles})
			}
			it.Apps = append(it.Apps, ia)
		}
		it.Apps = withKeyVaultApp(it.Apps)
		c.Tenants = append(c.Tenants, it)
	}
	return c
}
