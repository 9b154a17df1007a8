package keyvault

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/gatehouse-dev/gatehouse/devkit/idp"
)

// TestAPIVersions: the versions served answer; others get Key Vault's
// BadParameter; an SDK client pinned to 7.4 (ClientOptions.APIVersion)
// works as well as one with its default.
func TestAPIVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := token(t, f.credential(t, tenantID, clientID, clientSecret), Resource+"/.default")
	if _, err := f.vault.SetSecret("s", "v"); err != nil {
		t.Fatal(err)
	}
	for _, v := range apiVersions {
		if resp, body := f.do(t, http.MethodGet, "/secrets/s?api-version="+v, tok, nil); resp.StatusCode != http.StatusOK || body["value"] != "v" {
			t.Errorf("api-version %s: %d %v", v, resp.StatusCode, body)
		}
	}
	for _, v := range []string{"7.3", "2016-10-01", "7.6-preview.2", "2026-01-01-preview", "7.60"} {
		resp, body := f.do(t, http.MethodGet, "/secrets/s?api-version="+url.QueryEscape(v), tok, nil)
		wantKVError(t, resp, body, http.StatusBadRequest, "BadParameter", "",
			"The specified version ("+v+") is not recognized. Consider using the latest supported version (2026-04-01).")
	}
	resp, body := f.do(t, http.MethodGet, "/secrets/s", tok, nil)
	wantKVError(t, resp, body, http.StatusBadRequest, "BadParameter", "", "api-version query parameter is missing")

	opts := &azsecrets.ClientOptions{ClientOptions: f.clientOptions(), DisableChallengeResourceVerification: true}
	opts.APIVersion = "7.4"
	c, err := azsecrets.NewClient(f.vaultURL, f.credential(t, tenantID, clientID, clientSecret), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSecret(context.Background(), "s", "", nil); err != nil || *got.Value != "v" {
		t.Errorf("client pinned to 7.4: %v, %v", got.Value, err)
	}
	if !slices.ContainsFunc(f.calls.all(), func(c call) bool { return c.status == http.StatusOK && c.method == http.MethodGet }) {
		t.Error("no successful GET recorded")
	}
}

