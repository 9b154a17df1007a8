package config

import (
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// SecretRef says where a secret lives, never what it is: exactly one of
// File, AWSSecretsManager and AzureKeyVault. The configuration (and so
// `--print-config`, logs and errors) holds only the reference; the value is
// read at start and refreshed on the `secrets:` schedule.
//
// A scalar where a SecretRef belongs is refused with its file and line: a
// secret is never written in the file, nor taken from the environment.
type SecretRef struct {
	// File is a file readable by gatehouse alone (relative to the
	// configuration file's directory, or starting with "~/").
	File string `yaml:"file,omitempty"`
	// AWSSecretsManager is a secret of AWS Secrets Manager.
	AWSSecretsManager *AWSSecret `yaml:"aws_secrets_manager,omitempty"`
	// AzureKeyVault is a secret of Azure Key Vault.
	AzureKeyVault *AzureSecret `yaml:"azure_key_vault,omitempty"`
	// Encoding is how the stored value becomes the secret's bytes: raw
	// (the default: as stored) or base64 (standard or URL alphabet,
	// padded or not), for binary keys kept in a text-only store.
	Encoding string `yaml:"encoding,omitempty"`
}

// AWSSecret locates a secret of AWS Secrets Manager.
type AWSSecret struct {
	// SecretID is the secret's name or ARN; required.
	SecretID string `yaml:"secret_id"`
	// JSONKey, when set, takes the value of that top-level key of a JSON
	// secret string (as the console's key/value secrets store them).
	JSONKey string `yaml:"json_key,omitempty"`
	// VersionStage is the stage read; "" means AWSCURRENT.
	VersionStage string `yaml:"version_stage,omitempty"`
}

// AzureSecret locates a secret of Azure Key Vault.
type AzureSecret struct {
	// Vault is the vault's URL, such as https://contoso.vault.azure.net;
	// required.
	Vault string `yaml:"vault"`
	// Name is the secret's name; required.
	Name string `yaml:"name"`
	// Version pins one version; "" means the latest enabled one, which a
	// refresh follows.
	Version string `yaml:"version,omitempty"`
}

// IsZero reports whether no source is set.
func (r SecretRef) IsZero() bool {
	return r.File == "" && r.AWSSecretsManager == nil && r.AzureKeyVault == nil
}

// String names the reference, never a value: for logs, errors and metric
// labels.
func (r SecretRef) String() string {
	switch {
	case r.File != "":
		return "file:" + r.File
	case r.AWSSecretsManager != nil:
		s := "aws-secretsmanager:" + r.AWSSecretsManager.SecretID
		if r.AWSSecretsManager.JSONKey != "" {
			s += "#" + r.AWSSecretsManager.JSONKey
		}
		if r.AWSSecretsManager.VersionStage != "" {
			s += "@" + r.AWSSecretsManager.VersionStage
		}
		return s
	case r.AzureKeyVault != nil:
		return keyVaultRef(r.AzureKeyVault.Vault, "secrets", r.AzureKeyVault.Name, r.AzureKeyVault.Version)
	}
	return "none"
}

// keyVaultRef names a Key Vault object as secrets.KeyVaultKey and
// secrets.AzureSource do: azure-keyvault:VAULT/KIND/NAME[/VERSION].
func keyVaultRef(vault, kind, name, version string) string {
	s := "azure-keyvault:" + strings.TrimRight(vault, "/") + "/" + kind + "/" + name
	if version != "" {
		s += "/" + version
	}
	return s
}

// Secrets is the `secrets:` section: how secret references are read and
// kept fresh.
type Secrets struct {
	// RefreshInterval is how often every referenced secret is read again
	// (a rotated value is used from its next use on); 0 means 5m. Allowed:
	// 10s to 24h. SIGHUP refreshes at once.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// MaxAge bounds how long the last good value is used while its store
	// cannot be reached; past it the secret is unavailable (and
	// /readyz says so) rather than stale without bound. 0 means 24h;
	// at least RefreshInterval.
	MaxAge time.Duration `yaml:"max_age"`
	// AWS is how AWS Secrets Manager is reached: with the AWS SDK's
	// default credential chain, in creds.sts.region unless Region says.
	AWS SecretsAWS `yaml:"aws,omitempty"`
	// Azure is how Azure Key Vault is reached: with azidentity's default
	// credential chain (workload identity, managed identity, Azure CLI).
	Azure SecretsAzure `yaml:"azure,omitempty"`
}

// SecretsAWS says how AWS Secrets Manager is reached.
type SecretsAWS struct {
	// Region is the Secrets Manager region; "" means that of a secret's
	// ARN, else creds.sts.region.
	Region string `yaml:"region,omitempty"`
	// Endpoint overrides the Secrets Manager URL (a VPC endpoint, or the
	// local one of `gatehouse dev`); https, or http on loopback. "dev"
	// (under `gatehouse dev` only) means its local one, on the local STS's
	// endpoint.
	Endpoint string `yaml:"endpoint,omitempty"`
	// CAFile adds CA certificates (PEM) to trust at Endpoint and
	// KMSEndpoint.
	CAFile string `yaml:"ca_file,omitempty"`
	// KMSEndpoint overrides the KMS URL for signing keys (aws_kms), like
	// Endpoint; "dev" means the local KMS of `gatehouse dev`.
	KMSEndpoint string `yaml:"kms_endpoint,omitempty"`
}

// SecretsAzure says how Azure Key Vault is reached.
type SecretsAzure struct {
	// CAFile adds CA certificates (PEM) to trust at the vaults (and at
	// Client's authority).
	CAFile string `yaml:"ca_file,omitempty"`
	// Client, when set, is the identity Key Vault is reached with: an app
	// registration's client secret, itself from a reference (AWS Secrets
	// Manager, say, when gatehouse runs outside Azure). Unset means
	// azidentity's default chain.
	Client *AzureClient `yaml:"client,omitempty"`
}

// AzureClient is a service principal that authenticates with a client
// secret. A rotated secret is used from the next token request on.
type AzureClient struct {
	// Authority is the identity provider's URL; "" means
	// https://login.microsoftonline.com, "dev" (under `gatehouse dev`)
	// the development IdP.
	Authority string `yaml:"authority,omitempty"`
	// Tenant is the tenant GUID; required.
	Tenant string `yaml:"tenant"`
	// ClientID is the app's client id; required.
	ClientID string `yaml:"client_id"`
	// ClientSecret is where the client secret lives; required. Not in
	// Azure Key Vault: it is what opens the vault.
	ClientSecret SecretRef `yaml:"client_secret"`
}

// Defaults of the secrets section.
const (
	DefaultSecretRefresh = 5 * time.Minute
	DefaultSecretMaxAge  = 24 * time.Hour
)

var (
	secretRefType = reflect.TypeFor[SecretRef]()
	stageRE       = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)
	kvNameRE      = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)
	kvVersionRE   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	regionRE      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// inlineSecretMsg is the problem of a scalar where a SecretRef belongs.
