package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"gatehouse/audit"
	"gatehouse/authn"
	"gatehouse/authz"
	"gatehouse/config"
	"gatehouse/creds"
	"gatehouse/devkit/runtime"
	"gatehouse/gateway"
	"gatehouse/invoke"
)

// region is the AWS region of the configuration.
func region(f *config.File) string {
	if f.Creds.STS.Region != "" {
		return f.Creds.STS.Region
	}
	return "us-east-1"
}

// account is the AWS account of the configuration's roles.
func account(f *config.File) string {
	for _, r := range f.AuthZ.Roles {
		if a := accountOf(r.AWSRole); a != "" {
			return a
		}
	}
	return "000000000000"
}

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
func devFunctions(f *config.File, base string, env map[string]string) ([]runtime.Function, []string) {
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

// gatewayParts are the built steps the gateway runs.
type gatewayParts struct {
	verifier  *authn.Verifier
	policy    *authz.Engine
	broker    *creds.Broker
	recorder  *audit.Recorder
	pseudo    *audit.Pseudonymizer
	lambdaURL string // "" means AWS's endpoint
	client    *http.Client
	publicURL string
	issuers   []string          // the issuer URLs of the gateway's metadata
	issuerURL map[string]string // by authn issuer name, for the routes' metadata
	log       *slog.Logger
	// issuer signs the identity assertions upstreams receive.
	issuer *creds.Issuer
	// devUpstream is the development upstream's URL ("" outside dev).
	devUpstream string
}

// buildGateway turns gateway.routes into a gateway.Gateway.
func buildGateway(f *config.File, parts gatewayParts) (*gateway.Gateway, error) {
	routes, err := buildRoutes(f, parts)
	if err != nil {
		return nil, err
	}
	metrics := gateway.NewMetrics()
	metrics.WatchVerifier(parts.verifier.Stats)
	metrics.WatchBroker(parts.broker.Stats)
	metrics.WatchCounter("gatehouse_decision_cache_hits_total", "Policy decisions answered from the decision cache.",
		func() int64 { h, _ := parts.policy.CacheStats(); return h })
	metrics.WatchCounter("gatehouse_decisions_evaluated_total", "Policy decisions evaluated with Cedar.",
		func() int64 { _, m := parts.policy.CacheStats(); return m })
	scopes := ruleScopes(f)
	return gateway.New(gateway.Config{
		Routes: routes, Verifier: parts.verifier, Policy: parts.policy, Broker: parts.broker, Recorder: parts.recorder,
		Pseudonym: parts.pseudo.Principal, Logger: parts.log, ClaimsAllowed: f.Audit.Claims, Metrics: metrics,
		MaxRequestBytes: int64(f.Gateway.MaxRequestBytes), PublicURL: parts.publicURL,
		ReadHeaderTimeout: f.Gateway.ReadHeaderTimeout, ReadTimeout: f.Gateway.ReadTimeout,
		Metadata: gateway.ResourceMetadata{Resource: parts.publicURL, AuthorizationServers: parts.issuers, ScopesSupported: scopes, ResourceName: "gatehouse"},
	})
}

// buildRoutes builds each route's target: a Lambda function, or an HTTP
// upstream that gets gatehouse's signed identity assertion.
func buildRoutes(f *config.File, parts gatewayParts) ([]gateway.Route, error) {
	var routes []gateway.Route
	var errs []error
	for _, rt := range f.Gateway.Routes {
		route := gateway.Route{
			ID: rt.ID, Method: rt.Method, Host: rt.Host, Path: rt.Path, Role: rt.Role,
			Issuers: rt.Issuers, Audiences: rt.Audiences, Action: rt.Action,
		}
		if len(rt.Issuers) > 0 {
			// Its own RFC 9728 document: only its issuers.
			m := &gateway.ResourceMetadata{ScopesSupported: ruleScopes(f), ResourceName: rt.ID}
			for _, name := range rt.Issuers {
				if u := parts.issuerURL[name]; u != "" {
					m.AuthorizationServers = append(m.AuthorizationServers, u)
				}
			}
			route.Metadata = m
		}
		var err error
		pass := append(slices.Clone(f.Gateway.PassHeaders), rt.PassHeaders...)
		if rt.Upstream != nil {
			err = upstreamRoute(&route, rt.Upstream, pass, parts)
		} else {
			err = functionRoute(&route, f, rt.Function, pass, parts)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("gateway.routes %s: %w", rt.ID, err))
			continue
		}
		routes = append(routes, route)
	}
	return routes, errors.Join(errs...)
}

