package idp

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

const authorizePath = "/" + tenantID + "/oauth2/v2.0/authorize"

// authorizeURL builds an authorization request for the CLI (public) client
// with a loopback redirect and a valid S256 challenge, edited by kv
// (an empty value deletes the parameter).
func (f *fixture) authorizeURL(kv ...string) string {
	q := url.Values{
		"client_id": {cliID}, "response_type": {"code"}, "redirect_uri": {"http://localhost:53117"},
		"scope": {apiScope + " openid offline_access"}, "state": {"st"},
		"code_challenge": {challenge(testVerifier)}, "code_challenge_method": {"S256"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	return f.url(authorizePath + "?" + q.Encode())
}

var testVerifier = oauth2.GenerateVerifier()

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (f *fixture) get(t *testing.T, u string, header ...string) (*http.Response, string) {
	t.Helper()
	c := *f.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSignInPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp, page := f.get(t, f.authorizeURL("login_hint", "carol@contoso.example", "state", `"><script>alert(1)</script>`))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, page)
	}
	for h, want := range map[string]string{
		"Content-Type": "text/html; charset=utf-8", "X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	for _, want := range []string{"Ada Lovelace", "ada@contoso.example", "Bob &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;", ">cli<"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The style is allowed by its CSP hash, so it must appear byte for byte.
	if !strings.Contains(page, "<style>"+pageStyle+"</style>") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), pageStyleHash) {
		t.Error("page style does not match the hash in the Content-Security-Policy")
	}
	if strings.Contains(page, "<script>") {
		t.Errorf("page contains an unescaped <script>:\n%s", page)
	}
	if strings.Index(page, carolOID) > strings.Index(page, adaOID) {
		t.Error("login_hint's user is not listed first")
	}
}

func TestAuthorizeShowsErrorPageInsteadOfRedirecting(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name     string
		kv       []string
		wantCode string
	}{
		{"unregistered redirect URI", []string{"redirect_uri", "https://evil.example/cb"}, "AADSTS50011"},
		{"redirect URI with markup", []string{"redirect_uri", `https://evil.example/"><script>x</script>`}, "AADSTS50011"},
		{"loopback with another path", []string{"redirect_uri", "http://localhost:53117/other"}, "AADSTS50011"},
		{"loopback IP when localhost is registered", []string{"redirect_uri", "http://127.0.0.1:53117"}, "AADSTS50011"},
		{"https on the loopback port", []string{"redirect_uri", "https://localhost:53117"}, "AADSTS50011"},
		{"missing redirect URI", []string{"redirect_uri", ""}, "AADSTS900144"},
		{"unknown client", []string{"client_id", "c0000000-0000-4000-8000-0000000000ff"}, "AADSTS700016"},
		{"missing client", []string{"client_id", ""}, "AADSTS900144"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, page := f.get(t, f.authorizeURL(tt.kv...))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("status %d, Location %q: want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(page, tt.wantCode) || strings.Contains(page, "<script>") {
				t.Errorf("page lacks %s or has unescaped markup:\n%s", tt.wantCode, page)
			}
		})
	}
	resp, page := f.get(t, f.url("/nope.example/oauth2/v2.0/authorize"))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "AADSTS90002") {
		t.Errorf("unknown tenant: status %d", resp.StatusCode)
	}
}

