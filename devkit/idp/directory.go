package idp

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// directory is the validated, indexed form of Config.Tenants. It is built
// once by New and never changes; requests only read it.
type directory struct {
	tenants []*tenant
	byName  map[string]*tenant // lower-case tenant GUID and domain
}

type tenant struct {
	Tenant                     // as configured, defaults applied (App.AppIDURI)
	users    []*user           // in configuration order (the sign-in page lists them so)
	byOID    map[string]*user  // lower-case object id
	byUPN    map[string]*user  // lower-case user principal name
	byClient map[string]*app   // lower-case client id
	byName   map[string]*app   // app name, exact
	byURI    map[string]*app   // App ID URI without trailing slash
	groupIDs map[string]string // lower-case object id -> object id
}

type user struct {
	User
	groups []string            // group object ids
	roles  map[string][]string // lower-case resource client id -> app role values
}

type app struct {
	App
	certs  []appCert
	grants map[string]Permission // lower-case resource client id -> what this client was granted
}

// appCert is a certificate registered for client assertions, with the
// thumbprints clients name it by (x5t, x5t#S256).
type appCert struct {
	cert   *x509.Certificate
	key    *rsa.PublicKey
	sha1   []byte
	sha256 []byte
}

// confidential reports whether the app has a credential; such an app must
// present it unless it also allows public client flows.
func (a *app) confidential() bool { return len(a.Secrets) > 0 || len(a.certs) > 0 }

// allowsPublic reports whether the app may use user flows without a credential.
func (a *app) allowsPublic() bool { return !a.confidential() || a.PublicClient }

// hasScope reports whether the API exposes the delegated permission name.
func (a *app) hasScope(name string) bool { return slices.Contains(a.Scopes, name) }

// lookup finds a tenant by GUID or domain, case-insensitively (MSAL
// lower-cases the authority).
func (d *directory) lookup(name string) *tenant { return d.byName[strings.ToLower(name)] }

// app finds an app of the tenant by client id (case-insensitive) or name.
func (t *tenant) app(ref string) *app {
	if a := t.byClient[strings.ToLower(ref)]; a != nil {
		return a
	}
	return t.byName[ref]
}

// resource finds the API a scope's resource part names: its App ID URI
// (with or without a trailing slash) or its client id.
func (t *tenant) resource(id string) *app {
	if a := t.byClient[strings.ToLower(id)]; a != nil {
		return a
	}
	return t.byURI[strings.TrimSuffix(id, "/")]
}

// name is what error messages call the tenant.
func (t *tenant) name() string {
	if t.Domain != "" {
		return t.Domain
	}
	return t.ID
}

var (
	domainPattern   = regexp.MustCompile(`^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$`)
	namePattern     = regexp.MustCompile(`^[!#-\[\]-~]+$`) // printable ASCII without space, '"' and '\'
	reservedTenants = []string{"common", "organizations", "consumers", "adfs", "dstsv2"}
)

// problems collects configuration errors, each naming its field path.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// newDirectory validates the tenants and indexes them. Every problem is
// reported, joined.
func newDirectory(tenants []Tenant) (*directory, error) {
	var bad problems
	d := &directory{byName: map[string]*tenant{}}
	if len(tenants) == 0 {
		bad.add("Tenants", "at least one tenant is required")
	}
	for ti, tc := range tenants {
		tp := fmt.Sprintf("Tenants[%d]", ti)
		t := &tenant{Tenant: tc, byOID: map[string]*user{}, byUPN: map[string]*user{},
			byClient: map[string]*app{}, byName: map[string]*app{}, byURI: map[string]*app{}, groupIDs: map[string]string{}}
		t.Apps = slices.Clone(tc.Apps)
		switch {
		case !isGUID(tc.ID):
			bad.add(tp+".ID", "%q is not a GUID", tc.ID)
		case d.byName[strings.ToLower(tc.ID)] != nil:
			bad.add(tp+".ID", "duplicate tenant %q", tc.ID)
		default:
			d.byName[strings.ToLower(tc.ID)] = t
		}
		if tc.Domain != "" {
			switch {
			case !domainPattern.MatchString(tc.Domain) || isGUID(tc.Domain):
				bad.add(tp+".Domain", "%q is not a domain name", tc.Domain)
			case slices.Contains(reservedTenants, strings.ToLower(tc.Domain)):
				bad.add(tp+".Domain", "%q is a reserved tenant alias", tc.Domain)
			case d.byName[strings.ToLower(tc.Domain)] != nil:
				bad.add(tp+".Domain", "duplicate tenant %q", tc.Domain)
			default:
				d.byName[strings.ToLower(tc.Domain)] = t
			}
		}
		b := tenantBuilder{t: t, tp: tp, bad: &bad, objectIDs: map[string]string{}, groupsByName: map[string][]string{}}
		b.groups()
		apps := b.apps() // before users and permissions, which refer to apps
		b.permissions(apps)
		b.users()
		d.tenants = append(d.tenants, t)
	}
	if err := errors.Join(bad...); err != nil {
		return nil, err
	}
	return d, nil
}

