package authn

import (
	"fmt"
	"strings"
)

// checkEntraIssuer applies Microsoft's issuer and tenant rules
// (entra-id-tokens.md §6): `ver` must be the issuer's token version, `tid` a
// GUID that is the first path segment of `iss`, `iss` the configured issuer
// with `{tenantid}` resolved against `tid`, the key's own `issuer` (if the
// JWKS names one) must resolve to the same `iss`, and `tid` must be allowed.
func (is *issuer) checkEntraIssuer(c map[string]any, k *key, iss string) error {
	ver, err := claimString(c, "ver")
	if err != nil || ver != is.cfg.TokenVersion {
		return invalid(CheckVersion, fmt.Sprintf("token version is not %s", is.cfg.TokenVersion))
	}
	tid, err := claimString(c, "tid")
	if err != nil || !IsGUID(tid) {
		return invalid(CheckTenant, "tid must be a tenant GUID")
	}
	if resolveTenant(is.cfg.Issuer, tid) != iss {
		return invalid(CheckIssuer, "issuer mismatch")
	}
	if !strings.EqualFold(issuerTenant(iss), tid) {
		return invalid(CheckTenant, "tid does not match the issuer's tenant")
	}
	if k.issuer != "" && resolveTenant(k.issuer, tid) != iss {
		return invalid(CheckIssuer, "the signing key belongs to another issuer")
	}
	if is.prefix != "" || is.suffix != "" {
		if !is.anyTenant && !is.tenants[strings.ToLower(tid)] {
			return invalid(CheckTenant, "tenant is not allowed")
		}
	} else if len(is.tenants) > 0 && !is.tenants[strings.ToLower(tid)] {
		return invalid(CheckTenant, "tenant is not allowed")
	}
	return nil
}

// resolveTenant replaces the {tenantid} placeholder (any case) with tid.
func resolveTenant(template, tid string) string {
	i := strings.Index(strings.ToLower(template), "{tenantid}")
	if i < 0 {
		return template
	}
	return template[:i] + tid + template[i+len("{tenantid}"):]
}

// issuerTenant returns the first path segment of an issuer URL
// ("https://host/{tid}/v2.0" -> "{tid}"), or "" if it has none.
func issuerTenant(iss string) string {
	_, rest, ok := strings.Cut(iss, "://")
	if !ok {
		return ""
	}
	_, path, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	seg, _, _ := strings.Cut(path, "/")
	return seg
}

// IsGUID reports whether s is a GUID in its 8-4-4-4-12 hex form (any case),
// the shape of Entra tenant and object ids.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// entraPrincipal normalises an Entra v1.0 or v2.0 access token.
func entraPrincipal(c map[string]any, p *Principal) error {
	var err error
	get := func(name string) string {
		s, e := claimString(c, name)
		if e != nil && err == nil {
			err = e
		}
		return s
	}
	p.TokenVersion = get("ver")
	p.Tenant = get("tid")
	p.Subject = get("oid")
	if p.Subject == "" {
		p.Subject = get("sub")
	}
	// The calling client: `azp` in v2.0 tokens, `appid` in v1.0. Access
	// tokens always name it; ID tokens do not, so this also keeps an ID
	// token from passing as an access token.
	if p.TokenVersion == "1.0" {
		p.App = get("appid")
	} else {
		p.App = get("azp")
	}
	p.TokenID = get("uti")
	if p.TokenID == "" {
		p.TokenID = get("jti")
	}
	scp := get("scp")
	idtyp := get("idtyp")
	if err != nil {
		return err
	}
	if p.Subject == "" {
		return invalid(CheckClaims, "token has neither oid nor sub")
	}
	if p.App == "" {
		return invalid(CheckApp, "token does not name the calling application (azp/appid)")
	}
	if scp != "" {
		p.Scopes = strings.Fields(scp)
	}
	switch {
	case idtyp == "app":
		p.Kind = KindApp
	case idtyp == "user":
		p.Kind = KindUser
	case idtyp != "":
		return invalid(CheckClaims, "unknown idtyp")
	case scp != "":
		p.Kind = KindUser
	default:
		// Without the idtyp optional claim, no scp means app-only
		// (entra-id-tokens.md §4).
		p.Kind = KindApp
	}
	if p.Kind == KindApp && len(p.Scopes) > 0 {
		return invalid(CheckClaims, "an app-only token cannot carry delegated scopes")
	}
	if p.Roles, err = claimStrings(c, "roles"); err != nil {
		return err
	}
	if err := readGroups(c, "groups", p); err != nil {
		return err
	}
	return readActors(c, p)
}