// ruleScopes are the scopes the allow rules grant on: what a client should
// ask for (scopes_supported of the RFC 9728 metadata).
func ruleScopes(f *config.File) []string {
	var out []string
	for _, r := range f.AuthZ.Rules {
		if r.Effect != "allow" {
			continue
		}
		for _, s := range r.Scopes {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// issuerURLs maps each authn issuer's name to the issuer clients get tokens
// from (for Entra, its v2.0 issuer; devIssuer for authority "dev").
func issuerURLs(f *config.File, devIssuer string) (map[string]string, []string) {
	m := map[string]string{}
	var list []string
	for _, is := range f.AuthN.Issuers {
		u := is.Issuer
		if e := is.Entra; e != nil {
			u = strings.TrimSuffix(e.Authority, "/") + "/" + e.Tenant + "/v2.0"
			if e.Authority == config.AuthorityDev {
				u = devIssuer
			}
		}
		if u != "" {
			m[is.Name] = u
			if !slices.Contains(list, u) {
				list = append(list, u)
			}
		}
	}
	return m, list
}

func functionRoute(route *gateway.Route, f *config.File, function string, pass []string, parts gatewayParts) error {
	target, err := invoke.NewLambda(invoke.LambdaConfig{
		Function: function, Region: region(f), Endpoint: parts.lambdaURL, HTTPClient: parts.client,
		Timeout: functionTimeout(f, function) + 5*time.Second, PassHeaders: pass,
	})
	if err != nil {
		return err
	}
	arn := function
	if !strings.HasPrefix(arn, "arn:") {
		arn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region(f), account(f), function)
	}
	name := config.FunctionName(function) // what validation checked roles against
	if route.Action == "" {
		route.Action = authz.ActionInvoke
	}
	route.Target, route.TargetName = target, name
	route.Resource = authz.Resource{Kind: authz.ResourceFunction, Name: name}
	route.SessionPolicy = creds.InvokePolicy(arn)
	return nil
}

func upstreamRoute(route *gateway.Route, u *config.Upstream, pass []string, parts gatewayParts) error {
	base := u.URL
	if base == config.UpstreamDev {
		if parts.devUpstream == "" {
			return errors.New(`upstream url "dev" names the development upstream, which only 'gatehouse dev' runs`)
		}
		base = parts.devUpstream
	}
	if parts.issuer == nil {
		return errors.New("an upstream needs gatehouse's issuer (creds.issuer) to sign the identity assertion it receives")
	}
	issuer := parts.issuer
	target, err := invoke.NewHTTP(invoke.HTTPConfig{
		URL: base, Audience: u.Audience, Timeout: u.Timeout, Logger: parts.log, PassHeaders: pass,
		Assert: func(p *authn.Principal, audience, role string) (string, error) {
			return issuer.Assertion(p, audience, role, time.Now())
		},
	})
	if err != nil {
		return err
	}
	route.Target, route.TargetName = target, route.ID
	route.Resource = authz.Resource{Kind: authz.ResourceRoute, Name: route.ID}
	route.NoCredentials = true
	return nil
}

func functionTimeout(f *config.File, name string) time.Duration {
	for _, fn := range f.Dev.Lambda.Functions {
		if fn.Name == name && fn.Timeout > 0 {
			return fn.Timeout
		}
	}
	return 3 * time.Second
}
