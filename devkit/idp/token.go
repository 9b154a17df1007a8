package idp

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokenResponse is the token endpoint's success body (RFC 6749 §5.1 with
// Entra's and MSAL's extras, spec §9 and §11).
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

// token is POST /{tenant}/oauth2/v2.0/token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	resp, e := s.tokenRequest(w, r)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	noStore(w.Header())
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request) (*tokenResponse, *oauthError) {
	t := s.dir.lookup(r.PathValue("tenant"))
	if t == nil {
		return nil, errUnknownTenant(truncate(r.PathValue("tenant")))
	}
	form, e := readForm(w, r)
	if e != nil {
		return nil, e
	}
	if form.Has("resource") {
		return nil, newError(errInvalidRequest, 901002, "The 'resource' request parameter is not supported.")
	}
	switch gt := form.Get("grant_type"); gt {
	case "":
		return nil, errMissing("grant_type")
	case "client_credentials":
		return s.clientCredentials(r, t, form)
	case "password":
		return s.password(r, t, form)
	case "authorization_code":
		return s.authorizationCode(r, t, form)
	case "refresh_token":
		return s.refreshToken(r, t, form)
	case grantTypeJWTBearer:
		return s.onBehalfOf(r, t, form)
	default:
		return nil, newError(errUnsupportedGrantType, 70003, "The app requested an unsupported grant type '%s'.", truncate(gt))
	}
}

// readForm reads an application/x-www-form-urlencoded body of at most
// maxBodyBytes in which no parameter is repeated (RFC 6749 §3.2). Query
// parameters are ignored.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errMalformed("the body must be application/x-www-form-urlencoded.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errMalformed("the body is larger than %d bytes.", maxBodyBytes)
		}
		return nil, errMalformed("the body could not be read.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errMalformed("the body is not form-urlencoded.")
	}
	for k, v := range form {
		if len(v) > 1 {
			return nil, errMalformed("the parameter '%s' is repeated.", truncate(k))
		}
	}
	return form, nil
}

// required returns the named form parameters, or AADSTS900144 for the first
// one missing.
func required(form url.Values, names ...string) ([]string, *oauthError) {
	out := make([]string, len(names))
	for i, n := range names {
		if out[i] = form.Get(n); out[i] == "" {
			return nil, errMissing(n)
		}
	}
	return out, nil
}

func (s *Server) appResponse(t *tenant, c client, sr scopeRequest, now time.Time) (*tokenResponse, *oauthError) {
	at, err := s.accessToken(t, accessParams{
		resource: sr.resource, resourceID: sr.resourceID, client: c, roles: c.app.applicationRoles(sr.resource),
	}, now)
	if err != nil {
		s.log.Error("idp: cannot mint token", "err", err)
		return nil, errInternal()
	}
	s.log.Info("idp: app token issued", "tenant", t.ID, "client", c.app.ClientID, "credential", c.credential, "resource", sr.resource.ClientID)
	secs := int64(s.lifetime / time.Second)
	return &tokenResponse{TokenType: "Bearer", ExpiresIn: secs, ExtExpiresIn: secs, AccessToken: at}, nil
}

// userTokens answers a delegated flow: an access token for the requested
// resource (Microsoft Graph's stand-in when only OIDC scopes were asked
// for), an ID token with `openid`, a refresh token with `offline_access` or
// when refreshing, and MSAL's client_info.
func (s *Server) userTokens(t *tenant, c client, u *user, scope, nonce string, rotate bool) (*tokenResponse, *oauthError) {
	now := s.now()
	sr, e := t.parseScopes(scope)
	if e != nil {
		return nil, e
	}
	scp, e := t.delegated(c.app, sr)
	if e != nil {
		return nil, e
	}
	res, resID := sr.resource, sr.resourceID
	var granted []string
	for _, n := range scp {
		granted = append(granted, strings.TrimSuffix(resID, "/")+"/"+n)
	}
	if res == nil {
		res, resID = graph, graph.ClientID
		for _, o := range sr.oidc {
			if o != "offline_access" {
				scp = append(scp, o)
			}
		}
		if len(scp) == 0 {
			scp = []string{"openid"}
		}
	}
	at, err := s.accessToken(t, accessParams{
		resource: res, resourceID: resID, client: c, user: u, scp: scp,
		roles: u.roles[strings.ToLower(res.ClientID)],
	}, now)
	if err != nil {
		s.log.Error("idp: cannot mint token", "err", err)
		return nil, errInternal()
	}
	secs := int64(s.lifetime / time.Second)
	resp := &tokenResponse{
		TokenType: "Bearer", ExpiresIn: secs, ExtExpiresIn: secs, AccessToken: at,
		Scope:      strings.Join(append(granted, sr.oidc...), " "),
		ClientInfo: clientInfo(t.ID, u.ObjectID),
	}
	if sr.has("openid") {
		if resp.IDToken, err = s.idToken(t, u, c.app.ClientID, nonce, now); err != nil {
			s.log.Error("idp: cannot mint token", "err", err)
			return nil, errInternal()
		}
	}
	if sr.has("offline_access") || rotate {
		rt, err := s.randomToken(32)
		if err != nil {
			return nil, errInternal()
		}
		if e := s.grants.putRefresh(rt, &refreshGrant{
			tenantID: t.ID, clientID: strings.ToLower(c.app.ClientID), userOID: u.ObjectID,
			scope: scope, expires: now.Add(refreshLifetime),
		}, now); e != nil {
			return nil, e
		}
		resp.RefreshToken = rt
	}
	s.log.Info("idp: user token issued", "tenant", t.ID, "client", c.app.ClientID, "credential", c.credential, "user", u.ObjectID, "resource", res.ClientID)
	return resp, nil
}
