package idp

import (
	"slices"
	"strings"
)

// OpenID Connect scopes: tolerated next to a resource's scopes (MSAL adds
// "openid offline_access profile" to every request, spec §11).
var oidcScopes = []string{"openid", "profile", "email", "offline_access"}

func isOIDCScope(s string) bool { return slices.Contains(oidcScopes, s) }

// scopeRequest is a parsed `scope` parameter: OIDC scopes plus at most one
// resource's permissions (spec §9: one resource per request).
type scopeRequest struct {
	oidc       []string // requested OIDC scopes, in oidcScopes order
	resource   *app     // nil when only OIDC scopes were asked for
	resourceID string   // the resource as the client named it (v1 `aud`)
	names      []string // bare permission names; empty with .default
	isDefault  bool     // {resource}/.default
}

func (sr scopeRequest) has(oidc string) bool { return slices.Contains(sr.oidc, oidc) }

// parseScopes parses a scope string against the tenant's apps.
func (t *tenant) parseScopes(raw string) (scopeRequest, *oauthError) {
	var sr scopeRequest
	fields := strings.Fields(raw)
	if len(fields) == 0 {
		return sr, errMissing("scope")
	}
	if len(fields) > 50 {
		return sr, newError(errInvalidScope, 70011, "The provided value for the input parameter 'scope' isn't valid: too many scopes.")
	}
	for _, f := range fields {
		if isOIDCScope(f) {
			if !sr.has(f) {
				sr.oidc = append(sr.oidc, f)
			}
			continue
		}
		slash := strings.LastIndexByte(f, '/')
		if slash <= 0 || slash == len(f)-1 {
			return sr, newError(errInvalidScope, 70011,
				"The provided value for the input parameter 'scope' isn't valid. The scope %s is not of the form {resource}/{permission}; this IdP serves no Microsoft Graph.", quoteScope(f))
		}
		resID, name := f[:slash], f[slash+1:]
		res := t.resource(resID)
		if res == nil {
			return sr, newError(errInvalidResource, 500011,
				"The resource principal named %s was not found in the tenant named %s.", quoteScope(resID), t.name())
		}
		if sr.resource != nil && sr.resource != res {
			return sr, newError(errInvalidScope, 700022,
				"The provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", quoteScope(raw))
		}
		if strings.EqualFold(resID, res.ClientID) {
			resID = res.ClientID // a GUID: the canonical spelling
		}
		sr.resource, sr.resourceID = res, resID
		switch {
		case name == ".default":
			sr.isDefault = true
		case res.hasScope(name):
			if !slices.Contains(sr.names, name) {
				sr.names = append(sr.names, name)
			}
		default:
			return sr, newError(errInvalidScope, 70011,
				"The provided value for the input parameter 'scope' isn't valid. The application %s exposes no scope %s.", quoteScope(res.Name), quoteScope(name))
		}
		if sr.isDefault && len(sr.names) > 0 {
			return sr, newError(errInvalidScope, 70011,
				"The provided value for the input parameter 'scope' isn't valid. The scope '.default' can't be combined with resource-specific scopes.")
		}
	}
	slices.SortFunc(sr.oidc, func(a, b string) int { return slices.Index(oidcScopes, a) - slices.Index(oidcScopes, b) })
	return sr, nil
}

// delegated returns the permissions (bare names) a user token for the
// client carries: those asked for, or with .default all granted ones. Each
// must have been granted to the client (admin consent in a configured
// tenant), unless the client asks for its own scopes.
func (t *tenant) delegated(client *app, sr scopeRequest) ([]string, *oauthError) {
	res := sr.resource
	if res == nil {
		return nil, nil
	}
	self := res == client
	granted := client.grants[strings.ToLower(res.ClientID)].Scopes
	if sr.isDefault {
		names := slices.Clone(granted)
		if self {
			names = slices.Clone(res.Scopes)
		}
		if len(names) == 0 {
			return nil, errConsent(client, res)
		}
		return names, nil
	}
	for _, n := range sr.names {
		if !self && !slices.Contains(granted, n) {
			return nil, errConsent(client, res)
		}
	}
	return sr.names, nil
}

func errConsent(client, res *app) *oauthError {
	e := newError(errInvalidGrant, 65001,
		"The user or administrator has not consented to use the application with ID '%s' named '%s' for the requested permissions on '%s'.",
		client.ClientID, client.Name, res.Name)
	e.suberror = "consent_required"
	return e
}

// applicationRoles returns the application permissions granted to the client
// on the resource; possibly none (spec §4: Entra issues app-only tokens
// without roles).
func (a *app) applicationRoles(res *app) []string {
	return slices.Clone(a.grants[strings.ToLower(res.ClientID)].Roles)
}

// quoteScope quotes a caller-supplied value for an error description,
// truncated so an error never echoes a whole request.
func quoteScope(s string) string {
	const max = 200
	if len(s) > max {
		s = s[:max] + "..."
	}
	return "'" + s + "'"
}
