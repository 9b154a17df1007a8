package idp

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// graph stands in for Microsoft Graph, the resource Entra issues the access
// token for when a user flow asks only for OpenID scopes ("sign in only").
// Its tokens are v1.0 with Graph's `aud`, so no gatehouse API accepts them.
var graph = &app{App: App{Name: "Microsoft Graph", ClientID: "00000003-0000-0000-c000-000000000000",
	AppIDURI: "https://graph.microsoft.com", AccessTokenVersion: 1}}

// defaultOverageLimit is Entra's group overage limit for JWTs (spec §5).
const defaultOverageLimit = 200

// accessParams says what an access token is for and about.
type accessParams struct {
	resource   *app
	resourceID string // as the client named the resource: v1 `aud`
	client     client
	user       *user    // nil: app-only token for the client's service principal
	scp        []string // delegated permissions (user tokens)
	roles      []string // app roles
}

// accessToken mints an access token in the shape of the resource's
// AccessTokenVersion (spec §1, §3): v2 names the client in azp/azpacr, v1 in
// appid/appidacr with upn and unique_name, an sts-like issuer, the resource
// as requested in aud and an x5t header.
func (s *Server) accessToken(t *tenant, p accessParams, now time.Time) (string, error) {
	uti, err := s.randomToken(16)
	if err != nil {
		return "", err
	}
	v1 := p.resource.AccessTokenVersion == 1
	c := jwt.MapClaims{
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(s.lifetime).Unix(),
		"tid": t.ID,
		"uti": uti,
	}
	if v1 {
		c["ver"], c["iss"], c["aud"] = "1.0", s.issuerV1(t), p.resourceID
		c["appid"], c["appidacr"] = p.client.app.ClientID, p.client.acr
	} else {
		c["ver"], c["iss"], c["aud"] = "2.0", s.issuerV2(t), p.resource.ClientID
		c["azp"], c["azpacr"] = p.client.app.ClientID, p.client.acr
	}
	if p.user == nil {
		c["oid"], c["sub"], c["idtyp"] = p.client.app.ObjectID, p.client.app.ObjectID, "app"
	} else {
		u := p.user
		c["oid"], c["sub"], c["name"] = u.ObjectID, pairwiseSub(t.ID, u.ObjectID, p.resource.ClientID), u.DisplayName
		c["scp"] = strings.Join(p.scp, " ")
		if v1 {
			c["upn"], c["unique_name"] = u.UserPrincipalName, u.UserPrincipalName
		} else {
			c["preferred_username"] = u.UserPrincipalName
		}
		if p.resource.GroupClaims {
			s.groupClaims(c, t, u, p.resource)
		}
	}
	if len(p.roles) > 0 {
		c["roles"] = p.roles
	}
	return s.sign(c, v1)
}

// groupClaims adds `groups`, or past the resource's overage limit the
// distributed-claim pointers Entra uses instead (spec §5).
func (s *Server) groupClaims(c jwt.MapClaims, t *tenant, u *user, res *app) {
	limit := res.GroupOverageLimit
	if limit == 0 {
		limit = defaultOverageLimit
	}
	if len(u.groups) <= limit {
		if len(u.groups) > 0 {
			c["groups"] = u.groups
		}
		return
	}
	c["_claim_names"] = map[string]string{"groups": "src1"}
	c["_claim_sources"] = map[string]any{"src1": map[string]string{
		"endpoint": "https://graph.windows.net/" + t.ID + "/users/" + u.ObjectID + "/getMemberObjects",
	}}
}

// idToken mints an OpenID Connect ID token for the client (always v2.0).
func (s *Server) idToken(t *tenant, u *user, clientID, nonce string, now time.Time) (string, error) {
	c := jwt.MapClaims{
		"aud":                clientID,
		"iss":                s.issuerV2(t),
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(s.lifetime).Unix(),
		"oid":                u.ObjectID,
		"tid":                t.ID,
		"sub":                pairwiseSub(t.ID, u.ObjectID, clientID),
		"name":               u.DisplayName,
		"preferred_username": u.UserPrincipalName,
		"ver":                "2.0",
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	return s.sign(c, false)
}

// sign signs with the current key: header typ JWT, alg RS256, kid, and for
// v1 tokens x5t (same value, spec §2).
func (s *Server) sign(c jwt.MapClaims, x5t bool) (string, error) {
	k := s.keys.snapshot().current
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = k.kid
	if x5t {
		tok.Header["x5t"] = k.kid
	}
	return tok.SignedString(k.priv)
}

// pairwiseSub is the `sub` of a user for an application (the token's
// audience): a stable hash of tenant, user and application, so two apps see
// two different subjects for one user (spec §3).
func pairwiseSub(tid, oid, appID string) string {
	sum := sha256.Sum256([]byte("gatehouse-idp-sub\x00" + strings.ToLower(tid) + "\x00" + strings.ToLower(oid) + "\x00" + strings.ToLower(appID)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// clientInfo is MSAL's client_info: unpadded base64url of {"uid","utid"};
// MSAL builds the home account id from it (spec §11).
func clientInfo(tid, oid string) string {
	b, _ := json.Marshal(map[string]string{"uid": oid, "utid": tid})
	return base64.RawURLEncoding.EncodeToString(b)
}
