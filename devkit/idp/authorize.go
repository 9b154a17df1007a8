package idp

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// authzRequest is a validated authorization request.
type authzRequest struct {
	tenant      *tenant
	client      *app
	redirectURI string
	mode        string // query, fragment or form_post
	state       string
	nonce       string
	scope       string
	challenge   string
	params      url.Values // as received, carried through the sign-in form
}

// authorize is GET and POST /{tenant}/oauth2/v2.0/authorize. Without a
// chosen user it shows the sign-in page listing the tenant's users; a POST
// naming one (login_user, the page's buttons) signs that user in and sends
// the code to the redirect URI in the requested response mode. No password
// is asked: this is a development IdP. Errors before the client and its
// redirect URI are known show an error page and never redirect
// (RFC 6749 §4.1.2.1); later ones go back to the client.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	t := s.dir.lookup(r.PathValue("tenant"))
	if t == nil {
		s.errorPage(w, r, http.StatusBadRequest, errUnknownTenant(truncate(r.PathValue("tenant"))))
		return
	}
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		form, e := readForm(w, r)
		if e != nil {
			s.errorPage(w, r, http.StatusBadRequest, e)
			return
		}
		params = form
	}
	req, pageErr, redirectErr := s.parseAuthorize(t, params)
	switch {
	case pageErr != nil:
		s.errorPage(w, r, http.StatusBadRequest, pageErr)
		return
	case redirectErr != nil:
		s.respond(w, req, errorParams(redirectErr))
		return
	}
	oid := params.Get("login_user")
	if r.Method != http.MethodPost || oid == "" {
		s.signInPage(w, req)
		return
	}
	// The sign-in form posts to this same origin; refuse a cross-site
	// browser post that would sign the browser in as someone else.
	if err := crossOrigin.Check(r); err != nil {
		s.errorPage(w, r, http.StatusForbidden, newError(errInvalidRequest, 9002313, "Cross-origin sign-in is not allowed."))
		return
	}
	u := t.byOID[strings.ToLower(oid)]
	if u == nil {
		s.errorPage(w, r, http.StatusBadRequest, newError(errInvalidRequest, 50034, "The user account does not exist in the %s directory.", t.name()))
		return
	}
	code, err := s.randomToken(32)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, errInternal())
		return
	}
	now := s.now()
	if e := s.grants.putCode(code, &authCode{
		tenantID: t.ID, clientID: strings.ToLower(req.client.ClientID), redirectURI: req.redirectURI,
		userOID: u.ObjectID, scope: req.scope, nonce: req.nonce, challenge: req.challenge,
		expires: now.Add(codeLifetime),
	}, now); e != nil {
		s.respond(w, req, errorParams(e))
		return
	}
	s.log.Info("idp: user signed in", "tenant", t.ID, "client", req.client.ClientID, "user", u.ObjectID)
	s.respond(w, req, url.Values{"code": {code}})
}

var crossOrigin = http.NewCrossOriginProtection()

