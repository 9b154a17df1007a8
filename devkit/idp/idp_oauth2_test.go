package idp

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// golang.org/x/oauth2 against the IdP.

func (f *fixture) ctx(t *testing.T) context.Context {
	return context.WithValue(t.Context(), oauth2.HTTPClient, f.ts.Client())
}

func TestOAuth2ClientCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// The secret has characters that RFC 6749 §2.3.1 form-encoding changes
	// (space, +, /, =, &, %), so Basic authentication proves the decoding.
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams, oauth2.AuthStyleAutoDetect} {
		cc := clientcredentials.Config{
			ClientID: daemonID, ClientSecret: daemonSecret, AuthStyle: style,
			TokenURL: f.url(tokenPath), Scopes: []string{apiDefault},
		}
		tok, err := cc.Token(f.ctx(t))
		if err != nil {
			t.Fatalf("AuthStyle %d: %v", style, err)
		}
		if tok.TokenType != "Bearer" || tok.Expiry.IsZero() || tok.RefreshToken != "" {
			t.Errorf("token type %q, expiry %v, refresh token %q", tok.TokenType, tok.Expiry, tok.RefreshToken)
		}
		_, claims := f.verify(t, tok.AccessToken)
		wantClaims(t, claims, map[string]any{"aud": apiID, "azp": daemonID, "azpacr": "1", "roles": []string{"Jobs.Run"}})
	}
	cc := clientcredentials.Config{ClientID: daemonID, ClientSecret: "wrong", TokenURL: f.url(tokenPath), Scopes: []string{apiDefault}}
	if _, err := cc.Token(f.ctx(t)); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("wrong secret: err = %v, want invalid_client", err)
	}
}

// signIn drives the sign-in page like a browser: GET the authorization URL,
// read the form, post it back with the chosen user's button, and return the
// redirect (not followed).
func (f *fixture) signIn(t *testing.T, authURL, userOID string) *http.Response {
	t.Helper()
	c := *f.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page: status %d: %s", resp.StatusCode, page)
	}
	action := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindSubmatch(page)
	if action == nil {
		t.Fatalf("no form on the sign-in page:\n%s", page)
	}
	if !strings.Contains(string(page), `name="login_user" value="`+userOID+`"`) {
		t.Fatalf("no button for user %s on the sign-in page", userOID)
	}
	form := url.Values{"login_user": {userOID}}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`).FindAllSubmatch(page, -1) {
		form.Set(html.UnescapeString(string(m[1])), html.UnescapeString(string(m[2])))
	}
	resp, err = c.PostForm(f.url(html.UnescapeString(string(action[1]))), form)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// codeFrom returns the code of a query-mode authorization response after
// checking the state.
func codeFrom(t *testing.T, resp *http.Response, redirect, state string) string {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorization response: status %d, want 302: %s", resp.StatusCode, b)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirect {
		t.Fatalf("redirected to %s, want %s", got, redirect)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state {
		t.Errorf("state %q, want %q", q.Get("state"), state)
	}
	return q.Get("code")
}

func webConfig(f *fixture, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: webID, ClientSecret: webSecret, RedirectURL: webRedirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:  f.url("/" + tenantID + "/oauth2/v2.0/authorize"),
			TokenURL: f.url(tokenPath),
		},
	}
}

func TestOAuth2AuthorizationCodeWithPKCE(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	conf := webConfig(f, "openid", "profile", "offline_access", apiScope)
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier))
	code := codeFrom(t, f.signIn(t, authURL, adaOID), webRedirect, "state-1")

	tok, err := conf.Exchange(f.ctx(t), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	_, claims := f.verify(t, tok.AccessToken)
	wantClaims(t, claims, map[string]any{
		"aud": apiID, "azp": webID, "azpacr": "1", "oid": adaOID, "scp": "access_as_user", "ver": "2.0",
	})
	if tok.RefreshToken == "" || tok.Extra("id_token") == nil || tok.Extra("client_info") == nil {
		t.Errorf("refresh token %v, id_token %v, client_info %v: want all", tok.RefreshToken != "", tok.Extra("id_token") != nil, tok.Extra("client_info"))
	}
	if got := tok.Extra("scope"); got != apiScope+" openid profile offline_access" {
		t.Errorf("scope = %q", got)
	}

	// A refresh through x/oauth2's TokenSource returns a new refresh token.
	expired := &oauth2.Token{RefreshToken: tok.RefreshToken}
	next, err := conf.TokenSource(f.ctx(t), expired).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
		t.Errorf("refresh token not rotated")
	}
}

func TestRefreshTokenRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.tokenOK(t, url.Values{"grant_type": {"password"}, "client_id": {cliID}, "username": {"ada@contoso.example"},
		"password": {adaPassword}, "scope": {apiScope + " offline_access"}})
	rt1, _ := first["refresh_token"].(string)
	if rt1 == "" {
		t.Fatal("no refresh token with offline_access")
	}
	refresh := func(rt string, extra ...string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {cliID}, "refresh_token": {rt}}
		for i := 0; i+1 < len(extra); i += 2 {
			form.Set(extra[i], extra[i+1])
		}
		return f.post(t, tokenPath, form)
	}
	// A scope the client may not have refused: the refresh token stays good.
	status, body := refresh(rt1, "scope", "api://gatehouse-dev/Nope")
	wantError(t, status, body, http.StatusBadRequest, "invalid_scope", 70011)

	status, second := refresh(rt1)
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, second)
	}
	rt2, _ := second["refresh_token"].(string)
	if rt2 == "" || rt2 == rt1 {
		t.Fatal("refresh token not rotated")
	}
	wantClaims(t, claimsOf(t, second["access_token"].(string)), map[string]any{"aud": apiID, "oid": adaOID, "scp": "access_as_user"})

	status, body = refresh(rt1)
	wantError(t, status, body, http.StatusBadRequest, "invalid_grant", 70008)

	// Another client cannot use it, and the failed attempt does not burn it.
	status, body = f.post(t, tokenPath, url.Values{"grant_type": {"refresh_token"}, "client_id": {webID},
		"client_secret": {webSecret}, "refresh_token": {rt2}})
	wantError(t, status, body, http.StatusBadRequest, "invalid_grant", 70000)

	// A refresh may name another resource the client may call (v1 here).
	status, third := refresh(rt2, "scope", legacyURI+"/user_impersonation offline_access")
	if status != http.StatusOK {
		t.Fatalf("refresh for another resource: %d %v", status, third)
	}
	wantClaims(t, claimsOf(t, third["access_token"].(string)), map[string]any{"aud": legacyURI, "ver": "1.0", "scp": "user_impersonation"})

	// Refresh tokens expire.
	f.clock.Add(refreshLifetime + 1)
	status, body = refresh(third["refresh_token"].(string))
	wantError(t, status, body, http.StatusBadRequest, "invalid_grant", 70008)
}
