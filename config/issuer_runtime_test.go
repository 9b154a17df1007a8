package config

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/authn"
)

func TestIssuerRuntime(t *testing.T) {
	const tenant = "2e3fd419-1fb6-41f4-a9a1-60531a867149"
	entra := func(authority, tenantSeg string, versions ...string) Issuer {
		return Issuer{Name: "e", Type: IssuerEntra, Audiences: []string{"api://x"}, Entra: &Entra{Authority: authority, Tenant: tenantSeg, Versions: versions}}
	}
	for _, tc := range []struct {
		name string
		in   Issuer
		dev  *DevAuthority
		want []authn.IssuerConfig
	}{
		{"oidc as is", Issuer{Name: "o", Type: IssuerOIDC, Issuer: "https://idp.example", Audiences: []string{"a"}, Claims: Claims{Tenant: "org"}},
			nil, []authn.IssuerConfig{{Name: "o", Type: IssuerOIDC, Issuer: "https://idp.example", Audiences: []string{"a"}, Claims: authn.ClaimNames{Tenant: "org"}}}},
		{"entra v2 and v1 of one tenant", entra(AuthorityMicrosoft, tenant, "2.0", "1.0"), nil, []authn.IssuerConfig{
			{Name: "e", Type: IssuerEntra, TokenVersion: "2.0", Audiences: []string{"api://x"},
				Issuer:       AuthorityMicrosoft + "/" + tenant + "/v2.0",
				DiscoveryURL: AuthorityMicrosoft + "/" + tenant + "/v2.0/.well-known/openid-configuration"},
			{Name: "e", Type: IssuerEntra, TokenVersion: "1.0", Audiences: []string{"api://x"},
				Issuer:       "https://sts.windows.net/" + tenant + "/",
				DiscoveryURL: AuthorityMicrosoft + "/" + tenant + "/.well-known/openid-configuration"},
		}},
		{"multi-tenant template", func() Issuer {
			is := entra(AuthorityMicrosoft, TenantOrganizations)
			is.Entra.Tenants = []string{tenant}
			return is
		}(), nil, []authn.IssuerConfig{
			{Name: "e", Type: IssuerEntra, TokenVersion: "2.0", Audiences: []string{"api://x"}, Tenants: []string{tenant},
				Issuer:       AuthorityMicrosoft + "/{tenantid}/v2.0",
				DiscoveryURL: AuthorityMicrosoft + "/organizations/v2.0/.well-known/openid-configuration"},
		}},
		{"the dev authority", entra(AuthorityDev, tenant), &DevAuthority{BaseURL: "https://127.0.0.1:9443"}, []authn.IssuerConfig{
			{Name: "e", Type: IssuerEntra, TokenVersion: "2.0", Audiences: []string{"api://x"},
				Issuer:       "https://127.0.0.1:9443/" + tenant + "/v2.0",
				DiscoveryURL: "https://127.0.0.1:9443/" + tenant + "/v2.0/.well-known/openid-configuration"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.Runtime(tc.dev)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Runtime() mismatch (-want +got):\n%s", diff)
			}
		})
	}

	if _, err := entra(AuthorityDev, tenant).Runtime(nil); err == nil || !strings.Contains(err.Error(), "gatehouse dev") {
		t.Errorf("authority dev outside dev: err = %v", err)
	}
	// The development CA is used unless the issuer names its own CA file.
	withPool, err := entra(AuthorityDev, tenant).Runtime(&DevAuthority{BaseURL: "https://127.0.0.1:9443", CAPool: x509.NewCertPool()})
	if err != nil || withPool[0].HTTPClient == nil {
		t.Errorf("dev CA pool: client %v, err %v", withPool, err)
	}
	bad := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(bad, []byte("not PEM"), 0o600)
	is := entra(AuthorityMicrosoft, tenant)
	is.CAFile = bad
	if _, err := is.Runtime(nil); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Errorf("bad ca_file: err = %v", err)
	}
}
