package config

import (
	"net/url"
	"regexp"
	"strings"
)

// Gateway is the `gateway:` section: what the HTTP gateway serves.
type Gateway struct {
	// Listen is the host:port of `gatehouse serve`; "" means :8443. The
	// development gateway listens on dev.gateway instead.
	Listen string `yaml:"listen,omitempty"`
	// TLSCertFile and TLSKeyFile are the server certificate chain and key
	// (PEM) of `gatehouse serve`. Without them serve listens in plain HTTP,
	// allowed only on a loopback address (behind a TLS-terminating proxy
	// on the same host).
	TLSCertFile string `yaml:"tls_cert_file,omitempty"`
	TLSKeyFile  string `yaml:"tls_key_file,omitempty"`
	// PublicURL is the gateway's external URL, the resource of its RFC 9728
	// metadata; "" in dev means the development gateway's URL.
	PublicURL string `yaml:"public_url,omitempty"`
	// Routes map requests to targets.
	Routes []Route `yaml:"routes,omitempty"`
}

// Route is one route (`gateway.routes[]`).
type Route struct {
	// ID names the route in the audit trail; required, unique.
	ID string `yaml:"id"`
	// Method is the HTTP method; "" means any.
	Method string `yaml:"method,omitempty"`
	// Path is a path pattern: literal segments and {name} wildcards, a
	// final {name...} matching the rest; required.
	Path string `yaml:"path"`
	// Function is the Lambda function invoked (name or ARN); required.
	Function string `yaml:"function"`
	// Action is what the request asks of policy; "" means invoke.
	Action string `yaml:"action,omitempty"`
	// Role, when set, is the only logical role the route runs under.
	Role string `yaml:"role,omitempty"`
}

var (
	routeIDRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	pathSegRE   = regexp.MustCompile(`^([A-Za-z0-9._~!$&'()*+,=:@-]+|\{[A-Za-z_][A-Za-z0-9_]*(\.\.\.)?\})$`)
	methodRE    = regexp.MustCompile(`^[A-Z]{3,10}$`)
	reservedURL = map[string]bool{"/.well-known/oauth-protected-resource": true, "/healthz": true, "/readyz": true, "/metrics": true,
		"/.well-known/openid-configuration": true, "/keys.json": true}
)

func (v *validator) gateway(f *File) {
	g := &f.Gateway
	if g.PublicURL != "" {
		if u, err := url.Parse(g.PublicURL); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
			v.add("gateway.public_url", "%s: want an https URL", short(g.PublicURL))
		}
	}
	if (g.TLSCertFile == "") != (g.TLSKeyFile == "") {
		v.add("gateway.tls_key_file", "tls_cert_file and tls_key_file go together")
	}
	roles := map[string]bool{}
	for _, r := range f.AuthZ.Roles {
		roles[r.Name] = true
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
		if rt.Function == "" {
			v.add(p+".function", "is required: the function the route invokes")
		}
		if rt.Action != "" && rt.Action != "invoke" && rt.Action != "read" && rt.Action != "write" {
			v.add(p+".action", "%s: want invoke, read or write", short(rt.Action))
		}
		if rt.Role != "" && !roles[rt.Role] {
			v.add(p+".role", "%s is not a role of authz.roles", short(rt.Role))
		}
	}
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