// tenantBuilder validates and indexes one tenant.
type tenantBuilder struct {
	t            *tenant
	tp           string // the tenant's field path
	bad          *problems
	objectIDs    map[string]string   // lower-case object id -> path that defined it
	groupsByName map[string][]string // display name -> object ids
}

// objectID checks that id is a GUID no other user, group or app uses.
func (b *tenantBuilder) objectID(path, id string) {
	switch {
	case !isGUID(id):
		b.bad.add(path, "%q is not a GUID", id)
	case b.objectIDs[strings.ToLower(id)] != "":
		b.bad.add(path, "object id %q is already used by %s", id, b.objectIDs[strings.ToLower(id)])
	default:
		b.objectIDs[strings.ToLower(id)] = path
	}
}

func (b *tenantBuilder) groups() {
	for gi, g := range b.t.Groups {
		gp := fmt.Sprintf("%s.Groups[%d]", b.tp, gi)
		b.objectID(gp+".ObjectID", g.ObjectID)
		if g.DisplayName == "" {
			b.bad.add(gp+".DisplayName", "required")
		}
		b.t.groupIDs[strings.ToLower(g.ObjectID)] = g.ObjectID
		b.groupsByName[g.DisplayName] = append(b.groupsByName[g.DisplayName], g.ObjectID)
	}
}

