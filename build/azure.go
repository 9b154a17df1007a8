package build

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// azureVaults makes the Key Vault clients of a Secrets set, one per vault
// and kind, all with one identity: the caller's (dev), secrets.azure.client's
// client secret, or azidentity's default chain. When the client secret
// rotates every client is rebuilt with a credential of the new secret, so
// the next request to a vault gets a token with it (a client's cached
// token was issued for the old one).
type azureVaults struct {
	f *config.File
	o Options

	mu      sync.Mutex
	cred    azcore.TokenCredential // nil until first needed
	secret  *secrets.Secret        // secrets.azure.client.client_secret, or nil
	secrets map[string]*atomic.Pointer[azsecrets.Client]
	keys    map[string]*atomic.Pointer[azkeys.Client]
}

func newAzureVaults(f *config.File, o Options, cred azcore.TokenCredential, clientSecret *secrets.Secret) *azureVaults {
	a := &azureVaults{f: f, o: o, cred: cred, secret: clientSecret,
		secrets: map[string]*atomic.Pointer[azsecrets.Client]{}, keys: map[string]*atomic.Pointer[azkeys.Client]{}}
	if cred == nil && clientSecret != nil {
		clientSecret.OnChange(func(secrets.Value) { a.rotate() })
	}
	return a
}

// credential is the identity for new clients.
func (a *azureVaults) credential() (azcore.TokenCredential, error) {
	if a.cred != nil {
		return a.cred, nil
	}
	if a.secret == nil {
		hc, err := CAClient(a.f.Secrets.Azure.CAFile, a.o)
		if err != nil {
			return nil, fmt.Errorf("secrets.azure.ca_file: %w", err)
		}
		var opts azcore.ClientOptions
		if hc != nil {
			opts.Transport = hc
		}
		cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: opts})
		if err != nil {
			return nil, fmt.Errorf("azure credentials: %w", err)
		}
		a.cred = cred
		return cred, nil
	}
	return a.clientSecretCredential()
}

// clientSecretCredential is secrets.azure.client with the client secret's
// current value. Before the secret is read it is a credential that fails
// each request, naming the reference.
func (a *azureVaults) clientSecretCredential() (azcore.TokenCredential, error) {
	c := a.f.Secrets.Azure.Client
	v, err := a.secret.Get()
	if err != nil {
		return nil, fmt.Errorf("secrets.azure.client.client_secret: %w", err)
	}
	authority := strings.TrimRight(c.Authority, "/")
	var hc policy.Transporter
	switch authority {
	case "":
		authority = strings.TrimRight(cloud.AzurePublic.ActiveDirectoryAuthorityHost, "/")
	case config.AuthorityDev:
		if a.o.Dev == nil {
			return nil, errors.New(`secrets.azure.client.authority "dev" names the development IdP of 'gatehouse dev'`)
		}
		authority, hc = a.o.Dev.BaseURL, config.HTTPClient(a.o.Dev.CAPool)
	}
	if hc == nil {
		ca, err := CAClient(a.f.Secrets.Azure.CAFile, a.o)
		if err != nil {
			return nil, fmt.Errorf("secrets.azure.ca_file: %w", err)
		}
		if ca != nil {
			hc = ca
		}
	}
	u, _ := url.Parse(authority)
	return azidentity.NewClientSecretCredential(c.Tenant, c.ClientID, string(v.Bytes), &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: authority + "/"}, Transport: hc},
		// Instance discovery asks Microsoft's cloud about the authority:
		// only for Microsoft's own hosts.
		DisableInstanceDiscovery: u == nil || !strings.HasSuffix(u.Hostname(), ".microsoftonline.com"),
	})
}

// rotate rebuilds every client with a credential of the new client secret;
// a secret that makes no credential leaves the clients as they are.
func (a *azureVaults) rotate() {
	a.mu.Lock()
	defer a.mu.Unlock()
	cred, err := a.clientSecretCredential()
	if err != nil {
		a.o.logger().Error("Key Vault: the rotated client secret makes no credential; the clients keep the old one", "err", err)
		return
	}
	for vault, p := range a.secrets {
		if c, err := a.secretsClient(vault, cred); err == nil {
			p.Store(c)
		}
	}
	for vault, p := range a.keys {
		if c, err := a.keysClient(vault, cred); err == nil {
			p.Store(c)
		}
	}
	a.o.logger().Info("Key Vault: the client secret rotated; new requests authenticate with it", "client_id", a.f.Secrets.Azure.Client.ClientID)
}

// secretsFor returns the secrets client of vault, made on first use.
func (a *azureVaults) secretsFor(vault string) (*atomic.Pointer[azsecrets.Client], error) {
	return clientFor(a, a.secrets, vault, a.secretsClient)
}

// keysFor returns the keys client of vault, made on first use.
func (a *azureVaults) keysFor(vault string) (*atomic.Pointer[azkeys.Client], error) {
	return clientFor(a, a.keys, vault, a.keysClient)
}

// clientFor returns m's client of vault, made with mk on first use; rotate
// replaces what the pointer holds.
func clientFor[C any](a *azureVaults, m map[string]*atomic.Pointer[C], vault string, mk func(string, azcore.TokenCredential) (*C, error)) (*atomic.Pointer[C], error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := m[vault]; p != nil {
		return p, nil
	}
	cred, err := a.lazyCredential()
	if err != nil {
		return nil, err
	}
	c, err := mk(vault, cred)
	if err != nil {
		return nil, err
	}
	p := &atomic.Pointer[C]{}
	p.Store(c)
	m[vault] = p
	return p, nil
}

// lazyCredential is credential, except that a client secret not read yet
// (clients are made before the set is loaded) gives a credential that
// reads it at its first token request.
func (a *azureVaults) lazyCredential() (azcore.TokenCredential, error) {
	if a.cred == nil && a.secret != nil {
		if _, err := a.secret.Get(); err != nil {
			return pendingCredential{a}, nil
		}
	}
	return a.credential()
}

func (a *azureVaults) clientOptions() (azcore.ClientOptions, error) {
	var opts azcore.ClientOptions
	hc, err := CAClient(a.f.Secrets.Azure.CAFile, a.o)
	if err != nil {
		return opts, fmt.Errorf("secrets.azure.ca_file: %w", err)
	}
	if hc != nil {
		opts.Transport = hc
	}
	return opts, nil
}

func (a *azureVaults) secretsClient(vault string, cred azcore.TokenCredential) (*azsecrets.Client, error) {
	opts, err := a.clientOptions()
	if err != nil {
		return nil, err
	}
	return azsecrets.NewClient(vault, cred, &azsecrets.ClientOptions{
		ClientOptions: opts,
		// The SDK checks that a vault's challenge names a resource under
		// the vault's own domain; a vault on a loopback address (the local
		// one of `gatehouse dev`) has none.
		DisableChallengeResourceVerification: loopbackURL(vault),
	})
}

func (a *azureVaults) keysClient(vault string, cred azcore.TokenCredential) (*azkeys.Client, error) {
	opts, err := a.clientOptions()
	if err != nil {
		return nil, err
	}
	return azkeys.NewClient(vault, cred, &azkeys.ClientOptions{
		ClientOptions:                        opts,
		DisableChallengeResourceVerification: loopbackURL(vault),
	})
}

// pendingCredential makes the client-secret credential at its first token
// request, once the set has read the secret (Set.Load reads the client
// secret before any vault reference).
type pendingCredential struct{ a *azureVaults }

func (p pendingCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	p.a.mu.Lock()
	cred, err := p.a.clientSecretCredential()
	p.a.mu.Unlock()
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return cred.GetToken(ctx, opts)
}
