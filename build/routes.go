package build

import (
	"cmp"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
)

// Route is a configured route as policy sees it, whichever front door
// serves it: the gateway (with a target built from Function or Upstream)
// or an API Gateway authorizer.
type Route struct {
	ID, Method, Host, Path string
	// Issuers and Audiences narrow the tokens the route accepts.
	Issuers, Audiences []string
	// Action is what a request asks of policy: the route's action, else
	// invoke for a function; "" for an upstream means read for GET, HEAD
	// and OPTIONS and write for other methods.
	Action string
	// Resource is the function, by name without qualifier (what roles
	// reach), or the route, for an upstream.
	Resource authz.Resource
	Role     string
	// Function is the function invoked as configured (name,
	// name:qualifier or ARN); FunctionARN is its ARN, which SessionPolicy
	// narrows the role's credentials to. Timeout bounds an invocation on
	// the gateway's side: the development function's timeout and 5 s,
	// else Lambda's maximum (15 minutes) and 5 s, as Lambda itself ends a
	// function at its own timeout.
	Function, FunctionARN, SessionPolicy string
	Timeout                              time.Duration
	// Upstream is the HTTP service proxied to; nil for a function.
	Upstream *config.Upstream
	// PassHeaders are gateway.pass_headers, then the route's own.
	PassHeaders []string
}

// ActionFor is what a request with method asks of policy on the route:
// its Action, else read for GET, HEAD and OPTIONS and write for any other
// method.
func (r Route) ActionFor(method string) string {
	if r.Action != "" {
		return r.Action
	}
	switch method {
	case "GET", "HEAD", "OPTIONS":
		return authz.ActionRead
	}
	return authz.ActionWrite
}

// Routes are gateway.routes as policy sees them.
func Routes(f *config.File) []Route {
	var out []Route
	for _, rt := range f.Gateway.Routes {
		r := Route{
			ID: rt.ID, Method: rt.Method, Host: rt.Host, Path: rt.Path, Issuers: rt.Issuers, Audiences: rt.Audiences,
			Action: rt.Action, Role: rt.Role, Upstream: rt.Upstream,
			PassHeaders: append(slices.Clone(f.Gateway.PassHeaders), rt.PassHeaders...),
		}
		if rt.Upstream != nil {
			r.Resource = authz.Resource{Kind: authz.ResourceRoute, Name: rt.ID}
		} else {
			r.Function = rt.Function
			r.Resource = authz.Resource{Kind: authz.ResourceFunction, Name: config.FunctionName(rt.Function)}
			r.Action = cmp.Or(r.Action, authz.ActionInvoke)
			r.FunctionARN = FunctionARN(f, rt.Function)
			r.SessionPolicy = creds.InvokePolicy(r.FunctionARN)
			r.Timeout = functionTimeout(f, r.Resource.Name) + 5*time.Second
		}
		out = append(out, r)
	}
	return out
}

// DefaultRegion is the AWS region when neither the file
// (creds.sts.region) nor the environment (AWS_REGION) says one.
const DefaultRegion = "us-east-1"

// Region is the AWS region of STS and of the functions routes invoke:
// creds.sts.region, else the environment's AWS_REGION (as the AWS SDK
// reads it; in Lambda, the function's own region), else DefaultRegion.
func Region(f *config.File) string {
	return cmp.Or(f.Creds.STS.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), DefaultRegion)
}

// Account is the AWS account of the configured roles (the first role ARN
// that names one), or "" if none does.
func Account(f *config.File) string {
	for _, r := range f.AuthZ.Roles {
		if a := ARNAccount(r.AWSRole); a != "" {
			return a
		}
	}
	return ""
}

// ARNAccount is the account of an ARN, or "".
func ARNAccount(arn string) string {
	if parts := strings.Split(arn, ":"); len(parts) >= 6 {
		return parts[4]
	}
	return ""
}

// RoleName is the name (with its path) of an IAM role ARN.
func RoleName(arn string) string {
	_, name, _ := strings.Cut(arn, ":role/")
	return name
}

// FunctionARN is the ARN of a function given by name, name:qualifier or
// ARN: in Region and Account, and any account ("*") when no role names
// one (the session policy must not name an account it does not know).
func FunctionARN(f *config.File, fn string) string {
	if strings.HasPrefix(fn, "arn:") {
		return fn
	}
	return "arn:aws:lambda:" + Region(f) + ":" + cmp.Or(Account(f), "*") + ":function:" + fn
}

// maxFunctionTimeout is Lambda's longest function timeout.
const maxFunctionTimeout = 15 * time.Minute

func functionTimeout(f *config.File, name string) time.Duration {
	for _, fn := range f.Dev.Lambda.Functions {
		if fn.Name == name {
			return cmp.Or(fn.Timeout, config.DefaultFunctionTimeout)
		}
	}
	return maxFunctionTimeout
}

// Metadata is what the RFC 9728 documents say: the URL clients get tokens
// from for each issuer of authn.issuers (by name; an Entra issuer's v2.0
// issuer, devIssuer for the authority "dev"), those URLs in order, and the
// scopes the allow rules grant on.
func Metadata(f *config.File, devIssuer string) (byName map[string]string, urls, scopes []string) {
	byName = map[string]string{}
	for _, is := range f.AuthN.Issuers {
		u := is.Issuer
		if e := is.Entra; e != nil {
			u = strings.TrimSuffix(e.Authority, "/") + "/" + e.Tenant + "/v2.0"
			if e.Authority == config.AuthorityDev {
				u = devIssuer
			}
		}
		if u != "" {
			byName[is.Name] = u
			if !slices.Contains(urls, u) {
				urls = append(urls, u)
			}
		}
	}
	for _, r := range f.AuthZ.Rules {
		if r.Effect != authz.EffectAllow {
			continue
		}
		for _, s := range r.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	return byName, urls, scopes
}