func (b *tenantBuilder) apps() []*app {
	t, bad := b.t, b.bad
	var apps []*app
	for ai := range t.Apps {
		if t.Apps[ai].AppIDURI == "" {
			t.Apps[ai].AppIDURI = "api://" + t.Apps[ai].ClientID
		}
		a := &app{App: t.Apps[ai], grants: map[string]Permission{}}
		ap := fmt.Sprintf("%s.Apps[%d]", b.tp, ai)
		switch {
		case !namePattern.MatchString(a.Name):
			bad.add(ap+".Name", "%q is not a name (printable, no spaces)", a.Name)
		case t.byName[a.Name] != nil:
			bad.add(ap+".Name", "duplicate app name %q", a.Name)
		default:
			t.byName[a.Name] = a
		}
		switch {
		case !isGUID(a.ClientID):
			bad.add(ap+".ClientID", "%q is not a GUID", a.ClientID)
		case t.byClient[strings.ToLower(a.ClientID)] != nil:
			bad.add(ap+".ClientID", "duplicate client id %q", a.ClientID)
		default:
			t.byClient[strings.ToLower(a.ClientID)] = a
		}
		b.objectID(ap+".ObjectID", a.ObjectID)
		if u, err := url.Parse(a.AppIDURI); err != nil || u.Scheme == "" || u.Fragment != "" || strings.ContainsAny(a.AppIDURI, " \t\r\n") {
			bad.add(ap+".AppIDURI", "%q is not an absolute URI", a.AppIDURI)
		} else if key := strings.TrimSuffix(a.AppIDURI, "/"); t.byURI[key] != nil {
			bad.add(ap+".AppIDURI", "duplicate App ID URI %q", a.AppIDURI)
		} else {
			t.byURI[key] = a
		}
		for si, s := range a.Secrets {
			if s == "" {
				bad.add(fmt.Sprintf("%s.Secrets[%d]", ap, si), "empty secret")
			}
		}
		for ci, c := range a.Certificates {
			ac, err := parseAppCert(c)
			if err != nil {
				bad.add(fmt.Sprintf("%s.Certificates[%d]", ap, ci), "%v", err)
				continue
			}
			a.certs = append(a.certs, ac)
		}
		for ri, ru := range a.RedirectURIs {
			if err := checkRedirectURI(ru); err != nil {
				bad.add(fmt.Sprintf("%s.RedirectURIs[%d]", ap, ri), "%v", err)
			}
		}
		for si, s := range a.Scopes {
			if !namePattern.MatchString(s) || strings.Contains(s, "/") || isOIDCScope(s) || s == ".default" {
				bad.add(fmt.Sprintf("%s.Scopes[%d]", ap, si), "%q is not a scope name", s)
			} else if slices.Index(a.Scopes, s) != si {
				bad.add(fmt.Sprintf("%s.Scopes[%d]", ap, si), "duplicate scope %q", s)
			}
		}
		for ri, role := range a.AppRoles {
			rp := fmt.Sprintf("%s.AppRoles[%d]", ap, ri)
			if !namePattern.MatchString(role.Value) {
				bad.add(rp+".Value", "%q is not a role value (printable, no spaces)", role.Value)
			} else if slices.IndexFunc(a.AppRoles, func(o AppRole) bool { return o.Value == role.Value }) != ri {
				bad.add(rp+".Value", "duplicate role %q", role.Value)
			}
			for _, m := range role.MemberTypes {
				if m != memberUser && m != memberApplication {
					bad.add(rp+".MemberTypes", "%q is neither %q nor %q", m, memberUser, memberApplication)
				}
			}
		}
		if a.AccessTokenVersion < 0 || a.AccessTokenVersion > 2 {
			bad.add(ap+".AccessTokenVersion", "%d is not 1 or 2 (0 means 2)", a.AccessTokenVersion)
		}
		if a.GroupOverageLimit < 0 {
			bad.add(ap+".GroupOverageLimit", "negative")
		}
		apps = append(apps, a)
	}
	return apps
}

func (b *tenantBuilder) permissions(apps []*app) {
	for ai, a := range apps {
		for pi, p := range a.Permissions {
			pp := fmt.Sprintf("%s.Apps[%d].Permissions[%d]", b.tp, ai, pi)
			res := b.t.app(p.Resource)
			if res == nil {
				b.bad.add(pp+".Resource", "no app %q (name or client id) in the tenant", p.Resource)
				continue
			}
			key := strings.ToLower(res.ClientID)
			if _, dup := a.grants[key]; dup {
				b.bad.add(pp+".Resource", "second permission entry for %q", p.Resource)
				continue
			}
			for _, s := range p.Scopes {
				if !res.hasScope(s) {
					b.bad.add(pp+".Scopes", "app %q exposes no scope %q", res.Name, s)
				}
			}
			for _, r := range p.Roles {
				if !res.hasRole(r, memberApplication) {
					b.bad.add(pp+".Roles", "app %q defines no role %q for applications", res.Name, r)
				}
			}
			a.grants[key] = p
		}
	}
}

