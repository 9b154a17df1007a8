package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The lookups below find tenants, users and apps of the development
// directory (dev.idp) by what people type: `gatehouse token --user alice`,
// `gatehouse audit query --user alice@contoso.example`. Names are compared
// without regard to case; GUIDs are lower case in the file but may be typed
// in either.

var (
	// ErrNotFound is wrapped by the lookups when a reference names nothing
	// in the development directory.
	ErrNotFound = errors.New("not in the development directory")
	// ErrAmbiguous is wrapped by the lookups when a reference names more
	// than one entry, such as a short name two users share.
	ErrAmbiguous = errors.New("ambiguous")
)

// Tenant returns the development tenant ref names: its tenant id or its
// domain (contoso.example). With ref "", it is the tenant whose id is a
// segment of the issuer URL's path, as in https://127.0.0.1:9443/{tenant
// id}/v2.0. The error wraps ErrNotFound when no tenant matches.
func (i *IDP) Tenant(ref, issuer string) (Tenant, error) {
	if ref != "" {
		for _, t := range i.Tenants {
			if t.is(ref) {
				return t, nil
			}
		}
		return Tenant{}, fmt.Errorf("tenant %q: %w", ref, ErrNotFound)
	}
	if u, err := url.Parse(issuer); err == nil && issuer != "" {
		for _, seg := range strings.Split(u.Path, "/") {
			for _, t := range i.Tenants {
				if seg != "" && strings.EqualFold(seg, t.ID) {
					return t, nil
				}
			}
		}
	}
	return Tenant{}, fmt.Errorf("the tenant of issuer %q: %w", issuer, ErrNotFound)
}

// is reports whether ref names t: its id or its domain.
func (t *Tenant) is(ref string) bool {
	return strings.EqualFold(t.ID, ref) || t.Domain != "" && strings.EqualFold(t.Domain, ref)
}

// User returns the user of t that ref names: the UPN
// (alice@contoso.example), the short name before its '@' (alice), or the
// object id. A short name that two users share (alice@contoso.example,
// alice@fabrikam.example) is ambiguous: the error wraps ErrAmbiguous and
// lists their UPNs. It wraps ErrNotFound when no user matches.
func (t *Tenant) User(ref string) (User, error) {
	var byName []User
	for _, u := range t.Users {
		if strings.EqualFold(u.UPN, ref) || strings.EqualFold(u.ID, ref) {
			return u, nil
		}
		if name, _, _ := strings.Cut(u.UPN, "@"); strings.EqualFold(name, ref) {
			byName = append(byName, u)
		}
	}
	switch len(byName) {
	case 0:
		return User{}, fmt.Errorf("user %q: %w (tenant %s)", ref, ErrNotFound, t.ID)
	case 1:
		return byName[0], nil
	}
	upns := make([]string, len(byName))
	for i, u := range byName {
		upns[i] = u.UPN
	}
	return User{}, fmt.Errorf("user %q: %w: %s; give the UPN", ref, ErrAmbiguous, strings.Join(upns, ", "))
}

// App returns the app of t that ref names: its name (gatehouse-cli) or its
// client id. With ref "", it is the first app for which pick returns true;
// a nil pick picks none. A ref that is one app's name and another's client
// id is ambiguous (the error wraps ErrAmbiguous); the error wraps
// ErrNotFound when no app matches.
func (t *Tenant) App(ref string, pick func(App) bool) (App, error) {
	if ref == "" {
		for _, a := range t.Apps {
			if pick != nil && pick(a) {
				return a, nil
			}
		}
		return App{}, fmt.Errorf("no suitable app: %w (tenant %s)", ErrNotFound, t.ID)
	}
	var found []App
	for _, a := range t.Apps {
		if strings.EqualFold(a.Name, ref) || strings.EqualFold(a.ClientID, ref) {
			found = append(found, a)
		}
	}
	switch len(found) {
	case 0:
		return App{}, fmt.Errorf("app %q: %w (tenant %s)", ref, ErrNotFound, t.ID)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, a := range found {
		names[i] = a.Name
	}
	return App{}, fmt.Errorf("app %q: %w: it is the name or client id of apps %s", ref, ErrAmbiguous, strings.Join(names, ", "))
}

// GrantedScopes returns every delegated scope a was granted on its first
// API with any, as "{App ID URI}/{scope}": what a user token for a asks
// for by default. nil if a was granted none.
func (t *Tenant) GrantedScopes(a App) []string {
	for _, p := range a.Permissions {
		if len(p.Scopes) == 0 {
			continue
		}
		res := t.resourceURI(p.Resource)
		out := make([]string, len(p.Scopes))
		for i, s := range p.Scopes {
			out[i] = res + "/" + s
		}
		return out
	}
	return nil
}

// DefaultScope returns "{App ID URI}/.default" of a's first API with
// application permissions, else of its first API at all: what an app token
// for a asks for by default. "" if a has no permissions.
func (t *Tenant) DefaultScope(a App) string {
	for _, p := range a.Permissions {
		if len(p.Roles) > 0 {
			return t.resourceURI(p.Resource) + "/.default"
		}
	}
	if len(a.Permissions) > 0 {
		return t.resourceURI(a.Permissions[0].Resource) + "/.default"
	}
	return ""
}

// resourceURI is the App ID URI of the API ref names (name or client id):
// its AppIDURI, else api://{client id}; ref itself if no app of t has that
// name or client id.
func (t *Tenant) resourceURI(ref string) string {
	a, err := t.App(ref, nil)
	switch {
	case err != nil:
		return ref
	case a.AppIDURI != "":
		return a.AppIDURI
	}
	return "api://" + a.ClientID
}

// ResolveUser returns the tenant id and object id of user, as tokens carry
// them in tid and oid: a development user (UPN, short name or object id,
// as User takes them) of the tenant named by tenant (id or domain), or of
// any tenant when tenant is "". A user found in two tenants is ambiguous
// (the error wraps ErrAmbiguous). Given a tenant id, any object id
// resolves, for users outside the development directory. The error wraps
// ErrNotFound when user names no one.
func (i *IDP) ResolveUser(user, tenant string) (tenantID, objectID string, err error) {
	var found []string // tenant ids
	for _, t := range i.Tenants {
		if tenant != "" && !t.is(tenant) {
			continue
		}
		u, err := t.User(user)
		if errors.Is(err, ErrAmbiguous) {
			return "", "", err
		}
		if err == nil {
			found = append(found, t.ID)
			objectID = u.ID
		}
	}
	switch len(found) {
	case 1:
		return found[0], objectID, nil
	case 0:
	default:
		return "", "", fmt.Errorf("user %q: %w: in tenants %s; give the tenant", user, ErrAmbiguous, strings.Join(found, ", "))
	}
	if tenant == "" || !isGUID(strings.ToLower(user)) {
		return "", "", fmt.Errorf("user %q: %w; give the object id and the tenant id", user, ErrNotFound)
	}
	tenantID = strings.ToLower(tenant)
	if t, err := i.Tenant(tenant, ""); err == nil {
		tenantID = t.ID
	} else if !isGUID(tenantID) {
		return "", "", fmt.Errorf("tenant %q: %w; give the tenant id", tenant, ErrNotFound)
	}
	return tenantID, strings.ToLower(user), nil
}
