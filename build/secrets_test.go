package build

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/devkit/devca"
	"github.com/gatehouse-dev/gatehouse/devkit/idp"
	"github.com/gatehouse-dev/gatehouse/devkit/keyvault"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// Identities of the local Key Vault tests' tenant.
const (
	kvTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	kvClientID = "0d3b5f0e-6f3c-4c8a-9a7e-2f1a4c7d9e10"
	kvClientSP = "5b9f1c2e-3d4a-4e6b-8c7d-9e0f1a2b3c4d"
	kvOtherID  = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	kvOtherSP  = "6c7d8e9f-0a1b-4c2d-9e3f-4a5b6c7d8e9f"
)

// localKeyVault is the local Key Vault behind the development IdP, over
// TLS from the development CA: what the builder's Azure clients talk to.
type localKeyVault struct {
	url    string
	idpURL string
	vault  *keyvault.Server
	caFile string
	// tokenSecrets are the client secrets of the IdP's token requests, in
	// order (observed on the wire, as a capture would).
	mu           sync.Mutex
	tokenSecrets []string
	// credential is a client-secret credential of an app of the IdP.
	credential func(id, secret string) azcore.TokenCredential
}

// startLocalKeyVault starts the IdP (apps "gatehouse" and "other") and a
// vault granting access to the gatehouse app's service principal.
func startLocalKeyVault(t *testing.T, access keyvault.Access) *localKeyVault {
	t.Helper()
	dir := t.TempDir()
	ca, err := devca.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.CertPool()}}}
	serve := func(h func() http.Handler) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := ca.ServerTLSConfig("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h().ServeHTTP(w, r) }), TLSConfig: cfg}
		go hs.ServeTLS(ln, "", "")
		t.Cleanup(func() { hs.Close() })
		return "https://" + ln.Addr().String()
	}
	quiet := slog.New(slog.DiscardHandler)
	var idpSrv *idp.Server
	kv := &localKeyVault{caFile: filepath.Join(dir, devca.CertFile)}
	idpURL := serve(func() http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/token") {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				if form, err := url.ParseQuery(string(body)); err == nil && form.Get("client_secret") != "" {
					kv.mu.Lock()
					kv.tokenSecrets = append(kv.tokenSecrets, form.Get("client_secret"))
					kv.mu.Unlock()
				}
			}
			idpSrv.Handler().ServeHTTP(w, r)
		})
	})
	kv.idpURL = idpURL
	idpSrv, err = idp.New(idp.Config{BaseURL: idpURL, Logger: quiet, Tenants: []idp.Tenant{{ID: kvTenant, Apps: []idp.App{
		{Name: "azure-key-vault", ClientID: keyvault.AppID, ObjectID: "e8c1d6f0-1b2a-4c3d-8e9f-0a1b2c3d4e5f",
			AppIDURI: keyvault.Resource, AccessTokenVersion: 1, Scopes: []string{"user_impersonation"}},
		{Name: "gatehouse", ClientID: kvClientID, ObjectID: kvClientSP, Secrets: []string{"dev-only-gatehouse", "dev-only-gatehouse-2"}},
		{Name: "other", ClientID: kvOtherID, ObjectID: kvOtherSP, Secrets: []string{"dev-only-other"}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	kv.url = serve(func() http.Handler { return kv.vault.Handler() })
	access.ObjectID = kvClientSP
	kv.vault, err = keyvault.New(keyvault.Config{VaultURL: kv.url, Authority: idpURL, Tenant: kvTenant, HTTPClient: trusting, Logger: quiet,
		Access: []keyvault.Access{access}})
	if err != nil {
		t.Fatal(err)
	}
	kv.credential = func(id, secret string) azcore.TokenCredential {
		c, err := azidentity.NewClientSecretCredential(kvTenant, id, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: idpURL + "/"}, Transport: trusting},
			DisableInstanceDiscovery: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return kv
}

// A Key Vault reference through the builder's client (the Azure SDK's
// azsecrets, the vault's challenge, a token of the IdP): against the local
// Key Vault and the development IdP, over TLS from the development CA.
func TestKeyVaultReference(t *testing.T) {
	kv := startLocalKeyVault(t, keyvault.Access{Secrets: []string{"get"}})
	vault, vaultURL, credential := kv.vault, kv.url, kv.credential
	quiet := slog.New(slog.DiscardHandler)
	key := strings.Repeat("k", 32)
	firstID, err := vault.SetSecret("audit-key", base64.StdEncoding.EncodeToString([]byte(key)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse("g.yaml", []byte(`authn:
  issuers:
    - {name: corp, type: oidc, issuer: "https://idp.example", audiences: [api://x]}
audit:
  sink: sqlite
  key:
    azure_key_vault: {vault: "`+vaultURL+`", name: audit-key}
    encoding: base64
secrets:
  azure:
    ca_file: `+kv.caFile+`
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := NewSecrets(ctx, f, Options{Logger: quiet}, &SecretClients{Azure: credential(kvClientID, "dev-only-gatehouse")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set.Load(ctx); err != nil {
		t.Fatal(err)
	}
	sec := s.Field("audit.key")
	v, err := sec.Get()
	if err != nil || string(v.Bytes) != key || !strings.HasSuffix(firstID, "/"+v.Version) {
		t.Fatalf("Get: %q version %q (%v); want the key, version of %s", v.Bytes, v.Version, err, firstID)
	}
	if _, err := Pseudonymizer(f, Options{Secrets: s}); err != nil {
		t.Errorf("the pseudonymizer from the referenced key: %v", err)
	}

	// Rotated in the vault: the next refresh follows the latest version.
	rotated := make(chan secrets.Value, 1)
	sec.OnChange(func(v secrets.Value) { rotated <- v })
	secondID, _ := vault.SetSecret("audit-key", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("n", 32))))
	if err := s.Set.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-rotated:
		if string(v.Bytes) != strings.Repeat("n", 32) || !strings.HasSuffix(secondID, "/"+v.Version) {
			t.Errorf("after rotation: %q version %q", v.Bytes, v.Version)
		}
	default:
		t.Error("no rotation seen")
	}

	// An identity without access: the error names the reference and the
	// refusal, never a value.
	denied, _ := NewSecrets(ctx, f, Options{Logger: quiet}, &SecretClients{Azure: credential(kvOtherID, "dev-only-other")})
	err = denied.Set.Load(ctx)
	if err == nil || !strings.Contains(err.Error(), "azure-keyvault:"+vaultURL+"/secrets/audit-key") || !strings.Contains(err.Error(), "403") {
		t.Errorf("without access: %v", err)
	}
	if err != nil && (strings.Contains(err.Error(), key) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString([]byte(key)))) {
		t.Errorf("the error holds the value: %v", err)
	}
}