func (b *tenantBuilder) users() {
	t, bad := b.t, b.bad
	for ui, uc := range t.Users {
		up := fmt.Sprintf("%s.Users[%d]", b.tp, ui)
		u := &user{User: uc, roles: map[string][]string{}}
		b.objectID(up+".ObjectID", uc.ObjectID)
		t.byOID[strings.ToLower(uc.ObjectID)] = u
		upn := uc.UserPrincipalName
		if at := strings.LastIndexByte(upn, '@'); at <= 0 || at == len(upn)-1 || !namePattern.MatchString(upn) {
			bad.add(up+".UserPrincipalName", "%q is not a user principal name (name@domain)", upn)
		} else if t.byUPN[strings.ToLower(upn)] != nil {
			bad.add(up+".UserPrincipalName", "duplicate user %q", upn)
		} else {
			t.byUPN[strings.ToLower(upn)] = u
		}
		for gi, ref := range uc.Groups {
			gp := fmt.Sprintf("%s.Groups[%d]", up, gi)
			if id, ok := t.groupIDs[strings.ToLower(ref)]; ok {
				u.groups = append(u.groups, id)
				continue
			}
			switch ids := b.groupsByName[ref]; len(ids) {
			case 0:
				bad.add(gp, "no group %q (object id or display name) in the tenant", ref)
			case 1:
				u.groups = append(u.groups, ids[0])
			default:
				bad.add(gp, "display name %q names %d groups; use the object id", ref, len(ids))
			}
		}
		for _, ref := range sortedKeys(uc.AppRoles) {
			rp := fmt.Sprintf("%s.AppRoles[%q]", up, ref)
			res := t.app(ref)
			if res == nil {
				bad.add(rp, "no app %q (name or client id) in the tenant", ref)
				continue
			}
			for _, r := range uc.AppRoles[ref] {
				if !res.hasRole(r, memberUser) {
					bad.add(rp, "app %q defines no role %q for users", res.Name, r)
				}
			}
			key := strings.ToLower(res.ClientID)
			u.roles[key] = append(u.roles[key], uc.AppRoles[ref]...)
		}
		t.users = append(t.users, u)
	}
}

// App role member types.
const (
	memberUser        = "User"
	memberApplication = "Application"
)

// hasRole reports whether the API defines role value for the member type;
// a role with no member types is open to both.
func (a *app) hasRole(value, memberType string) bool {
	for _, r := range a.AppRoles {
		if r.Value == value && (len(r.MemberTypes) == 0 || slices.Contains(r.MemberTypes, memberType)) {
			return true
		}
	}
	return false
}

func parseAppCert(p string) (appCert, error) {
	block, rest := pem.Decode([]byte(p))
	if block == nil || block.Type != "CERTIFICATE" {
		return appCert{}, errors.New("not a PEM CERTIFICATE")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return appCert{}, errors.New("more than one PEM block; list each certificate separately")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return appCert{}, fmt.Errorf("parse certificate: %w", err)
	}
	key, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return appCert{}, fmt.Errorf("certificate key is %T; client assertions need RSA", c.PublicKey)
	}
	s1 := sha1.Sum(c.Raw)
	s256 := sha256.Sum256(c.Raw)
	return appCert{cert: c, key: key, sha1: s1[:], sha256: s256[:]}, nil
}

// checkRedirectURI accepts absolute https URIs and http URIs on a loopback
// host (RFC 8252 §7.3), without fragment or user info.
func checkRedirectURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	if u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not carry a fragment or user info", s)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q must be https, or http on localhost", s)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redirectAllowed reports whether the app registered the redirect URI: an
// exact match, or, for a registered http loopback URI without a port, the
// same URI with any port (RFC 8252 §7.3; Entra does the same, and MSAL's
// interactive flow listens on a random localhost port).
func (a *app) redirectAllowed(got string) bool {
	if slices.Contains(a.RedirectURIs, got) {
		return true
	}
	g, err := url.Parse(got)
	if err != nil || g.Scheme != "http" || g.Port() == "" || !isLoopback(g.Hostname()) {
		return false
	}
	for _, reg := range a.RedirectURIs {
		r, err := url.Parse(reg)
		if err != nil || r.Scheme != "http" || r.Port() != "" || !isLoopback(r.Hostname()) {
			continue
		}
		if strings.EqualFold(r.Hostname(), g.Hostname()) && samePath(r.EscapedPath(), g.EscapedPath()) &&
			r.RawQuery == g.RawQuery && g.Fragment == "" && g.User == nil {
			return true
		}
	}
	return false
}

func samePath(a, b string) bool {
	if a == "" {
		a = "/"
	}
	if b == "" {
		b = "/"
	}
	return a == b
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