// parseAuthorize validates an authorization request. pageErr means the
// client cannot be trusted with a redirect; redirectErr goes back to it.
func (s *Server) parseAuthorize(t *tenant, params url.Values) (req *authzRequest, pageErr, redirectErr *oauthError) {
	for k, v := range params {
		if len(v) > 1 {
			return nil, errMalformed("the parameter '%s' is repeated.", truncate(k)), nil
		}
	}
	req = &authzRequest{tenant: t, params: params, state: params.Get("state"), nonce: params.Get("nonce")}
	clientID := params.Get("client_id")
	if clientID == "" {
		return nil, errMissing("client_id"), nil
	}
	if req.client = t.byClient[strings.ToLower(clientID)]; req.client == nil {
		return nil, newError(errUnauthorizedClient, 700016, "Application with identifier '%s' was not found in the directory '%s'.", truncate(clientID), t.name()), nil
	}
	if req.redirectURI = params.Get("redirect_uri"); req.redirectURI == "" {
		return nil, errMissing("redirect_uri"), nil
	}
	if !req.client.redirectAllowed(req.redirectURI) {
		return nil, newError(errInvalidRequest, 50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.",
			truncate(req.redirectURI), req.client.ClientID), nil
	}
	// From here on errors go back to the (registered) redirect URI.
	switch req.mode = params.Get("response_mode"); req.mode {
	case "":
		req.mode = "query"
	case "query", "fragment", "form_post":
	default:
		req.mode = "query"
		return req, nil, errMalformed("response_mode '%s' is not supported.", truncate(params.Get("response_mode")))
	}
	if rt := params.Get("response_type"); rt != "code" {
		if rt == "" {
			return req, nil, errMissing("response_type")
		}
		return req, nil, newError(errUnsupportedResponseType, 700054, "response_type '%s' is not supported; use 'code'.", truncate(rt))
	}
	if params.Get("prompt") == "none" {
		return req, nil, newError(errLoginRequired, 50058, "A silent sign-in request was sent but no user is signed in.")
	}
	req.scope = params.Get("scope")
	sr, e := t.parseScopes(req.scope)
	if e == nil {
		_, e = t.delegated(req.client, sr)
	}
	if e != nil {
		return req, nil, e
	}
	req.challenge = params.Get("code_challenge")
	method := params.Get("code_challenge_method")
	switch {
	case req.challenge == "" && method != "":
		return req, nil, errMissing("code_challenge")
	case req.challenge == "" && req.client.allowsPublic():
		return req, nil, newError(errInvalidRequest, 900144, "Proof Key for Code Exchange is required for public clients: send code_challenge with code_challenge_method=S256.")
	case req.challenge == "":
	case method != "S256":
		// RFC 7636 §4.3: an absent method means plain, which is refused.
		return req, nil, errMalformed("code_challenge_method must be 'S256'; 'plain' is not supported.")
	case len(req.challenge) != 43 || !isBase64URL(req.challenge):
		return req, nil, newError(errInvalidRequest, 501491, "Invalid size of Code_Challenge parameter: an S256 challenge is 43 base64url characters.")
	}
	return req, nil, nil
}