func TestAuthorizeRedirectsErrorsToTheClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name      string
		kv        []string
		wantError string
		wantCode  string
	}{
		{"response_type token", []string{"response_type", "token"}, "unsupported_response_type", "AADSTS700054"},
		{"missing response_type", []string{"response_type", ""}, "invalid_request", "AADSTS900144"},
		{"plain PKCE is refused", []string{"code_challenge_method", "plain", "code_challenge", testVerifier}, "invalid_request", "AADSTS9002313"},
		{"challenge without method means plain", []string{"code_challenge_method", ""}, "invalid_request", "AADSTS9002313"},
		{"public client needs PKCE", []string{"code_challenge", "", "code_challenge_method", ""}, "invalid_request", "AADSTS900144"},
		{"challenge of the wrong size", []string{"code_challenge", "abc"}, "invalid_request", "AADSTS501491"},
		{"unknown scope", []string{"scope", "api://gatehouse-dev/Nope"}, "invalid_scope", "AADSTS70011"},
		{"two resources", []string{"scope", apiScope + " " + legacyURI + "/user_impersonation"}, "invalid_scope", "AADSTS700022"},
		{"missing scope", []string{"scope", ""}, "invalid_request", "AADSTS900144"},
		{"unknown response_mode", []string{"response_mode", "web_message"}, "invalid_request", "AADSTS9002313"},
		{"prompt=none without a session", []string{"prompt", "none"}, "login_required", "AADSTS50058"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := f.get(t, f.authorizeURL(tt.kv...))
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc == nil || loc.Host != "localhost:53117" {
				t.Fatalf("status %d, Location %q: want a redirect to the client", resp.StatusCode, resp.Header.Get("Location"))
			}
			q := loc.Query()
			if q.Get("error") != tt.wantError || !strings.HasPrefix(q.Get("error_description"), tt.wantCode+": ") || q.Get("state") != "st" || q.Has("code") {
				t.Errorf("redirect query %v: want error %s, %s, state st, no code", q, tt.wantError, tt.wantCode)
			}
		})
	}
}

func TestAuthorizationCodeRedemption(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	newCode := func(t *testing.T, kv ...string) string {
		return codeFrom(t, f.signIn(t, f.authorizeURL(kv...), adaOID), "http://localhost:53117", "st")
	}
	redeem := func(code string, kv ...string) (int, map[string]any) {
		return f.post(t, tokenPath, form(append([]string{"grant_type", "authorization_code", "client_id", cliID, "code", code,
			"redirect_uri", "http://localhost:53117", "code_verifier", testVerifier}, kv...)...))
	}

	t.Run("redeemed once", func(t *testing.T) {
		code := newCode(t)
		status, body := redeem(code)
		if status != http.StatusOK {
			t.Fatalf("first redemption: %d %v", status, body)
		}
		wantClaims(t, claimsOf(t, body["access_token"].(string)), map[string]any{"aud": apiID, "azp": cliID, "azpacr": "0", "scp": "access_as_user", "oid": adaOID})
		if body["id_token"] == nil || body["refresh_token"] == nil {
			t.Error("want id_token (openid) and refresh_token (offline_access)")
		}
		status, body = redeem(code)
		wantError(t, status, body, 400, "invalid_grant", 54005)
	})
	t.Run("wrong verifier", func(t *testing.T) {
		status, body := redeem(newCode(t), "code_verifier", oauth2.GenerateVerifier())
		wantError(t, status, body, 400, "invalid_grant", 501481)
	})
	t.Run("missing verifier", func(t *testing.T) {
		status, body := redeem(newCode(t), "code_verifier", "")
		wantError(t, status, body, 400, "invalid_grant", 501481)
	})
	t.Run("malformed verifier", func(t *testing.T) {
		status, body := redeem(newCode(t), "code_verifier", "short")
		wantError(t, status, body, 400, "invalid_grant", 501481)
	})
	t.Run("wrong redirect URI", func(t *testing.T) {
		status, body := redeem(newCode(t), "redirect_uri", "http://localhost:1234")
		wantError(t, status, body, 400, "invalid_grant", 50011)
	})
	t.Run("another client", func(t *testing.T) {
		code := newCode(t)
		status, body := redeem(code, "client_id", webID, "client_secret", webSecret)
		wantError(t, status, body, 400, "invalid_grant", 70000)
		if status, body := redeem(code); status != http.StatusOK {
			t.Errorf("the code's client after a foreign attempt: %d %v", status, body)
		}
	})
	t.Run("public client sending a secret", func(t *testing.T) {
		status, body := redeem(newCode(t), "client_secret", "x")
		wantError(t, status, body, 401, "invalid_client", 700025)
	})
	t.Run("expired", func(t *testing.T) {
		g := newFixture(t)
		code := codeFrom(t, g.signIn(t, g.authorizeURL(), adaOID), "http://localhost:53117", "st")
		g.clock.Add(codeLifetime)
		status, body := g.post(t, tokenPath, form("grant_type", "authorization_code", "client_id", cliID, "code", code,
			"redirect_uri", "http://localhost:53117", "code_verifier", testVerifier))
		wantError(t, status, body, 400, "invalid_grant", 70008)
	})
	t.Run("confidential client without PKCE", func(t *testing.T) {
		conf := webConfig(f, apiScope)
		code := codeFrom(t, f.signIn(t, conf.AuthCodeURL("s2"), adaOID), webRedirect, "s2")
		status, body := f.post(t, tokenPath, form("grant_type", "authorization_code", "client_id", webID, "client_secret", webSecret,
			"code", code, "redirect_uri", webRedirect, "code_verifier", testVerifier))
		wantError(t, status, body, 400, "invalid_grant", 501481) // a verifier for a code without a challenge
		code = codeFrom(t, f.signIn(t, conf.AuthCodeURL("s3"), adaOID), webRedirect, "s3")
		if _, err := conf.Exchange(f.ctx(t), code); err != nil {
			t.Errorf("Exchange without PKCE: %v", err)
		}
	})
}