// readGroups reads the groups claim and Entra's overage markers: a token with
// `_claim_names.groups` or `hasgroups` has group membership unknown.
func readGroups(c map[string]any, claim string, p *Principal) error {
	var err error
	if p.Groups, err = claimStrings(c, claim); err != nil {
		// Some OIDC issuers send a single group as a string.
		if s, ok := c[claim].(string); ok {
			p.Groups, err = []string{s}, nil
		}
		if err != nil {
			return err
		}
	}
	if names, ok := c["_claim_names"].(map[string]any); ok {
		if _, over := names[claim]; over {
			p.GroupsOverage = true
		}
	}
	if hg, ok := c["hasgroups"].(bool); ok && hg {
		p.GroupsOverage = true
	}
	if p.GroupsOverage {
		p.Groups = nil
	}
	return nil
}

// maxActorDepth caps RFC 8693 `act` chains.
const maxActorDepth = 8

// readActors fills p.Actors: the RFC 8693 `act` chain (current actor first),
// else, for a delegated token, the calling app acting for the user (as in an
// Entra on-behalf-of token, which names the middle tier in azp/appid).
func readActors(c map[string]any, p *Principal) error {
	act, present := c["act"]
	if !present {
		if p.Kind == KindUser && p.App != "" {
			p.Actors = []Actor{{Subject: p.App, App: p.App, Via: ActorViaClient}}
		}
		return nil
	}
	for depth := 0; present; depth++ {
		m, ok := act.(map[string]any)
		if !ok {
			return invalid(CheckActor, "act must be a JSON object")
		}
		if depth == maxActorDepth {
			return invalid(CheckActor, "act chain too deep")
		}
		a := Actor{Via: ActorViaAct}
		var err error
		if a.Subject, err = claimString(m, "sub"); err != nil || a.Subject == "" {
			return invalid(CheckActor, "act has no sub")
		}
		if a.Issuer, err = claimString(m, "iss"); err != nil {
			return invalid(CheckActor, "act iss must be a string")
		}
		if a.App, err = claimString(m, "client_id"); err != nil {
			return invalid(CheckActor, "act client_id must be a string")
		}
		p.Actors = append(p.Actors, a)
		act, present = m["act"]
	}
	return nil
}

// oidcPrincipal normalises a token from a generic OpenID Connect issuer
// using the configured claim names.
func oidcPrincipal(c map[string]any, n ClaimNames, p *Principal) error {
	var err error
	get := func(name string) string {
		s, e := claimString(c, name)
		if e != nil && err == nil {
			err = e
		}
		return s
	}
	subject := n.Subject
	if subject == "" {
		subject = "sub"
	}
	p.Subject = get(subject)
	if n.Tenant != "" {
		p.Tenant = get(n.Tenant)
	}
	if n.App != "" {
		p.App = get(n.App)
	} else if p.App = get("azp"); p.App == "" {
		p.App = get("client_id")
	}
	p.TokenID = get("jti")
	if err != nil {
		return err
	}
	if p.Subject == "" {
		return invalid(CheckClaims, fmt.Sprintf("token has no %s", subject))
	}
	scopes := n.Scopes
	if scopes == "" {
		scopes = "scope"
		if _, ok := c["scope"]; !ok {
			scopes = "scp"
		}
	}
	switch v := c[scopes].(type) {
	case nil:
	case string:
		p.Scopes = strings.Fields(v)
	default:
		if p.Scopes, err = claimStrings(c, scopes); err != nil {
			return err
		}
	}
	roles := n.Roles
	if roles == "" {
		roles = "roles"
	}
	if p.Roles, err = claimStrings(c, roles); err != nil {
		return err
	}
	groups := n.Groups
	if groups == "" {
		groups = "groups"
	}
	if err := readGroups(c, groups, p); err != nil {
		return err
	}
	// RFC 9068 §2.2: a client-credentials token names the client as sub.
	p.Kind = KindUser
	if p.App != "" && p.Subject == p.App {
		p.Kind = KindApp
	}
	return readActors(c, p)
}