func isBase64URL(s string) bool {
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// respond sends the authorization response (code or error, plus state) to
// the redirect URI: in its query (302), its fragment (302), or as an
// auto-submitting form (form_post, which MSAL's interactive flow uses).
func (s *Server) respond(w http.ResponseWriter, req *authzRequest, v url.Values) {
	if req.state != "" {
		v.Set("state", req.state)
	}
	pageHeaders(w.Header())
	if req.mode == "form_post" {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src '"+formPostScriptHash+"'; frame-ancestors 'none'; base-uri 'none'")
		var fields []field
		for _, k := range sortedKeys(v) {
			fields = append(fields, field{k, v.Get(k)})
		}
		w.WriteHeader(http.StatusOK)
		_ = formPostTemplate.Execute(w, struct {
			Action string
			Fields []field
			Script template.JS
		}{req.redirectURI, fields, formPostScript})
		return
	}
	u, _ := url.Parse(req.redirectURI) // registered, hence parseable
	if req.mode == "fragment" {
		w.Header().Set("Location", u.String()+"#"+v.Encode())
	} else {
		q := u.Query()
		for k := range v {
			q.Set(k, v.Get(k))
		}
		u.RawQuery = q.Encode()
		w.Header().Set("Location", u.String())
	}
	w.WriteHeader(http.StatusFound)
}

// errorParams is an error authorization response (RFC 6749 §4.1.2.1), with
// the AADSTS code leading the description as Entra sends it.
func errorParams(e *oauthError) url.Values {
	return url.Values{"error": {e.class}, "error_description": {"AADSTS" + strconv.Itoa(e.code) + ": " + e.desc}}
}

type field struct{ Name, Value string }

func (s *Server) signInPage(w http.ResponseWriter, req *authzRequest) {
	var hidden []field
	for _, k := range sortedKeys(req.params) {
		if k != "login_user" {
			hidden = append(hidden, field{k, req.params.Get(k)})
		}
	}
	type userButton struct{ ObjectID, DisplayName, UPN string }
	var users []userButton
	hint := strings.ToLower(req.params.Get("login_hint"))
	for _, u := range req.tenant.users {
		users = append(users, userButton{u.ObjectID, u.DisplayName, u.UserPrincipalName})
	}
	// A login_hint naming a user puts that user first.
	slices.SortStableFunc(users, func(a, b userButton) int {
		ah, bh := strings.ToLower(a.UPN) == hint, strings.ToLower(b.UPN) == hint
		switch {
		case ah && !bh:
			return -1
		case bh && !ah:
			return 1
		}
		return 0
	})
	pageHeaders(w.Header())
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src '"+pageStyleHash+"'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(http.StatusOK)
	_ = signInTemplate.Execute(w, struct {
		Style      template.CSS
		Action     string
		AppName    string
		TenantName string
		Params     []field
		Users      []userButton
	}{pageStyle, "/" + req.tenant.ID + "/oauth2/v2.0/authorize", req.client.Name, req.tenant.name(), hidden, users})
}

// errorPage shows an error to the person at the browser (AADSTS code and
// text, escaped); used when redirecting would be unsafe.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, e *oauthError) {
	s.log.Info("idp: authorization refused", "error", e.class, "code", e.code, "description", e.desc)
	b := s.errorBody(r, e)
	pageHeaders(w.Header())
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src '"+pageStyleHash+"'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_ = errorTemplate.Execute(w, struct {
		Style                         template.CSS
		Class, Message, Trace, Correl string
		Timestamp                     string
	}{pageStyle, e.class, "AADSTS" + strconv.Itoa(e.code) + ": " + e.desc, b.TraceID, b.CorrelationID, b.Timestamp})
}

func pageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	noStore(h)
}

const pageStyle = `body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.5rem;font-weight:600}.note{color:#555;font-size:.9rem}ul{list-style:none;padding:0}
button{display:block;width:100%;text-align:left;padding:.75rem 1rem;margin:.5rem 0;border:1px solid #8a8886;background:#fff;font-size:1rem;cursor:pointer}
button:hover{background:#f3f2f1}button span{display:block;color:#555;font-size:.85rem}pre{white-space:pre-wrap;font-size:.85rem}`

const formPostScript = `document.forms[0].submit();`

var (
	pageStyleHash      = cspHash(pageStyle)
	formPostScriptHash = cspHash(formPostScript)
)

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

var signInTemplate = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - gatehouse development IdP</title><style>{{.Style}}</style></head>
<body><main>
<h1>Sign in</h1>
<p>to <strong>{{.AppName}}</strong> in tenant <strong>{{.TenantName}}</strong></p>
<p class="note">Development identity provider: choose a user. No password is asked.</p>
<form method="post" action="{{.Action}}">
{{range .Params}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<ul>
{{range .Users}}<li><button type="submit" name="login_user" value="{{.ObjectID}}">{{.DisplayName}}<span>{{.UPN}}</span></button></li>
{{else}}<li>This tenant has no users.</li>
{{end}}</ul>
</form>
</main></body></html>
`))

var formPostTemplate = template.Must(template.New("formpost").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing in...</title></head>
<body>
<form method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<noscript><button type="submit">Continue</button></noscript>
</form>
<script>{{.Script}}</script>
</body></html>
`))

var errorTemplate = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in error - gatehouse development IdP</title><style>{{.Style}}</style></head>
<body><main>
<h1>Sorry, but we're having trouble signing you in.</h1>
<p><strong>{{.Class}}</strong></p>
<p>{{.Message}}</p>
<pre>Trace ID: {{.Trace}}
Correlation ID: {{.Correl}}
Timestamp: {{.Timestamp}}</pre>
</main></body></html>
`))
