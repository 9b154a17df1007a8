package idp

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// onBehalfOf is Entra's on-behalf-of grant (spec §9): a middle-tier API
// trades the user access token it received for a token to a downstream API.
// The assertion must be a user token this IdP issued in this tenant, valid
// now, whose audience is the middle tier. The new token keeps the user
// (oid, scp-type identity) and names the middle tier in azp/appid.
func (s *Server) onBehalfOf(r *http.Request, t *tenant, form url.Values) (*tokenResponse, *oauthError) {
	switch form.Get("requested_token_use") {
	case "on_behalf_of":
	case "":
		return nil, errMissing("requested_token_use")
	default:
		return nil, errMalformed("requested_token_use must be 'on_behalf_of'.")
	}
	c, e := s.authenticateClient(r, form, t, true)
	if e != nil {
		return nil, e
	}
	p, e := required(form, "assertion", "scope")
	if e != nil {
		return nil, e
	}
	u, e := s.verifyUserAssertion(t, c.app, p[0])
	if e != nil {
		return nil, e
	}
	return s.userTokens(t, c, u, p[1], "", false)
}

// verifyUserAssertion verifies an access token this IdP signed (any
// published key) for the middle tier, and returns its user.
func (s *Server) verifyUserAssertion(t *tenant, middle *app, raw string) (*user, *oauthError) {
	invalid := func(why string) *oauthError {
		return newError(errInvalidGrant, 50013, "Assertion failed signature validation or is not acceptable: %s", why)
	}
	keys := s.keys.snapshot()
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
	)
	claims := jwt.MapClaims{}
	_, err := p.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		k := keys.byKid(kid)
		if k == nil {
			return nil, errors.New("unknown kid")
		}
		return &k.priv.PublicKey, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, newError(errInvalidGrant, 500133, "Assertion is not within its valid time range.")
	case err != nil:
		return nil, invalid(err.Error())
	}
	iss, _ := claims["iss"].(string)
	tid, _ := claims["tid"].(string)
	aud, _ := claims["aud"].(string)
	var auds []string
	switch iss {
	case s.issuerV2(t):
		auds = []string{middle.ClientID}
	case s.issuerV1(t):
		auds = []string{middle.ClientID, middle.AppIDURI, strings.TrimSuffix(middle.AppIDURI, "/"), strings.TrimSuffix(middle.AppIDURI, "/") + "/"}
	default:
		return nil, invalid("the issuer is not this tenant")
	}
	if tid != t.ID {
		return nil, invalid("the tenant is not this tenant")
	}
	audOK := false
	for _, a := range auds {
		audOK = audOK || aud == a
	}
	if !audOK {
		return nil, invalid("the audience is not the calling application")
	}
	if idtyp, _ := claims["idtyp"].(string); idtyp == "app" {
		return nil, invalid("on-behalf-of needs a user token, not an app-only token")
	}
	if scp, _ := claims["scp"].(string); scp == "" {
		return nil, invalid("on-behalf-of needs a user token with delegated permissions (scp)")
	}
	oid, _ := claims["oid"].(string)
	u := t.byOID[strings.ToLower(oid)]
	if u == nil {
		return nil, invalid("the user is not in the directory")
	}
	return u, nil
}
