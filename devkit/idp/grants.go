package idp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// clientCredentials is the client_credentials grant: an app-only token for
// `{resource}/.default` carrying the application permissions granted to the
// client (spec §9). Browsers (requests with Origin) are refused, as by Entra.
func (s *Server) clientCredentials(r *http.Request, t *tenant, form url.Values) (*tokenResponse, *oauthError) {
	if r.Header.Get("Origin") != "" {
		return nil, newError(errInvalidRequest, 9002326, "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type.")
	}
	c, e := s.authenticateClient(r, form, t, true)
	if e != nil {
		return nil, e
	}
	sr, e := t.parseScopes(form.Get("scope"))
	if e != nil {
		return nil, e
	}
	if sr.resource == nil || !sr.isDefault {
		return nil, newError(errInvalidScope, 1002012,
			"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", quoteScope(form.Get("scope")))
	}
	return s.appResponse(t, c, sr, s.now())
}

// password is the resource owner password grant, for development users
// only, from public or confidential clients.
func (s *Server) password(r *http.Request, t *tenant, form url.Values) (*tokenResponse, *oauthError) {
	c, e := s.authenticateClient(r, form, t, false)
	if e != nil {
		return nil, e
	}
	p, e := required(form, "username", "password", "scope")
	if e != nil {
		return nil, e
	}
	u := t.byUPN[strings.ToLower(p[0])]
	// Compare even for unknown users, so timing does not tell who exists.
	want := ""
	if u != nil {
		want = u.Password
	}
	if subtle.ConstantTimeCompare([]byte(p[1]), []byte(want)) != 1 || want == "" {
		return nil, newError(errInvalidGrant, 50126, "Error validating credentials due to invalid username or password.")
	}
	return s.userTokens(t, c, u, p[2], "", false)
}

// authorizationCode redeems a code from the authorize endpoint: same client,
// the same redirect_uri, the PKCE verifier when a challenge was sent; a code
// is good once and for codeLifetime. The scope comes from the authorization
// request; a `scope` parameter here is ignored.
func (s *Server) authorizationCode(r *http.Request, t *tenant, form url.Values) (*tokenResponse, *oauthError) {
	c, e := s.authenticateClient(r, form, t, false)
	if e != nil {
		return nil, e
	}
	p, e := required(form, "code", "redirect_uri")
	if e != nil {
		return nil, e
	}
	g, e := s.grants.redeemCode(p[0], strings.ToLower(c.app.ClientID), s.now())
	if e != nil {
		return nil, e
	}
	if g.tenantID != t.ID {
		return nil, newError(errInvalidGrant, 70000, "The provided authorization code was issued in another tenant.")
	}
	if g.redirectURI != p[1] {
		return nil, newError(errInvalidGrant, 50011, "The redirect URI '%s' does not match the redirect URI of the authorization request.", truncate(p[1]))
	}
	verifier := form.Get("code_verifier")
	switch {
	case g.challenge == "" && verifier != "":
		return nil, newError(errInvalidGrant, 501481, "The code_verifier was sent but the authorization request had no code_challenge.")
	case g.challenge != "" && !validVerifier(verifier):
		return nil, newError(errInvalidGrant, 501481, "The code_verifier does not match the code_challenge supplied in the authorization request (RFC 7636: 43 to 128 unreserved characters).")
	case g.challenge != "":
		sum := sha256.Sum256([]byte(verifier))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.challenge)) != 1 {
			return nil, newError(errInvalidGrant, 501481, "The code_verifier does not match the code_challenge supplied in the authorization request.")
		}
	}
	u := t.byOID[strings.ToLower(g.userOID)]
	if u == nil {
		return nil, newError(errInvalidGrant, 70000, "The user of the authorization code is not in the directory.")
	}
	return s.userTokens(t, c, u, g.scope, g.nonce, false)
}

// validVerifier checks RFC 7636 §4.1: 43 to 128 characters of
// [A-Z a-z 0-9 - . _ ~].
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// refreshToken redeems a refresh token: once (the response carries a new
// one), by the client it was issued to. Without `scope` the original scope
// is asked for again; with it, any resource the client may call.
func (s *Server) refreshToken(r *http.Request, t *tenant, form url.Values) (*tokenResponse, *oauthError) {
	c, e := s.authenticateClient(r, form, t, false)
	if e != nil {
		return nil, e
	}
	p, e := required(form, "refresh_token")
	if e != nil {
		return nil, e
	}
	scope := form.Get("scope")
	g, e := s.grants.takeRefresh(p[0], strings.ToLower(c.app.ClientID), s.now(), func(g refreshGrant) *oauthError {
		if g.tenantID != t.ID {
			return newError(errInvalidGrant, 70000, "The provided refresh token was issued in another tenant.")
		}
		if scope == "" {
			scope = g.scope
		}
		sr, e := t.parseScopes(scope)
		if e == nil {
			_, e = t.delegated(c.app, sr)
		}
		return e
	})
	if e != nil {
		return nil, e
	}
	u := t.byOID[strings.ToLower(g.userOID)]
	if u == nil {
		return nil, newError(errInvalidGrant, 70000, "The user of the refresh token is not in the directory.")
	}
	return s.userTokens(t, c, u, scope, "", true)
}
