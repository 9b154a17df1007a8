package config

import (
	"net"
	"slices"
)

// Where names where a configuration runs: each place has checks of its
// own beyond Validate's.
type Where string

const (
	// WhereServe is `gatehouse serve`: real identity providers, STS and
	// Lambda.
	WhereServe Where = "serve"
	// WhereDev is `gatehouse dev`: the local loop.
	WhereDev Where = "dev"
	// WhereLambda is a function that checks its callers (gatehouse/lambdaauth
	// middleware, through gatehouse/lambdaconfig).
	WhereLambda Where = "lambda"
	// WhereAuthorizer is an API Gateway Lambda authorizer: a function that
	// obtains no credentials for its callers and decides gateway.routes.
	WhereAuthorizer Where = "authorizer"
)

// CheckFor reports every problem f has for running where w says, all at
// once, each naming its field. ParseFor and LoadFor run it too, naming
// the file and line. Like Validate it does no I/O: a file named here is
// not read.
func (f *File) CheckFor(w Where) error { return joinProblems(f.checkFor(w)) }

func (f *File) checkFor(w Where) []*Problem {
	var v validator
	switch w {
	case WhereServe:
		v.serve(f)
	case WhereDev:
		if len(f.Dev.IDP.Tenants) == 0 {
			v.add("dev.idp.tenants", "has no tenant: the development IdP would have nobody to sign in")
		}
	case WhereLambda, WhereAuthorizer:
		v.lambda(f, w == WhereAuthorizer)
	}
	return v.problems
}

// serve: what `gatehouse serve` needs that `gatehouse dev` provides.
func (v *validator) serve(f *File) {
	if len(f.Gateway.Routes) == 0 {
		v.add("gateway.routes", "is empty: serve would have nothing to serve")
	}
	for i, is := range f.AuthN.Issuers {
		if is.Entra != nil && is.Entra.Authority == AuthorityDev {
			v.add(indexPath("authn.issuers", i)+".entra.authority", `"dev" names the development IdP of 'gatehouse dev': give your Entra authority, such as %s`, AuthorityMicrosoft)
		}
	}
	if c := f.Secrets.Azure.Client; c != nil && c.Authority == AuthorityDev {
		v.add("secrets.azure.client.authority", `"dev" names the development IdP of 'gatehouse dev': give your Entra authority, such as %s`, AuthorityMicrosoft)
	}
	for _, e := range [][2]string{{"secrets.aws.endpoint", f.Secrets.AWS.Endpoint}, {"secrets.aws.kms_endpoint", f.Secrets.AWS.KMSEndpoint}} {
		if e[1] == EndpointDev {
			v.add(e[0], `"dev" names a local service of 'gatehouse dev': leave it empty for AWS's regional endpoint, or give the URL`)
		}
	}
	if f.Creds.STS.Endpoint == EndpointDev {
		v.add("creds.sts.endpoint", `"dev" names the local STS of 'gatehouse dev': leave it empty for AWS's regional endpoint`)
	}
	if f.NeedsIssuer() {
		if f.Creds.Issuer.URL == "" {
			v.add("creds.issuer.url", "is required: broker mode and HTTP upstreams need gatehouse's own issuer, at a public https URL AWS and upstreams can fetch its keys from")
		}
		if f.Creds.Issuer.KeyDir == "" {
			v.add("creds.issuer.key_dir", "is required: the directory that holds gatehouse's issuer signing keys")
		}
	}
	for i, rt := range f.Gateway.Routes {
		if rt.Upstream != nil && rt.Upstream.URL == UpstreamDev {
			v.add(indexPath("gateway.routes", i)+".upstream.url", `"dev" names the development upstream of 'gatehouse dev': give the service's URL`)
		}
	}
	a := &f.Audit
	if a.Sink == "sqlite" && a.Path == "" {
		v.add("audit.path", "is required for the sqlite sink: the trail's database file")
	}
	if a.KeyFile == "" && a.Key.IsZero() {
		v.add("audit.key_file", "is required: the pseudonym key (at least 32 random bytes), a file readable by gatehouse alone (or audit.key: a secret reference)")
	}
	if a.SigningKeyFile == "" && a.SigningKey.IsZero() {
		v.add("audit.signing_key_file", "is required: the PKCS#8 PEM key (Ed25519, ECDSA or RSA) that signs the trail's checkpoints (or audit.signing_key: a key in AWS KMS or Azure Key Vault)")
	}
	if a.OnUnavailable == "spool" && a.SpoolDir == "" {
		v.add("audit.spool_dir", "is required with on_unavailable: spool")
	}
	if !f.Gateway.TLSEnabled() {
		host, _, err := net.SplitHostPort(f.Gateway.ListenAddr())
		if err != nil || !isLoopback(host) {
			v.add("gateway.listen", "%s: without tls_cert_file and tls_key_file, serve listens only on a loopback address (behind a TLS-terminating proxy on the same host): bearer tokens never cross a network in clear (tls_key may name the key, with its chain, by secret reference instead)", short(f.Gateway.ListenAddr()))
		}
	}
}

// lambda: what a function can and cannot do with the file.
func (v *validator) lambda(f *File, authorizer bool) {
	if !authorizer {
		for _, r := range f.CredsRoles() {
			if string(r.Mode) == ModeBroker {
				field := "creds.mode"
				if i := slices.IndexFunc(f.Creds.Roles, func(c CredsRole) bool { return c.Role == r.Name && c.Mode != "" }); i >= 0 {
					field = indexPath("creds.roles", i) + ".mode"
				}
				v.add(field, "role %s is in broker mode, which needs gatehouse's own issuer key: a function uses web_identity (the caller's token) or assume_role (its execution role)", r.Name)
			}
		}
	}
	a := &f.Audit
	switch {
	case a.Sink != "jsonl":
		v.add("audit.sink", "%s: a function writes its trail as JSON lines to standard output (CloudWatch Logs): set sink: jsonl", short(a.Sink))
	case a.OnUnavailable != "fail_closed":
		v.add("audit.on_unavailable", "%s: a function has no durable spool: use fail_closed", short(a.OnUnavailable))
	}
	// audit.key_file may come from code instead (lambdaconfig.Options): that
	// package checks it.
	if !authorizer {
		return
	}
	for i, rt := range f.Gateway.Routes {
		if rt.Upstream != nil && rt.Action == "" && rt.Method == "" {
			v.add(indexPath("gateway.routes", i), "route %s: an authorizer decides a route's action before it knows the method: give the route a method or an action", rt.ID)
		}
	}
}

// NeedsIssuer reports whether gatehouse's own issuer is needed: for broker
// mode credentials, and to sign the assertions HTTP upstreams receive.
func (f *File) NeedsIssuer() bool {
	for _, r := range f.CredsRoles() {
		if string(r.Mode) == ModeBroker {
			return true
		}
	}
	return slices.ContainsFunc(f.Gateway.Routes, func(rt Route) bool { return rt.Upstream != nil })
}

// ListenAddr is the address `gatehouse serve` listens on: gateway.listen,
// else DefaultServeListen.
func (g *Gateway) ListenAddr() string {
	if g.Listen == "" {
		return DefaultServeListen
	}
	return g.Listen
}

// DefaultServeListen is serve's address when gateway.listen is "": every
// interface, port 8443 (with TLS).
const DefaultServeListen = ":8443"
