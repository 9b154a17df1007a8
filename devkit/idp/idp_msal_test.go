package idp

import (
	"crypto/x509"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// MSAL for Go against the IdP, unchanged: instance discovery off (the host
// is not Microsoft's), the test server's TLS client, authority host/tenant.

func TestMSALConfidentialClientSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cred, err := confidential.NewCredFromSecret(daemonSecret)
	if err != nil {
		t.Fatal(err)
	}
	// The domain in the authority: MSAL lower-cases it, discovery answers with the GUID issuer.
	c, err := confidential.New(f.ts.URL+"/"+tenantDNS, daemonID, cred,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(f.ts.Client()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.AcquireTokenByCredential(t.Context(), []string{apiDefault})
	if err != nil {
		t.Fatalf("AcquireTokenByCredential: %v", err)
	}
	_, claims := f.verify(t, res.AccessToken)
	wantClaims(t, claims, map[string]any{
		"aud": apiID, "iss": f.srv.Issuer(tenantID), "tid": tenantID, "ver": "2.0",
		"azp": daemonID, "azpacr": "1", "oid": daemonSP, "sub": daemonSP, "idtyp": "app",
		"roles": []string{"Jobs.Run"}, "scp": nil, "name": nil,
	})
}

func TestMSALConfidentialClientCertificate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key, cert := assertionCert()
	cred, err := confidential.NewCredFromCert([]*x509.Certificate{cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := confidential.New(f.ts.URL+"/"+tenantID, certDaemonID, cred,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(f.ts.Client()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.AcquireTokenByCredential(t.Context(), []string{apiID + "/.default"})
	if err != nil {
		t.Fatalf("AcquireTokenByCredential: %v", err)
	}
	_, claims := f.verify(t, res.AccessToken)
	wantClaims(t, claims, map[string]any{
		"aud": apiID, "azp": certDaemonID, "azpacr": "2", "roles": []string{"Jobs.Run"}, "ver": "2.0", "idtyp": "app",
	})
}

func TestMSALPublicUsernamePassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c, err := public.New(cliID, public.WithAuthority(f.ts.URL+"/"+tenantID),
		public.WithInstanceDiscovery(false), public.WithHTTPClient(f.ts.Client()))
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 the password grant is deprecated by Microsoft but is what development users use here
	res, err := c.AcquireTokenByUsernamePassword(t.Context(), []string{apiScope}, "ada@contoso.example", adaPassword)
	if err != nil {
		t.Fatalf("AcquireTokenByUsernamePassword: %v", err)
	}
	_, claims := f.verify(t, res.AccessToken)
	wantClaims(t, claims, map[string]any{
		"aud": apiID, "iss": f.srv.Issuer(tenantID), "tid": tenantID, "ver": "2.0",
		"azp": cliID, "azpacr": "0", "oid": adaOID, "scp": "access_as_user", "roles": []string{"Reader"},
		"name": "Ada Lovelace", "preferred_username": "ada@contoso.example", "idtyp": nil,
		"groups": []string{group1, group2},
	})
	if res.Account.HomeAccountID != adaOID+"."+tenantID {
		t.Errorf("home account id %q: client_info not understood", res.Account.HomeAccountID)
	}
	if res.IDToken.Oid != adaOID || res.IDToken.Audience != cliID {
		t.Errorf("ID token oid %q aud %q", res.IDToken.Oid, res.IDToken.Audience)
	}

	// The account is cached: a silent call for it is answered from the cache
	// or with the refresh token.
	accounts, err := c.Accounts(t.Context())
	if err != nil || len(accounts) != 1 {
		t.Fatalf("Accounts() = %v, %v", accounts, err)
	}
	if _, err := c.AcquireTokenSilent(t.Context(), []string{"api://gatehouse-dev/Jobs.Read"}, public.WithSilentAccount(accounts[0])); err != nil {
		t.Errorf("AcquireTokenSilent for another scope (refresh token): %v", err)
	}

	//lint:ignore SA1019 see above
	_, err = c.AcquireTokenByUsernamePassword(t.Context(), []string{apiScope}, "ada@contoso.example", "wrong")
	if err == nil {
		t.Error("wrong password accepted")
	}
}
