package idp

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzTokenEndpoint: whatever the body, the token endpoint answers 200, 400
// or 401 with a JSON body, and never panics.
func FuzzTokenEndpoint(f *testing.F) {
	for _, seed := range []string{
		"grant_type=client_credentials&client_id=" + daemonID + "&client_secret=x&scope=" + apiDefault,
		"grant_type=password&client_id=" + cliID + "&username=ada@contoso.example&password=" + adaPassword + "&scope=" + apiScope + "+openid+offline_access",
		"grant_type=authorization_code&client_id=" + cliID + "&code=x&redirect_uri=http://localhost&code_verifier=y",
		"grant_type=refresh_token&client_id=" + cliID + "&refresh_token=x&scope=%2F%2F%2F",
		"grant_type=" + grantTypeJWTBearer + "&requested_token_use=on_behalf_of&client_id=" + middleID + "&client_secret=" + middleSecret + "&assertion=e30.e30.e30&scope=x",
		"grant_type=client_credentials&client_id=" + certDaemonID + "&client_assertion_type=" + clientAssertionType + "&client_assertion=eyJhbGciOiJQUzI1NiJ9.e30.AA&scope=" + apiDefault,
		"scope=" + strings.Repeat("a/b ", 60), "%", "&&&=", "grant_type=password&scope=api://x//",
	} {
		f.Add(seed, "")
	}
	f.Add("grant_type=client_credentials", "Basic "+"Zm9vOmJhcg==")
	f.Add("grant_type=client_credentials", "Basic %%%")
	srv, err := New(Config{BaseURL: "https://idp.example", Tenants: testTenants(), Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Unix(1_900_000_000, 0) }})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, body, authorization string) {
		req := httptest.NewRequest(http.MethodPost, tokenPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 && rec.Code != 401 {
			t.Fatalf("status %d", rec.Code)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
	})
}

// FuzzAuthorize: whatever the query, the authorize endpoint answers with a
// page (200, 400) or a redirect (302) to a registered URI, never panics.
func FuzzAuthorize(f *testing.F) {
	for _, seed := range []string{
		"client_id=" + cliID + "&response_type=code&redirect_uri=http://localhost:1&scope=openid&code_challenge=" + strings.Repeat("a", 43) + "&code_challenge_method=S256",
		"client_id=" + webID + "&response_type=code&redirect_uri=" + webRedirect + "&scope=" + apiScope + "&response_mode=form_post&state=%3C",
		"client_id=" + cliID + "&redirect_uri=http://localhost:1/../x", "redirect_uri=%zz", "",
	} {
		f.Add(seed)
	}
	srv, err := New(Config{BaseURL: "https://idp.example", Tenants: testTenants(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, authorizePath, nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400:
		case 302:
			loc := strings.ToLower(rec.Header().Get("Location")) // host names are case-insensitive
			if !strings.HasPrefix(loc, "http://localhost:") && !strings.HasPrefix(loc, "http://localhost?") && !strings.HasPrefix(loc, webRedirect+"?") {
				t.Fatalf("redirect to an unregistered URI %q", loc)
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
	})
}