func inlineSecretMsg(value string) string {
	how := "a secret is never written in the configuration"
	if strings.HasPrefix(value, "$") || strings.HasPrefix(strings.ToLower(value), "env:") {
		how = "a secret is never taken from the environment"
	}
	return how + ": name where it lives, as file: PATH, aws_secrets_manager: {secret_id: ...} or azure_key_vault: {vault: URL, name: ...}"
}

// secretRef checks one reference at field; required says whether it must
// be set.
func (v *validator) secretRef(field string, r SecretRef) {
	n := 0
	if r.File != "" {
		n++
	}
	if a := r.AWSSecretsManager; a != nil {
		n++
		q := field + ".aws_secrets_manager"
		switch {
		case a.SecretID == "":
			v.add(q+".secret_id", "is required: the secret's name or ARN")
		case strings.HasPrefix(a.SecretID, "arn:") && !strings.HasPrefix(a.SecretID, "arn:aws"):
			v.add(q+".secret_id", "%s: want a Secrets Manager ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or a name", short(a.SecretID))
		case strings.HasPrefix(a.SecretID, "arn:") && !strings.Contains(a.SecretID, ":secretsmanager:"):
			v.add(q+".secret_id", "%s: not a Secrets Manager ARN", short(a.SecretID))
		}
		if a.VersionStage != "" && !stageRE.MatchString(a.VersionStage) {
			v.add(q+".version_stage", "%s: want a stage label such as AWSCURRENT or AWSPREVIOUS", short(a.VersionStage))
		}
	}
	if a := r.AzureKeyVault; a != nil {
		n++
		v.keyVaultObject(field+".azure_key_vault", "secret", a.Vault, a.Name, a.Version)
	}
	if n > 1 {
		v.add(field, "names %d places: give exactly one of file, aws_secrets_manager and azure_key_vault", n)
	}
	switch r.Encoding {
	case "", "raw", "base64":
	default:
		v.add(field+".encoding", "%s: want raw or base64", short(r.Encoding))
	}
}

// keyVaultObject checks where a Key Vault secret or key (what) is: the
// vault's URL alone, the object's name and an optional version, at q.
func (v *validator) keyVaultObject(q, what, vault, name, version string) {
	if vault == "" {
		v.add(q+".vault", "is required: the vault's URL, such as https://contoso.vault.azure.net")
	} else if msg := checkURL(vault, urlRules{localHTTP: true, noQuery: true}); msg != "" {
		v.add(q+".vault", "%s", msg)
	} else if u, _ := url.Parse(vault); strings.Trim(u.Path, "/") != "" {
		v.add(q+".vault", "%s: want the vault's URL alone (https://NAME.vault.azure.net), with the %s in name", short(vault), what)
	}
	if !kvNameRE.MatchString(name) {
		v.add(q+".name", "%s: want a Key Vault %s name (1 to 127 letters, digits and '-')", short(name), what)
	}
	if version != "" && !kvVersionRE.MatchString(version) {
		v.add(q+".version", "%s: want a version id (32 hexadecimal digits) or nothing for the latest", short(version))
	}
}

