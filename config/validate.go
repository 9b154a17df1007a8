package config

import (
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// check is one rule: when bad, the field has the problem msg. Each part of
// the file is validated by a table of checks, as in dex's config.Validate,
// so the rules read as a list.
type check struct {
	bad   bool
	field string
	msg   string
}

// validator collects the problems of every check that fails.
type validator struct {
	problems []*Problem
}

func (v *validator) run(checks ...check) {
	for _, c := range checks {
		if c.bad {
			v.problems = append(v.problems, &Problem{Field: c.field, Msg: c.msg})
		}
	}
}

func (v *validator) add(field, format string, args ...any) {
	v.problems = append(v.problems, &Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Validate reports every problem of f, joined with errors.Join as
// *Problem values that name the field (but not the line: Parse adds that).
// It checks f as it is, so a File built in Go needs ApplyDefaults first. It
// does no I/O: files named in f (ca_file) are not read, and nothing is
// fetched.
func (f *File) Validate() error {
	var v validator
	v.authn(f)
	v.authz(f)
	v.creds(f)
	v.gateway(f)
	v.audit(&f.Audit)
	v.secretsSection(&f.Secrets)
	v.telemetry(&f.Telemetry)
	v.issuerKey(f)
	v.auditKeys(&f.Audit)
	v.revocation(f)
	v.dev(&f.Dev)
	v.devSTS(&f.Dev.STS)
	v.devLambda(&f.Dev.Lambda)
	if msg := checkListen(f.Dev.Gateway); msg != "" {
		v.add("dev.gateway", "%s", msg)
	}
	return joinProblems(v.problems)
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9-]+$`)
	guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	// domainRE is a DNS name of at least two labels.
	domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

const (
	msgName = "must be lower-case letters, digits and '-'"
	msgGUID = "must be a lower-case GUID such as 00000000-0000-0000-0000-000000000000"
)

func isGUID(s string) bool { return guidRE.MatchString(s) }

// algorithms are the JWS algorithms an issuer may allow, all asymmetric.
var algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (v *validator) authn(f *File) {
	a := &f.AuthN
	v.run(
		check{a.MaxTokenBytes < 1024 || a.MaxTokenBytes > 1<<20, "authn.max_token_bytes", "must be between 1024 and 1048576"},
		check{a.CacheEntries < -1, "authn.cache_entries", "must be a positive number of entries, or -1 to disable the cache"},
		check{len(a.Issuers) == 0, "authn.issuers", "at least one issuer is required"},
	)
	names := map[string]int{}
	for i := range a.Issuers {
		p := indexPath("authn.issuers", i)
		is := &a.Issuers[i]
		if j, dup := names[is.Name]; dup && is.Name != "" {
			v.add(p+".name", "issuer name %s is already used by authn.issuers[%d]", short(is.Name), j)
		} else {
			names[is.Name] = i
		}
		v.issuer(f, p, is)
	}
}

// issuerTypes maps each Issuer.Type to the checks of its own fields.
var issuerTypes = map[string]func(v *validator, f *File, p string, is *Issuer){
	IssuerEntra: (*validator).entra,
	IssuerOIDC:  (*validator).oidc,
}

func (v *validator) issuer(f *File, p string, is *Issuer) {
	v.run(
		check{is.Name == "", p + ".name", "is required"},
		check{is.Name != "" && !nameRE.MatchString(is.Name), p + ".name", msgName},
		check{len(is.Audiences) == 0, p + ".audiences", "at least one audience is required: the client id or App ID URI of the API tokens must be issued for"},
		check{len(is.Algorithms) == 0, p + ".algorithms", "at least one algorithm is required"},
		check{is.Leeway < 0 || is.Leeway > 5*time.Minute, p + ".leeway", "must be between 0s and 5m"},
		check{is.MaxLifetime <= 0, p + ".max_lifetime", "must be positive"},
		check{is.RefreshInterval <= 0, p + ".refresh_interval", "must be positive"},
		check{is.MinRefreshInterval <= 0, p + ".min_refresh_interval", "must be positive"},
		// The verifier refuses less too (authn.MinRefreshIntervalFloor says why):
		// reported here with the line, before anything is built.
		check{is.MinRefreshInterval > 0 && is.MinRefreshInterval < authn.MinRefreshIntervalFloor, p + ".min_refresh_interval",
			fmt.Sprintf("must be at least %s: it bounds how often tokens with unknown key ids can make gatehouse fetch the issuer's keys", formatDuration(authn.MinRefreshIntervalFloor))},
		check{is.MinRefreshInterval > is.RefreshInterval && is.RefreshInterval > 0, p + ".min_refresh_interval",
			fmt.Sprintf("must not exceed refresh_interval (%s)", formatDuration(is.RefreshInterval))},
		check{is.MaxKeyAge < is.RefreshInterval, p + ".max_key_age",
			fmt.Sprintf("must be at least refresh_interval (%s): keys would expire between refreshes", formatDuration(is.RefreshInterval))},
	)
	v.list(p+".audiences", is.Audiences, "audience")
	v.list(p+".types", is.Types, "type")
	v.list(p+".allowed_apps", is.AllowedApps, "client id")
	algRepeated := repeated(is.Algorithms)
	for j, alg := range is.Algorithms {
		q := indexPath(p+".algorithms", j)
		switch {
		case strings.EqualFold(alg, "none"):
			v.add(q, `"none" is refused: it accepts unsigned tokens, which anyone can forge`)
		case len(alg) > 2 && strings.EqualFold(alg[:2], "HS"):
			v.add(q, "%s is refused: HMAC algorithms verify with the signing secret itself, so whoever can check such a token can forge one; use an asymmetric algorithm such as RS256", short(alg))
		case !slices.Contains(algorithms, alg):
			v.add(q, "unknown algorithm %s; allowed: %s", short(alg), strings.Join(algorithms, " "))
		case algRepeated(j):
			v.add(q, "%s is listed twice", short(alg))
		}
	}
	v.https(p+".discovery_url", is.DiscoveryURL)
	v.https(p+".jwks_url", is.JWKSURL)

	validate, ok := issuerTypes[is.Type]
	switch {
	case is.Type == "":
		v.add(p+".type", "is required: one of %s", strings.Join(issuerTypeNames(), ", "))
	case !ok:
		v.add(p+".type", "unknown issuer type %s; one of %s", short(is.Type), strings.Join(issuerTypeNames(), ", "))
	default:
		validate(v, f, p, is)
	}
}

func issuerTypeNames() []string {
	names := make([]string, 0, len(issuerTypes))
	for n := range issuerTypes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (v *validator) oidc(_ *File, p string, is *Issuer) {
	v.run(
		check{is.Entra != nil, p + ".entra", "is only for type entra"},
		check{is.Issuer == "", p + ".issuer", "is required for type oidc: the exact iss of its tokens"},
	)
	if is.Issuer != "" {
		if msg := checkURL(is.Issuer, urlRules{https: true, noQuery: true}); msg != "" {
			v.add(p+".issuer", "%s", msg)
		}
	}
}

func (v *validator) entra(f *File, p string, is *Issuer) {
	v.run(
		check{is.Entra == nil, p + ".entra", "is required for type entra: authority and tenant"},
		check{is.Issuer != "", p + ".issuer", "is only for type oidc: an entra issuer follows from entra.authority and entra.tenant"},
		check{is.Claims != Claims{}, p + ".claims", "is only for type oidc: entra claims are fixed (oid, tid, azp or appid, groups, roles, scp)"},
	)
	e := is.Entra
	if e == nil {
		return
	}
	q := p + ".entra"
	multi := e.MultiTenant()
	dev := e.Authority == AuthorityDev
	v.run(
		check{e.Authority == "", q + ".authority", `is required: "dev" or an https URL such as ` + AuthorityMicrosoft},
		check{e.Tenant == "", q + ".tenant", "is required: a tenant GUID, or organizations or common for several tenants"},
		check{e.Tenant != "" && !multi && !isGUID(e.Tenant), q + ".tenant", "must be a lower-case tenant GUID, or organizations or common for several tenants"},
		check{multi && len(e.Tenants) == 0, q + ".tenants", fmt.Sprintf(`is required with tenant %q: list the tenant GUIDs to accept, or ["*"] for any`, e.Tenant)},
		check{!multi && len(e.Tenants) > 0, q + ".tenants", "is only for tenant organizations or common: this issuer accepts its one tenant"},
		check{len(e.Versions) == 0, q + ".versions", `at least one version is required: "1.0", "2.0"`},
		check{e.V1Issuer != "" && !slices.Contains(e.Versions, "1.0"), q + ".v1_issuer", `is only used when versions includes "1.0"`},
	)
	if e.Authority != "" && !dev {
		if msg := checkURL(e.Authority, urlRules{https: true, noQuery: true, noPath: true}); msg != "" {
			v.add(q+".authority", `must be "dev" or an https URL with no path, such as %s: %s`, AuthorityMicrosoft, msg)
		}
	}
	tenantRepeated := repeated(e.Tenants)
	for j, t := range e.Tenants {
		switch {
		case t == "*" && len(e.Tenants) > 1:
			v.add(indexPath(q+".tenants", j), `"*" allows any tenant, so it must be alone`)
		case t != "*" && !isGUID(t):
			v.add(indexPath(q+".tenants", j), msgGUID+`, or "*" for any tenant`)
		case tenantRepeated(j):
			v.add(indexPath(q+".tenants", j), "%s is listed twice", short(t))
		}
	}
	versionRepeated := repeated(e.Versions)
	for j, ver := range e.Versions {
		switch {
		case ver != "1.0" && ver != "2.0":
			v.add(indexPath(q+".versions", j), `must be "1.0" or "2.0"`)
		case versionRepeated(j):
			v.add(indexPath(q+".versions", j), "%s is listed twice", short(ver))
		}
	}
	if e.V1Issuer != "" {
		msg := checkURL(e.V1Issuer, urlRules{https: !dev, noQuery: true})
		if msg == "" && multi && !strings.Contains(e.V1Issuer, "{tenantid}") {
			msg = "must contain {tenantid} for a multi-tenant issuer"
		}
		if msg != "" {
			v.add(q+".v1_issuer", "%s", msg)
		}
	}
	if dev {
		v.devAuthority(f, q, e)
	}
}

// devAuthority checks that the development IdP serves the tenants an
// issuer with authority "dev" trusts.
func (v *validator) devAuthority(f *File, q string, e *Entra) {
	ids := map[string]bool{}
	for _, t := range f.Dev.IDP.Tenants {
		ids[t.ID] = true
	}
	has := func(id string) bool { return ids[id] }
	if !e.MultiTenant() {
		if isGUID(e.Tenant) && !has(e.Tenant) {
			v.add(q+".tenant", `authority "dev" needs this tenant under dev.idp.tenants, which has no tenant with id %s`, e.Tenant)
		}
		return
	}
	for j, t := range e.Tenants {
		if isGUID(t) && !has(t) {
			v.add(indexPath(q+".tenants", j), `authority "dev" needs this tenant under dev.idp.tenants, which has no tenant with id %s`, t)
		}
	}
}

// list checks a list of strings that must each be non-empty and unique.
func (v *validator) list(field string, list []string, what string) {
	isRepeated := repeated(list)
	for j, s := range list {
		switch {
		case strings.TrimSpace(s) == "":
			v.add(indexPath(field, j), "empty %s", what)
		case isRepeated(j):
			v.add(indexPath(field, j), "%s is listed twice", short(s))
		}
	}
}

// https checks an optional https URL.
func (v *validator) https(field, s string) {
	if s == "" {
		return
	}
	if msg := checkURL(s, urlRules{https: true}); msg != "" {
		v.add(field, "%s", msg)
	}
}

type urlRules struct {
	https     bool // https only
	localHTTP bool // https, or http for localhost and loopback addresses only
	noQuery   bool // no query (a fragment is never allowed)
	noPath    bool // no path, not even a trailing slash
}

// checkURL returns what is wrong with s as an absolute URL under rules, or "".
func checkURL(s string, r urlRules) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Sprintf("invalid URL %s", short(s))
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		scheme := "http or https"
		if r.https {
			scheme = "https"
		}
		return fmt.Sprintf("must be an absolute %s URL, not %s", scheme, short(s))
	case u.Scheme == "http" && r.localHTTP && !isLoopback(u.Hostname()):
		return "http is allowed only for localhost and loopback addresses; use https"
	case u.Scheme == "http" && r.https:
		return fmt.Sprintf("must use https, not %s", short(s))
	case u.User != nil:
		return "must not contain a user name or password"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a fragment (#...)"
	case r.noQuery && (u.RawQuery != "" || u.ForceQuery):
		return "must not have a query (?...)"
	case r.noPath && u.Path != "":
		return "must have no path, not even a trailing slash"
	}
	return ""
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (v *validator) dev(d *Dev) {
	v.devKeyVault(&d.KeyVault)
	idp := &d.IDP
	v.run(
		check{idp.TokenLifetime < 5*time.Minute || idp.TokenLifetime > 24*time.Hour, "dev.idp.token_lifetime", "must be between 5m and 24h"},
	)
	if msg := checkListen(idp.Listen); msg != "" {
		v.add("dev.idp.listen", "%s", msg)
	}
	tenantIDs := map[string]string{}
	domains := map[string]string{}
	clientIDs := map[string]string{} // client ids are global across tenants
	for i := range idp.Tenants {
		t := &idp.Tenants[i]
		p := indexPath("dev.idp.tenants", i)
		v.run(
			check{t.ID == "", p + ".id", "is required: the tenant GUID"},
			check{t.ID != "" && !isGUID(t.ID), p + ".id", msgGUID},
			check{t.Domain != "" && !domainRE.MatchString(t.Domain), p + ".domain", "must be a lower-case DNS name such as contoso.example"},
		)
		v.unique(tenantIDs, t.ID, p+".id", "tenant id")
		v.unique(domains, t.Domain, p+".domain", "domain")
		v.tenant(p, t, clientIDs)
	}
}

// unique records key at field in seen and reports it if it was already there.
func (v *validator) unique(seen map[string]string, key, field, what string) {
	if key == "" {
		return
	}
	if first, dup := seen[key]; dup {
		v.add(field, "%s %s is already used by %s", what, short(key), first)
		return
	}
	seen[key] = field
}

// checkListen returns what is wrong with a dev listen address, or "".
func checkListen(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("must be host:port, such as %s", DefaultListen)
	}
	if n, err := strconv.Atoi(port); err != nil || strconv.Itoa(n) != port || n < 0 || n > 65535 {
		return fmt.Sprintf("port %s must be a number from 0 to 65535", short(port))
	}
	if !isLoopback(host) {
		return fmt.Sprintf("host %s must be localhost or a loopback address: the development IdP accepts anyone's sign-in with published passwords", short(host))
	}
	return ""
}

func (v *validator) tenant(p string, t *Tenant, clientIDs map[string]string) {
	objectIDs := map[string]string{}

	groupNames := map[string]string{}
	for i, g := range t.Groups {
		q := indexPath(p+".groups", i)
		v.run(
			check{g.ID == "", q + ".id", "is required: the group's object id GUID"},
			check{g.ID != "" && !isGUID(g.ID), q + ".id", msgGUID},
			check{g.Name == "", q + ".name", "is required"},
		)
		v.unique(objectIDs, g.ID, q+".id", "object id")
		v.unique(groupNames, g.Name, q+".name", "group name")
	}
	groups := map[string]bool{} // by name and by id
	for _, g := range t.Groups {
		groups[g.Name], groups[g.ID] = true, true
	}
	hasGroup := func(ref string) bool { return ref != "" && groups[ref] }

	// Apps come before users in the checks only because users refer to them.
	apps := map[string]*appIndex{} // by name and by client id
	for i := range t.Apps {
		a := newAppIndex(&t.Apps[i])
		for _, key := range []string{a.Name, a.ClientID} {
			if _, dup := apps[key]; key != "" && !dup { // a duplicate is reported below
				apps[key] = a
			}
		}
	}
	appNames := map[string]string{}
	appIDURIs := map[string]string{}
	for i := range t.Apps {
		a := &t.Apps[i]
		q := indexPath(p+".apps", i)
		v.app(q, a, apps)
		v.unique(appNames, a.Name, q+".name", "app name")
		v.unique(clientIDs, a.ClientID, q+".client_id", "client id")
		v.unique(objectIDs, a.ObjectID, q+".object_id", "object id")
		v.unique(appIDURIs, a.AppIDURI, q+".app_id_uri", "App ID URI")
	}

	upns := map[string]string{}
	for i := range t.Users {
		u := &t.Users[i]
		q := indexPath(p+".users", i)
		v.run(
			check{u.ID == "", q + ".id", "is required: the user's object id GUID"},
			check{u.ID != "" && !isGUID(u.ID), q + ".id", msgGUID},
			check{u.UPN == "", q + ".upn", "is required: the sign-in name, such as alice@contoso.example"},
			check{u.UPN != "" && !validUPN(u.UPN), q + ".upn", "must be a name@domain sign-in name without spaces"},
			check{u.Password == "", q + ".password", "is required: development users sign in with it"},
		)
		v.unique(objectIDs, u.ID, q+".id", "object id")
		v.unique(upns, strings.ToLower(u.UPN), q+".upn", "upn")
		groupRepeated := repeated(u.Groups)
		for j, g := range u.Groups {
			switch {
			case !hasGroup(g):
				v.add(indexPath(q+".groups", j), "no group named %s or with that id in this tenant", short(g))
			case groupRepeated(j):
				v.add(indexPath(q+".groups", j), "%s is listed twice", short(g))
			}
		}
		for _, res := range sortedKeys(u.AppRoles) {
			r := keyPath(q+".app_roles", res)
			app, ok := apps[res]
			if !ok {
				v.add(r, "no app named %s or with that client id in this tenant", short(res))
				continue
			}
			v.roles(r, u.AppRoles[res], app, MemberUser, "assigned to users")
		}
	}
}

func validUPN(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && !strings.ContainsFunc(s, unicode.IsSpace)
}

func (v *validator) app(q string, a *App, apps map[string]*appIndex) {
	v.run(
		check{a.Name == "", q + ".name", "is required"},
		check{a.Name != "" && !nameRE.MatchString(a.Name), q + ".name", msgName},
		check{a.ClientID == "", q + ".client_id", "is required: the application (client) id GUID"},
		check{a.ClientID != "" && !isGUID(a.ClientID), q + ".client_id", msgGUID},
		check{a.ObjectID == "", q + ".object_id", "is required: the service principal's object id GUID"},
		check{a.ObjectID != "" && !isGUID(a.ObjectID), q + ".object_id", msgGUID},
		check{a.AccessTokenVersion != 1 && a.AccessTokenVersion != 2, q + ".access_token_version", "must be 1 or 2"},
		check{a.GroupOverageLimit < 1, q + ".group_overage_limit", "must be a positive number of groups"},
	)
	if a.AppIDURI != "" {
		u, err := url.Parse(a.AppIDURI)
		if err != nil || u.Scheme == "" || u.Opaque == "" && u.Host == "" || u.Fragment != "" || strings.Contains(a.AppIDURI, "#") {
			v.add(q+".app_id_uri", "must be an absolute URI such as api://%s", cmp.Or(a.Name, "my-api"))
		}
	}
	for j, s := range a.Secrets {
		if s == "" {
			v.add(indexPath(q+".secrets", j), "empty secret")
		}
	}
	for j, c := range a.Certificates {
		if msg := checkCertificate(c); msg != "" {
			v.add(indexPath(q+".certificates", j), "%s", msg)
		}
	}
	uriRepeated := repeated(a.RedirectURIs)
	for j, r := range a.RedirectURIs {
		if msg := checkURL(r, urlRules{localHTTP: true}); msg != "" {
			v.add(indexPath(q+".redirect_uris", j), "%s", msg)
		} else if uriRepeated(j) {
			v.add(indexPath(q+".redirect_uris", j), "%s is listed twice", short(r))
		}
	}
	scopeRepeated := repeated(a.Scopes)
	for j, s := range a.Scopes {
		f := indexPath(q+".scopes", j)
		switch {
		case !validValue(s):
			v.add(f, "must be a name without spaces, such as access_as_user")
		case scopeRepeated(j):
			v.add(f, "%s is listed twice", short(s))
		}
	}
	roleRepeated := repeated(values(a.AppRoles))
	for j, r := range a.AppRoles {
		f := indexPath(q+".app_roles", j)
		v.run(
			check{!validValue(r.Value), f + ".value", "must be a role name without spaces, such as Jobs.Run"},
			check{len(r.MemberTypes) == 0, f + ".member_types", "at least one is required: User, Application"},
		)
		if validValue(r.Value) && roleRepeated(j) {
			v.add(f+".value", "%s is defined twice", short(r.Value))
		}
		memberRepeated := repeated(r.MemberTypes)
		for k, m := range r.MemberTypes {
			switch {
			case m != MemberUser && m != MemberApplication:
				v.add(indexPath(f+".member_types", k), "must be User or Application")
			case memberRepeated(k):
				v.add(indexPath(f+".member_types", k), "%s is listed twice", short(m))
			}
		}
	}
	resources := map[string]string{}
	for j, perm := range a.Permissions {
		f := indexPath(q+".permissions", j)
		res, ok := apps[perm.Resource]
		switch {
		case perm.Resource == "":
			v.add(f+".resource", "is required: the name or client id of an app of this tenant")
		case !ok:
			v.add(f+".resource", "no app named %s or with that client id in this tenant", short(perm.Resource))
		}
		if ok {
			v.unique(resources, res.Name, f+".resource", "resource")
		}
		v.run(check{len(perm.Scopes) == 0 && len(perm.Roles) == 0, f, "grants nothing: list scopes, roles or both"})
		if !ok {
			continue
		}
		for k, s := range perm.Scopes {
			if !res.scopes[s] {
				v.add(indexPath(f+".scopes", k), "app %s defines no scope %s", short(res.Name), short(s))
			}
		}
		v.roles(f+".roles", perm.Roles, res, MemberApplication, "granted to apps")
	}
}

// roles checks role values assigned to a user or granted to an app: each
// must be a role of app with the member type.
func (v *validator) roles(field string, roles []string, app *appIndex, member, granted string) {
	isRepeated := repeated(roles)
	for k, role := range roles {
		f := indexPath(field, k)
		members, defined := app.roles[role]
		switch {
		case !defined:
			v.add(f, "app %s defines no app role %s", short(app.Name), short(role))
		case !members[member]:
			v.add(f, "app role %s of %s can be %s only with member type %s", short(role), short(app.Name), granted, member)
		case isRepeated(k):
			v.add(f, "%s is listed twice", short(role))
		}
	}
}

// appIndex is an app with its scopes and roles indexed, so that checking
// references stays linear in the size of the file.
type appIndex struct {
	*App
	scopes map[string]bool
	roles  map[string]map[string]bool // role value -> member type -> true (first definition)
}

func newAppIndex(a *App) *appIndex {
	x := &appIndex{App: a, scopes: map[string]bool{}, roles: map[string]map[string]bool{}}
	for _, s := range a.Scopes {
		x.scopes[s] = true
	}
	for _, r := range a.AppRoles {
		if _, dup := x.roles[r.Value]; dup {
			continue
		}
		members := map[string]bool{}
		for _, m := range r.MemberTypes {
			members[m] = true
		}
		x.roles[r.Value] = members
	}
	return x
}

// repeated returns a function reporting whether list[j] equals an earlier
// element of list.
func repeated(list []string) func(j int) bool {
	first := make(map[string]int, len(list))
	for j, s := range list {
		if _, ok := first[s]; !ok {
			first[s] = j
		}
	}
	return func(j int) bool { return first[list[j]] < j }
}

func values(roles []AppRole) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = r.Value
	}
	return out
}

func validValue(s string) bool {
	return s != "" && !strings.ContainsFunc(s, unicode.IsSpace)
}

// checkCertificate returns what is wrong with a PEM certificate, or "".
func checkCertificate(s string) string {
	block, rest := pem.Decode([]byte(s))
	switch {
	case block == nil || block.Type != "CERTIFICATE":
		return "must be one PEM certificate (-----BEGIN CERTIFICATE-----)"
	case strings.TrimSpace(string(rest)) != "":
		return "must be one PEM certificate: text follows it"
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return fmt.Sprintf("invalid certificate: %v", err)
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
