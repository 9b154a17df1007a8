package config

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/wildcard"
	"github.com/gatehouse-dev/gatehouse/invoke"
)

// Gateway is the `gateway:` section: what the HTTP gateway serves.
type Gateway struct {
	// Listen is the host:port of `gatehouse serve`; "" means :8443. The
	// development gateway listens on dev.gateway instead.
	Listen string `yaml:"listen,omitempty"`
	// TLSCertFile is the server certificate chain (PEM, leaf first) of
	// `gatehouse serve`; "" means the chain is in the key's PEM, after or
	// before the key (as Key Vault's certificate-backed secrets and
	// cert-manager's combined files hold it). When set, it is the chain
	// served, and certificates in the key's PEM are ignored. Read again on
	// the secrets schedule, with the key.
	TLSCertFile string `yaml:"tls_cert_file,omitempty"`
	// TLSKeyFile is a file holding the server's private key (PEM); the
	// same as TLSKey: {file: ...}.
	TLSKeyFile string `yaml:"tls_key_file,omitempty"`
	// TLSKey is where the server's private key lives (PEM, alone or with
	// its certificate chain), as a secret reference. A rotated key (and
	// certificate) is served to new connections from the next refresh
	// on; a key and certificate that do not match are never served.
	// Without a key serve listens in plain HTTP, allowed only on a
	// loopback address (behind a TLS-terminating proxy on the same host).
	TLSKey SecretRef `yaml:"tls_key,omitempty"`
	// PublicURL is the gateway's external URL, the resource of its RFC 9728
	// metadata; "" in dev means the development gateway's URL.
	PublicURL string `yaml:"public_url,omitempty"`
	// MaxRequestBytes bounds a request body; "" or 0 means 6 MiB (Lambda's
	// own limit for a synchronous invocation). Larger bodies get 413.
	MaxRequestBytes int `yaml:"max_request_bytes,omitempty"`
	// ReadHeaderTimeout bounds a request's line and headers (and the TLS
	// handshake); 0 means 10s. ReadTimeout bounds the whole request, body
	// included (a body that stops arriving gets 408); 0 means 30s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout,omitempty"`
	ReadTimeout       time.Duration `yaml:"read_timeout,omitempty"`
	// AdminListen is the host:port of the admin listener, which serves
	// /metrics, /healthz and /readyz for operators (never on the public
	// listener); "" means DefaultAdminListen for serve and a free loopback
	// port for dev (the banner and the ready file name it); "off" means
	// none.
	AdminListen string `yaml:"admin_listen,omitempty"`
	// Lambda says where the functions of routes are invoked.
	Lambda LambdaEndpoint `yaml:"lambda,omitempty"`
	// PassHeaders are request headers every route passes to its target
	// besides the standard ones (content negotiation, conditionals,
	// caching, cookies, CORS, fetch metadata, WebSocket, tracing): names,
	// or prefixes ending in '*'. A header that claims an identity, a
	// client address, host or scheme, or a credential cannot be passed.
	PassHeaders []string `yaml:"pass_headers,omitempty"`
	// Routes map requests to targets.
	Routes []Route `yaml:"routes,omitempty"`
}

