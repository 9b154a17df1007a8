package keyvault_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/gatehouse-dev/gatehouse/devkit/devca"
	"github.com/gatehouse-dev/gatehouse/devkit/idp"
	"github.com/gatehouse-dev/gatehouse/devkit/keyvault"
)

// Example wires the vault as `gatehouse dev` would: the dev IdP registers
// Azure Key Vault (its application id, App ID URI https://vault.azure.net,
// version 1.0 tokens) and a client app with a secret; the vault names the
// IdP and tenant, trusts the IdP through the development CA, and gives the
// client's service principal an access policy; both listen on 127.0.0.1
// with certificates from the CA. An unchanged azsecrets client then reads
// a seeded secret.
func Example() {
	const (
		tenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
		clientID = "0d3b5f0e-6f3c-4c8a-9a7e-2f1a4c7d9e10"
		clientSP = "5b9f1c2e-3d4a-4e6b-8c7d-9e0f1a2b3c4d"
		secret   = "dev-only-secret"
	)
	state, err := os.MkdirTemp("", "gatehouse-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(state)
	ca, err := devca.LoadOrCreate(filepath.Join(state, "ca"))
	if err != nil {
		log.Fatal(err)
	}
	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.CertPool()}}}
	serve := func(h func() http.Handler) (string, func()) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		tlsConfig, err := ca.ServerTLSConfig("127.0.0.1")
		if err != nil {
			log.Fatal(err)
		}
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h().ServeHTTP(w, r) }),
			TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
		go hs.ServeTLS(ln, "", "")
		return "https://" + ln.Addr().String(), func() { hs.Close() }
	}

	var idpSrv *idp.Server
	idpURL, stopIdP := serve(func() http.Handler { return idpSrv.Handler() })
	defer stopIdP()
	quiet := slog.New(slog.DiscardHandler)
	idpSrv, err = idp.New(idp.Config{BaseURL: idpURL, Logger: quiet, Tenants: []idp.Tenant{{
		ID: tenant,
		Apps: []idp.App{
			{Name: "azure-key-vault", ClientID: keyvault.AppID, ObjectID: "e8c1d6f0-1b2a-4c3d-8e9f-0a1b2c3d4e5f",
				AppIDURI: keyvault.Resource, AccessTokenVersion: 1, Scopes: []string{"user_impersonation"}},
			{Name: "vault-client", ClientID: clientID, ObjectID: clientSP, Secrets: []string{secret}},
		},
	}}})
	if err != nil {
		log.Fatal(err)
	}

	var vault *keyvault.Server
	vaultURL, stopVault := serve(func() http.Handler { return vault.Handler() })
	defer stopVault()
	vault, err = keyvault.New(keyvault.Config{
		VaultURL:   vaultURL,
		Authority:  idpURL,
		Tenant:     tenant,
		HTTPClient: trusting,
		Access:     []keyvault.Access{{ObjectID: clientSP, Secrets: []string{"get", "list"}, Keys: []string{"get", "sign", "verify"}}},
		StateFile:  filepath.Join(state, "vault.json"),
		Logger:     quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := vault.SetSecret("db-password", "hunter2"); err != nil {
		log.Fatal(err)
	}

	// The client: azidentity with the IdP as authority host and instance
	// discovery off; azsecrets with challenge resource verification off.
	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: idpURL + "/"}, Transport: trusting},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	client, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: trusting}, DisableChallengeResourceVerification: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	got, err := client.GetSecret(context.Background(), "db-password", "", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*got.Value)
	// Output: hunter2
}
