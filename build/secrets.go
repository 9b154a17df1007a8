package build

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// Secrets are the file's secret references as one secrets.Set, each
// reachable by the field that names it. Nothing is read until Set.Load.
type Secrets struct {
	Set     *secrets.Set
	byField map[string]*secrets.Secret
	keys    map[string]VaultKey
	vaults  *azureVaults // made when a Key Vault reference needs it
}

// azure returns the set's Key Vault clients, with their identity.
func (s *Secrets) azure(f *config.File, o Options, sc *SecretClients) *azureVaults {
	if s.vaults == nil {
		s.vaults = newAzureVaults(f, o, sc.Azure, s.byField["secrets.azure.client.client_secret"])
	}
	return s.vaults
}

// Field returns the secret the field names (audit.key, audit.dsn), or nil
// if the file names none there.
func (s *Secrets) Field(field string) *secrets.Secret {
	if s == nil {
		return nil
	}
	return s.byField[field]
}

// SecretClients are the store clients' credentials when the defaults (the
// AWS SDK's and azidentity's default chains) are not the right ones: under
// `gatehouse dev`, sessions of its local STS and tokens of its IdP.
type SecretClients struct {
	AWS   aws.CredentialsProvider
	Azure azcore.TokenCredential
}

// NewSecrets builds the Set of the file's references, secrets and vault
// keys, with the clients they need (one Secrets Manager and one KMS client
// per region, one Key Vault client per vault). sc may be nil.
func NewSecrets(ctx context.Context, f *config.File, o Options, sc *SecretClients) (*Secrets, error) {
	set := secrets.New(secrets.Config{RefreshInterval: f.Secrets.RefreshInterval, MaxAge: f.Secrets.MaxAge, Logger: o.Logger})
	out := &Secrets{Set: set, byField: map[string]*secrets.Secret{}, keys: map[string]VaultKey{}}
	if sc == nil {
		sc = &SecretClients{}
	}
	sm := map[string]*secretsmanager.Client{}
	for _, nr := range f.SecretRefs() {
		r := nr.Ref
		var src secrets.Source
		switch {
		case r.File != "":
			// The certificate is refreshed with its key but is public.
			src = secrets.FileSource{Path: o.path(r.File), Name: r.File, Public: nr.Field == "gateway.tls_cert"}
		case r.AWSSecretsManager != nil:
			a := r.AWSSecretsManager
			region := arnRegion(a.SecretID, f)
			c := sm[region]
			if c == nil {
				var err error
				if c, err = secretsManagerClient(ctx, f, o, region, sc.AWS); err != nil {
					return nil, fmt.Errorf("%s: %w", nr.Field, err)
				}
				sm[region] = c
			}
			src = secrets.AWSSource{Client: c, SecretID: a.SecretID, Stage: a.VersionStage, JSONKey: a.JSONKey}
		case r.AzureKeyVault != nil:
			a := r.AzureKeyVault
			c, err := out.azure(f, o, sc).secretsFor(a.Vault)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", nr.Field, err)
			}
			src = secrets.AzureSource{Client: keyVault{c}, Vault: a.Vault, Name: a.Name, Version: a.Version}
		default:
			continue
		}
		out.byField[nr.Field] = set.Add(src, secrets.Encoding(r.Encoding))
	}
	if err := out.addKeys(ctx, f, o, sc); err != nil {
		return nil, err
	}
	return out, nil
}

// storeConfig is the AWS configuration of a Secrets Manager or KMS client:
// region, the given credentials (nil: the SDK's chain), endpoint ("":
// AWS's) and secrets.aws.ca_file.
func storeConfig(ctx context.Context, f *config.File, o Options, region string, creds aws.CredentialsProvider, endpoint string) (aws.Config, error) {
	cfg, err := AWS(ctx, f)
	if err != nil {
		return aws.Config{}, err
	}
	cfg.Region = region
	if creds != nil {
		cfg.Credentials = aws.NewCredentialsCache(creds)
	}
	if endpoint != "" {
		cfg.BaseEndpoint = aws.String(endpoint)
	}
	hc, err := CAClient(f.Secrets.AWS.CAFile, o)
	if err != nil {
		return aws.Config{}, fmt.Errorf("secrets.aws.ca_file: %w", err)
	}
	if hc != nil {
		cfg.HTTPClient = hc
	}
	return cfg, nil
}

func secretsManagerClient(ctx context.Context, f *config.File, o Options, region string, creds aws.CredentialsProvider) (*secretsmanager.Client, error) {
	cfg, err := storeConfig(ctx, f, o, region, creds, f.Secrets.AWS.Endpoint)
	if err != nil {
		return nil, err
	}
	return secretsmanager.NewFromConfig(cfg), nil
}

func loopbackURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Hostname(), "localhost") {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// keyVault adapts the Azure SDK's client to secrets.KeyVaultAPI; the client
// is replaced when the client secret rotates.
type keyVault struct {
	c *atomic.Pointer[azsecrets.Client]
}

func (k keyVault) GetSecret(ctx context.Context, name, version string) (string, string, error) {
	resp, err := k.c.Load().GetSecret(ctx, name, version, nil)
	if err != nil {
		return "", "", err
	}
	ver := ""
	if resp.ID != nil {
		ver = resp.ID.Version()
	}
	if resp.Value == nil {
		return "", ver, errors.New("the answer from Key Vault holds no value")
	}
	return *resp.Value, ver, nil
}