// Route is one route (`gateway.routes[]`).
type Route struct {
	// ID names the route in the audit trail; required, unique.
	ID string `yaml:"id"`
	// Method is the HTTP method; "" means any.
	Method string `yaml:"method,omitempty"`
	// Host, when set, is the only Host the route answers (exact, without
	// port); "" means any host.
	Host string `yaml:"host,omitempty"`
	// Path is a path pattern: literal segments and {name} wildcards, a
	// final {name...} matching the rest; required.
	Path string `yaml:"path"`
	// Function is the Lambda function invoked (name or ARN). A route has
	// exactly one of Function and Upstream.
	Function string `yaml:"function,omitempty"`
	// Upstream is the HTTP service the route proxies to.
	Upstream *Upstream `yaml:"upstream,omitempty"`
	// Issuers, when set, are the only authn.issuers (by name) whose tokens
	// the route accepts; "" means every configured issuer.
	Issuers []string `yaml:"issuers,omitempty"`
	// Audiences, when set, narrow the accepted `aud` values for this route
	// (each must be an audience of an accepted issuer).
	Audiences []string `yaml:"audiences,omitempty"`
	// Action is what the request asks of policy; "" means invoke for a
	// function, and for an upstream read (GET, HEAD, OPTIONS requests) or
	// write (any other method).
	Action string `yaml:"action,omitempty"`
	// Role, when set, is the only logical role the route runs under.
	Role string `yaml:"role,omitempty"`
	// PassHeaders are request headers this route passes besides the
	// standard ones and gateway.pass_headers.
	PassHeaders []string `yaml:"pass_headers,omitempty"`
}

// LambdaEndpoint locates the Lambda Invoke API.
type LambdaEndpoint struct {
	// Endpoint overrides the Lambda URL; "" means AWS's regional endpoint
	// (in creds.sts.region). A local Lambda host (that of `gatehouse dev`)
	// is one; it checks the calls' signatures against its own STS.
	Endpoint string `yaml:"endpoint,omitempty"`
	// CAFile adds CA certificates (PEM) to trust at Endpoint.
	CAFile string `yaml:"ca_file,omitempty"`
}

// DefaultAdminListen is the admin listener of `gatehouse serve` when
// gateway.admin_listen is "": loopback only.
const DefaultAdminListen = "127.0.0.1:9447"

// AdminOff as gateway.admin_listen turns the admin listener off.
const AdminOff = "off"

// Upstream is an HTTP service behind a route. It receives the request
// without the caller's token or any identity header the caller sent, and
// with X-Gatehouse-Assertion: a short-lived JWT from gatehouse's issuer
// (creds.issuer) whose audience is Audience.
type Upstream struct {
	// URL is the service's base URL (http or https); its path is a prefix
	// of the forwarded path. "dev" names the development upstream that
	// `gatehouse dev` runs (dev.upstream).
	URL string `yaml:"url"`
	// Audience is the assertion's `aud`; "" means URL's origin.
	Audience string `yaml:"audience,omitempty"`
	// Timeout is the time to the upstream's response headers; 0 means 30s.
	Timeout time.Duration `yaml:"timeout,omitempty"`
}