func TestAuthorizeResponseModes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	t.Run("form_post", func(t *testing.T) {
		resp := f.signIn(t, f.authorizeURL("response_mode", "form_post", "state", `a"b<c`), adaOID)
		page, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
			t.Fatalf("status %d, Location %q: want a 200 page", resp.StatusCode, resp.Header.Get("Location"))
		}
		for _, want := range []string{`<form method="post" action="http://localhost:53117">`, `name="code" value="`, `name="state" value="a&#34;b&lt;c"`, "<script>" + formPostScript + "</script>"} {
			if !strings.Contains(string(page), want) {
				t.Errorf("form_post page lacks %q:\n%s", want, page)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src '"+formPostScriptHash+"'") {
			t.Errorf("CSP %q does not allow exactly the auto-submit script", csp)
		}
	})
	t.Run("fragment", func(t *testing.T) {
		resp := f.signIn(t, f.authorizeURL("response_mode", "fragment"), adaOID)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		frag, _ := url.ParseQuery(loc.Fragment)
		if resp.StatusCode != http.StatusFound || loc.RawQuery != "" || frag.Get("code") == "" || frag.Get("state") != "st" {
			t.Errorf("status %d, Location %q: want code and state in the fragment", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

func TestSignInPostRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	params, _ := url.ParseQuery(strings.SplitN(f.authorizeURL(), "?", 2)[1])
	post := func(form url.Values, header ...string) (*http.Response, string) {
		c := *f.ts.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		req, _ := http.NewRequest(http.MethodPost, f.url(authorizePath), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	// An authorization request may be posted; without a user it shows the page.
	if resp, page := post(params); resp.StatusCode != http.StatusOK || !strings.Contains(page, adaOID) {
		t.Errorf("posted authorization request: status %d", resp.StatusCode)
	}
	withUser := func(oid string) url.Values {
		v := url.Values{}
		for k := range params {
			v.Set(k, params.Get(k))
		}
		v.Set("login_user", oid)
		return v
	}
	if resp, page := post(withUser("aaaaaaaa-0000-4000-8000-0000000000ff")); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "AADSTS50034") {
		t.Errorf("unknown user: status %d", resp.StatusCode)
	}
	if resp, _ := post(withUser(adaOID), "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site sign-in post: status %d, want 403", resp.StatusCode)
	}
	if resp, _ := post(withUser(adaOID), "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusFound {
		t.Errorf("same-origin sign-in post: status %d, want 302", resp.StatusCode)
	}
}