// TestTokens: what the vault refuses, each with 401, the challenge and Key
// Vault's message.
func TestTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cred := f.credential(t, tenantID, clientID, clientSecret)
	const path = "/secrets/s?api-version=7.6"
	for _, tc := range []struct {
		name, auth, want string
	}{
		{"another resource", "Bearer " + token(t, cred, "api://not-key-vault/.default"), "AKV10022: Invalid audience. Expected https://vault.azure.net or " + AppID},
		{"another tenant", "Bearer " + token(t, f.credential(t, tenant2ID, foreignID, clientSecret), Resource+"/.default"), "AKV10032: Invalid issuer"},
		{"not a JWT", "Bearer abc.def.ghi", "Invalid token: format"},
		{"malformed header", "Bearer a b", "Invalid token"},
		{"basic", "Basic dXNlcjpwYXNz", "AKV10000: Request is missing a Bearer or PoP token."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, f.vaultURL+path, nil)
			req.Header.Set("Authorization", tc.auth)
			resp, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			wantKVError(t, resp, body, http.StatusUnauthorized, "Unauthorized", "", tc.want)
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer authorization="`+f.idpURL+"/"+tenantID+`"`) {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// A token the SDK got for the vault passes, with or without the
	// trailing slash Entra keeps when the resource was asked with one.
	if resp, body := f.do(t, http.MethodGet, path, token(t, cred, Resource+"/.default"), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a good token: %d %v", resp.StatusCode, body)
	}
}

// TestVersion2Tokens: a directory that registers Key Vault for version 2.0
// tokens issues them with aud = Key Vault's application id and the v2.0
// issuer; the vault accepts those too.
func TestVersion2Tokens(t *testing.T) {
	t.Parallel()
	tenants := testTenants()
	tenants[0].Apps[0].AccessTokenVersion = 2
	f := newFixtureWith(t, tenants)
	c := f.secrets(t, f.credential(t, tenantID, clientID, clientSecret))
	if _, err := c.SetSecret(context.Background(), "s", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
		t.Fatalf("with a v2.0 token: %v", err)
	}
}

// TestUserTokensAndGroups: a user's delegated token (user_impersonation on
// Key Vault) is authorized by an access policy for the user's object id, or
// for a group the token names.
func TestUserTokensAndGroups(t *testing.T) {
	t.Parallel()
	const (
		cliID   = "c0000000-0000-4000-8000-000000000005"
		adaOID  = "aaaaaaaa-0000-4000-8000-000000000001"
		bobOID  = "aaaaaaaa-0000-4000-8000-000000000002"
		eveOID  = "aaaaaaaa-0000-4000-8000-000000000003"
		readers = "99999999-0000-4000-8000-000000000001"
	)
	tenants := testTenants()
	tenants[0].Apps[0].GroupClaims = true
	tenants[0].Groups = []idp.Group{{ObjectID: readers, DisplayName: "vault-readers"}}
	tenants[0].Users = []idp.User{
		{ObjectID: adaOID, UserPrincipalName: "ada@contoso.example", DisplayName: "Ada", Password: "ada-pw"},
		{ObjectID: bobOID, UserPrincipalName: "bob@contoso.example", DisplayName: "Bob", Password: "bob-pw", Groups: []string{"vault-readers"}},
		{ObjectID: eveOID, UserPrincipalName: "eve@contoso.example", DisplayName: "Eve", Password: "eve-pw"},
	}
	tenants[0].Apps = append(tenants[0].Apps, idp.App{Name: "cli", ClientID: cliID, ObjectID: "d0000000-0000-4000-8000-000000000005",
		PublicClient: true, Permissions: []idp.Permission{{Resource: "azure-key-vault", Scopes: []string{"user_impersonation"}}}})
	f := newFixtureWith(t, tenants, func(c *Config) {
		c.Access = []Access{{ObjectID: adaOID, Secrets: []string{"get"}}, {ObjectID: readers, Secrets: []string{"get"}}}
	})
	if _, err := f.vault.SetSecret("s", "v"); err != nil {
		t.Fatal(err)
	}
	userToken := func(user, password string) string {
		resp, err := f.client.PostForm(f.idpURL+"/"+tenantID+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"password"}, "client_id": {cliID}, "username": {user}, "password": {password},
			"scope": {Resource + "/user_impersonation"},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
			t.Fatalf("password grant for %s: status %d, %v", user, resp.StatusCode, err)
		}
		return body.AccessToken
	}
	for _, tc := range []struct {
		user, password string
		status         int
	}{{"ada@contoso.example", "ada-pw", http.StatusOK}, {"bob@contoso.example", "bob-pw", http.StatusOK}, {"eve@contoso.example", "eve-pw", http.StatusForbidden}} {
		resp, body := f.do(t, http.MethodGet, "/secrets/s?api-version=7.6", userToken(tc.user, tc.password), nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%v)", tc.user, resp.StatusCode, tc.status, body)
		}
	}
}

// TestRouting: methods, unknown paths, what this vault does not serve, and
// the path shapes the SDK sends.
func TestRouting(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := token(t, f.credential(t, tenantID, clientID, clientSecret), Resource+"/.default")
	if _, err := f.vault.SetSecret("s", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.vault.CreateKey("k", KeySpec{Type: "EC"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/secrets/s/", http.StatusOK, ""},
		{http.MethodGet, "//secrets/s", http.StatusOK, ""},
		{http.MethodGet, "/secrets/s/versions", http.StatusOK, ""},
		{http.MethodGet, "/secrets/s/NOTAVERSION", http.StatusNotFound, "SecretNotFound"},
		{http.MethodPost, "/secrets/s", http.StatusMethodNotAllowed, "MethodNotAllowed"},
		{http.MethodDelete, "/secrets", http.StatusMethodNotAllowed, "MethodNotAllowed"},
		{http.MethodPost, "/secrets/s/backup", http.StatusNotImplemented, "NotImplemented"},
		{http.MethodGet, "/certificates", http.StatusNotImplemented, "NotImplemented"},
		{http.MethodGet, "/keys/k/rotationpolicy", http.StatusNotImplemented, "NotImplemented"},
		{http.MethodPut, "/keys/k", http.StatusNotImplemented, "NotImplemented"},
		{http.MethodGet, "/nothing", http.StatusBadRequest, "BadParameter"},
		{http.MethodGet, "/", http.StatusBadRequest, "BadParameter"},
		{http.MethodGet, "/secrets/a/b/c", http.StatusBadRequest, "BadParameter"},
		{http.MethodGet, "/keys/k/", http.StatusOK, ""},
		{http.MethodGet, "/keys/k/versions", http.StatusOK, ""},
		{http.MethodGet, "/keys/k//sign", http.StatusMethodNotAllowed, "MethodNotAllowed"},
		{http.MethodGet, "/deletedsecrets", http.StatusOK, ""},
		{http.MethodGet, "/deletedkeys/k", http.StatusNotFound, "KeyNotFound"},
		{http.MethodDelete, "/deletedsecrets/s", http.StatusNotFound, "SecretNotFound"},
	} {
		resp, body := f.do(t, tc.method, tc.path+"?api-version=7.6", tok, nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d (%v)", tc.method, tc.path, resp.StatusCode, tc.status, body)
			continue
		}
		if tc.code != "" {
			if e, _ := body["error"].(map[string]any); e == nil || e["code"] != tc.code {
				t.Errorf("%s %s: body %v, want code %s", tc.method, tc.path, body, tc.code)
			}
		}
		if resp.Header.Get("x-ms-request-id") == "" {
			t.Errorf("%s %s: no x-ms-request-id", tc.method, tc.path)
		}
	}
	// Sign without a version segment, and with the empty one the SDK sends.
	digest := make([]byte, 32)
	for _, p := range []string{"/keys/k/sign", "/keys/k//sign", "/keys/K//sign"} {
		resp, body := f.do(t, http.MethodPost, p+"?api-version=7.6", tok, map[string]string{"alg": "ES256", "value": b64.EncodeToString(digest)})
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(fmt.Sprint(body["kid"]), f.vaultURL+"/keys/k/") {
			t.Errorf("POST %s: %d %v", p, resp.StatusCode, body)
		}
	}
}

// TestPaging: lists come in pages of at most maxresults (25 by default)
// linked by nextLink, which the SDK's pager follows.
func TestPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 30 {
		if _, err := f.vault.SetSecret(fmt.Sprintf("s%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := f.vault.SetSecret("s00", "again"); err != nil {
			t.Fatal(err)
		}
	}
	c := f.secrets(t, f.credential(t, tenantID, clientID, clientSecret))
	var pages []int
	var names []string
	for p := c.NewListSecretPropertiesPager(nil); p.More(); {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(page.Value))
		for _, sp := range page.Value {
			names = append(names, sp.ID.Name())
		}
	}
	if fmt.Sprint(pages) != "[25 5]" || len(names) != 30 || names[0] != "s00" || names[29] != "s29" {
		t.Errorf("pages %v, names %v", pages, names)
	}
	tok := token(t, f.credential(t, tenantID, clientID, clientSecret), Resource+"/.default")
	resp, body := f.do(t, http.MethodGet, "/secrets/s00/versions?api-version=7.5&maxresults=3", tok, nil)
	next, _ := body["nextLink"].(string)
	if resp.StatusCode != http.StatusOK || len(body["value"].([]any)) != 3 || !strings.HasPrefix(next, f.vaultURL+"/secrets/s00/versions?api-version=7.5&") {
		t.Fatalf("first page: %d %v", resp.StatusCode, body)
	}
	resp, body = f.do(t, http.MethodGet, strings.TrimPrefix(next, f.vaultURL), tok, nil)
	if resp.StatusCode != http.StatusOK || len(body["value"].([]any)) != 1 || body["nextLink"] != nil {
		t.Errorf("last page: %d %v", resp.StatusCode, body)
	}
	for _, q := range []string{"maxresults=0", "maxresults=26", "maxresults=x", "$skiptoken=%21", "$skiptoken=OTk"} {
		resp, body := f.do(t, http.MethodGet, "/secrets?api-version=7.6&"+q, tok, nil)
		wantKVError(t, resp, body, http.StatusBadRequest, "BadParameter", "", "")
	}
}