var (
	routeIDRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	pathSegRE   = regexp.MustCompile(`^([A-Za-z0-9._~!$&'()*+,=:@-]+|\{[A-Za-z_][A-Za-z0-9_]*(\.\.\.)?\})$`)
	methodRE    = regexp.MustCompile(`^[A-Z]{3,10}$`)
	hostRE      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))*$`)
	reservedURL = map[string]bool{"/.well-known/oauth-protected-resource": true, "/healthz": true, "/readyz": true,
		"/.well-known/openid-configuration": true, "/keys.json": true}
)

func (v *validator) gateway(f *File) {
	g := &f.Gateway
	if g.PublicURL != "" {
		if u, err := url.Parse(g.PublicURL); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
			v.add("gateway.public_url", "%s: want an https URL", short(g.PublicURL))
		}
	}
	v.gatewayTLS(g)
	roles := map[string]bool{}
	for _, r := range f.AuthZ.Roles {
		roles[r.Name] = true
	}
	issuers := map[string]bool{}
	for _, is := range f.AuthN.Issuers {
		issuers[is.Name] = true
	}
	if g.MaxRequestBytes < 0 {
		v.add("gateway.max_request_bytes", "must not be negative")
	}
	if g.ReadHeaderTimeout < 0 || g.ReadHeaderTimeout > 5*time.Minute {
		v.add("gateway.read_header_timeout", "want 0 (10s) to 5m")
	}
	if g.ReadTimeout < 0 || g.ReadTimeout > time.Hour {
		v.add("gateway.read_timeout", "want 0 (30s) to 1h")
	}
	if g.AdminListen != "" && g.AdminListen != AdminOff {
		if _, port, err := net.SplitHostPort(g.AdminListen); err != nil || port == "" {
			v.add("gateway.admin_listen", "%s: want host:port (127.0.0.1:9447, or :9447 on every interface), or off", short(g.AdminListen))
		}
	}
	v.passHeaders("gateway.pass_headers", g.PassHeaders)
	if g.Lambda.Endpoint != "" {
		if u, err := url.Parse(g.Lambda.Endpoint); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
			v.add("gateway.lambda.endpoint", "%s: want an https URL (http only on a loopback address)", short(g.Lambda.Endpoint))
		}
	}
	seen := map[string]string{}
	for i, rt := range g.Routes {
		p := indexPath("gateway.routes", i)
		if !routeIDRE.MatchString(rt.ID) {
			v.add(p+".id", "%s: want lower-case letters, digits, '.', '_' or '-'", short(rt.ID))
		}
		v.unique(seen, rt.ID, p+".id", "route id")
		if rt.Method != "" && !methodRE.MatchString(rt.Method) {
			v.add(p+".method", "%s: want an upper-case HTTP method such as GET", short(rt.Method))
		}
		if msg := checkRoutePath(rt.Path); msg != "" {
			v.add(p+".path", "%s", msg)
		}
		switch {
		case rt.Function == "" && rt.Upstream == nil:
			v.add(p+".function", "a route needs a function or an upstream")
		case rt.Function != "" && rt.Upstream != nil:
			v.add(p+".upstream", "a route has a function or an upstream, not both")
		case rt.Upstream != nil:
			v.upstream(p+".upstream", rt.Upstream)
		}
		v.passHeaders(p+".pass_headers", rt.PassHeaders)
		if rt.Host != "" && !hostRE.MatchString(rt.Host) {
			v.add(p+".host", "%s: want a lower-case DNS name without port", short(rt.Host))
		}
		for j, name := range rt.Issuers {
			if !issuers[name] {
				v.add(indexPath(p+".issuers", j), "%s is not an issuer of authn.issuers", short(name))
			}
		}
		for j, aud := range rt.Audiences {
			if !routeAudience(f, rt.Issuers, aud) {
				v.add(indexPath(p+".audiences", j), "%s is not an audience of the route's issuers: tokens for it would never verify", short(aud))
			}
		}
		if rt.Action != "" && rt.Action != "invoke" && rt.Action != "read" && rt.Action != "write" {
			v.add(p+".action", "%s: want invoke, read or write", short(rt.Action))
		}
		if rt.Role != "" && !roles[rt.Role] {
			v.add(p+".role", "%s is not a role of authz.roles", short(rt.Role))
		} else if len(f.AuthZ.PolicyFiles) == 0 && !reached(f, rt) {
			// Fail closed would deny every request: a mistake to say at start.
			v.add(p, "no role of authz.roles reaches this route (%s): every request would be denied", routeReach(rt))
		}
	}
}

// gatewayTLS checks the server's key and certificate fields; whether the
// key's PEM carries a chain is known only when it is read (serve --check).
func (v *validator) gatewayTLS(g *Gateway) {
	if g.TLSKeyFile != "" && !g.TLSKey.IsZero() {
		v.add("gateway.tls_key", "and gateway.tls_key_file both name the TLS key: keep one")
	}
	v.secretRef("gateway.tls_key", g.TLSKey)
	if g.TLSCertFile != "" && !g.TLSEnabled() {
		v.add("gateway.tls_cert_file", "names a certificate without its key: set tls_key_file (or tls_key, a secret reference)")
	}
}

// TLSEnabled reports whether serve listens with TLS: a key is named, by
// tls_key or tls_key_file.
func (g *Gateway) TLSEnabled() bool { return g.TLSKeyFile != "" || !g.TLSKey.IsZero() }

// TLSKeyField is the field that names the TLS key as the file writes it:
// gateway.tls_key_file when that is set, else gateway.tls_key.
func (g *Gateway) TLSKeyField() string {
	if g.TLSKeyFile != "" && g.TLSKey.IsZero() {
		return "gateway.tls_key_file"
	}
	return "gateway.tls_key"
}

// passHeaders reports each header a route may not pass.
func (v *validator) passHeaders(field string, names []string) {
	for i, name := range names {
		if err := invoke.CheckPassHeader(name); err != nil {
			v.add(indexPath(field, i), "%v", err)
		}
	}
}

// UpstreamDev as an upstream URL names the development upstream.
const UpstreamDev = "dev"

func (v *validator) upstream(field string, u *Upstream) {
	if u.URL == UpstreamDev {
		return
	}
	pu, err := url.Parse(u.URL)
	switch {
	case err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https"):
		v.add(field+".url", "%s: want an http or https URL", short(u.URL))
	case pu.User != nil || pu.RawQuery != "" || pu.Fragment != "":
		v.add(field+".url", "%s: no user info, query or fragment", short(u.URL))
	}
	if u.Timeout < 0 {
		v.add(field+".timeout", "must not be negative")
	}
}

// reached reports whether a role (the route's, if it names one) may do the
// route's action on its resource: the function for a function route, the
// route id for an upstream.
func reached(f *File, rt Route) bool {
	for _, r := range f.AuthZ.Roles {
		if rt.Role != "" && r.Name != rt.Role {
			continue
		}
		names, target := r.Functions, FunctionName(rt.Function)
		if rt.Upstream != nil {
			names, target = r.Routes, rt.ID
		}
		if !slices.ContainsFunc(names, func(n string) bool { return wildcard.Match(n, target) }) {
			continue
		}
		if rt.Action == "" && rt.Upstream != nil {
			return len(r.Actions) > 0 // read or write by method
		}
		act := rt.Action
		if act == "" {
			act = "invoke"
		}
		if slices.Contains(r.Actions, act) {
			return true
		}
	}
	return false
}

func routeReach(rt Route) string {
	if rt.Upstream != nil {
		return "routes: [" + rt.ID + "]"
	}
	return "functions: [" + FunctionName(rt.Function) + "]"
}

// FunctionName is a function's name from its name or ARN, without a
// version or alias qualifier: the resource policy decides on.
func FunctionName(fn string) string {
	if i := strings.LastIndex(fn, ":function:"); i >= 0 {
		fn = fn[i+len(":function:"):]
	}
	if i := strings.IndexByte(fn, ':'); i >= 0 {
		fn = fn[:i] // a version or alias qualifier
	}
	return fn
}

// routeAudience reports whether aud is accepted by one of the route's
// issuers (all issuers when the route names none).
func routeAudience(f *File, names []string, aud string) bool {
	for _, is := range f.AuthN.Issuers {
		if len(names) > 0 && !slices.Contains(names, is.Name) {
			continue
		}
		if slices.Contains(is.Audiences, aud) {
			return true
		}
	}
	return false
}

func checkRoutePath(p string) string {
	if p == "" || p[0] != '/' {
		return "must start with /"
	}
	if reservedURL[p] {
		return "is served by the gateway itself"
	}
	if p == "/" {
		return ""
	}
	segs := strings.Split(strings.TrimSuffix(p[1:], "/"), "/")
	for i, s := range segs {
		if s == "." || s == ".." || !pathSegRE.MatchString(s) {
			return "segment " + short(s) + " is not a literal or a {name} wildcard"
		}
		if strings.HasSuffix(s, "...}") && i != len(segs)-1 {
			return "a {name...} wildcard must be the last segment"
		}
	}
	return ""
}