// secretsSection checks the `secrets:` section.
func (v *validator) secretsSection(s *Secrets) {
	if s.RefreshInterval < 10*time.Second || s.RefreshInterval > 24*time.Hour {
		v.add("secrets.refresh_interval", "%s: want 10s to 24h", s.RefreshInterval)
	}
	if s.MaxAge < s.RefreshInterval {
		v.add("secrets.max_age", "%s: want at least refresh_interval (%s)", s.MaxAge, s.RefreshInterval)
	}
	if s.AWS.Endpoint != "" && s.AWS.Endpoint != EndpointDev {
		if msg := checkURL(s.AWS.Endpoint, urlRules{localHTTP: true, noQuery: true}); msg != "" {
			v.add("secrets.aws.endpoint", "%s", msg)
		}
	}
	if s.AWS.KMSEndpoint != "" && s.AWS.KMSEndpoint != EndpointDev {
		if msg := checkURL(s.AWS.KMSEndpoint, urlRules{localHTTP: true, noQuery: true}); msg != "" {
			v.add("secrets.aws.kms_endpoint", "%s", msg)
		}
	}
	if s.AWS.CAFile != "" && s.AWS.Endpoint == "" && s.AWS.KMSEndpoint == "" {
		v.add("secrets.aws.ca_file", "is only used with secrets.aws.endpoint or kms_endpoint")
	}
	if c := s.Azure.Client; c != nil {
		q := "secrets.azure.client"
		if c.Authority != "" && c.Authority != AuthorityDev {
			if msg := checkURL(c.Authority, urlRules{localHTTP: true, noQuery: true}); msg != "" {
				v.add(q+".authority", "%s", msg)
			}
		}
		if !guidRE.MatchString(c.Tenant) {
			v.add(q+".tenant", "%s: want the tenant id (a GUID)", short(c.Tenant))
		}
		if !guidRE.MatchString(c.ClientID) {
			v.add(q+".client_id", "%s: want the app's client id (a GUID)", short(c.ClientID))
		}
		switch {
		case c.ClientSecret.IsZero():
			v.add(q+".client_secret", "is required: where the client secret lives (file: PATH or aws_secrets_manager: {secret_id: ...})")
		case c.ClientSecret.AzureKeyVault != nil:
			v.add(q+".client_secret", "cannot be in Azure Key Vault: it is what opens the vault")
		default:
			v.secretRef(q+".client_secret", c.ClientSecret)
		}
	}
	if s.AWS.Region != "" && !regionRE.MatchString(s.AWS.Region) {
		v.add("secrets.aws.region", "%s: want an AWS region such as eu-west-1", short(s.AWS.Region))
	}
}

// SecretRefs lists every secret reference of the file with its field, in
// the file's order; audit.dsn_file counts as audit.dsn: {file: ...} (its
// rotations are followed too), gateway.tls_key_file as gateway.tls_key,
// and gateway.tls_cert_file as gateway.tls_cert: {file: ...}.
func (f *File) SecretRefs() []NamedSecretRef {
	var out []NamedSecretRef
	add := func(field string, r SecretRef) {
		if !r.IsZero() {
			out = append(out, NamedSecretRef{Field: field, Ref: r})
		}
	}
	// First: the Azure client secret opens the vaults the others may be in.
	if c := f.Secrets.Azure.Client; c != nil {
		add("secrets.azure.client.client_secret", c.ClientSecret)
	}
	add("audit.key", f.Audit.Key)
	for i, r := range f.Audit.PreviousKeys {
		add(indexPath("audit.previous_keys", i), r)
	}
	dsn := f.Audit.DSN
	if dsn.IsZero() && f.Audit.DSNFile != "" && f.Audit.Sink == "postgres" {
		dsn = SecretRef{File: f.Audit.DSNFile}
	}
	add("audit.dsn", dsn)
	add("revocation.dsn", f.Revocation.DSN)
	// The TLS certificate is no secret, but it rotates with its key.
	tlsKey := f.Gateway.TLSKey
	if tlsKey.IsZero() && f.Gateway.TLSKeyFile != "" {
		tlsKey = SecretRef{File: f.Gateway.TLSKeyFile}
	}
	add("gateway.tls_key", tlsKey)
	if f.Gateway.TLSCertFile != "" {
		add("gateway.tls_cert", SecretRef{File: f.Gateway.TLSCertFile})
	}
	for _, name := range f.Telemetry.Tracing.HeaderNames() {
		add(HeaderField(name), f.Telemetry.Tracing.Headers[name])
	}
	return out
}

// NamedSecretRef is a reference with the field that holds it.
type NamedSecretRef struct {
	Field string
	Ref   SecretRef
}

// UsesAWSSecrets reports whether a reference names AWS Secrets Manager.
func (f *File) UsesAWSSecrets() bool {
	for _, r := range f.SecretRefs() {
		if r.Ref.AWSSecretsManager != nil {
			return true
		}
	}
	return false
}
