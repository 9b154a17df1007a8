package config

import (
	"reflect"
	"regexp"
	"time"
)

// KeyRef names a signing key that never leaves its vault: exactly one of
// AWSKMS and AzureKeyVault. gatehouse reads its public key and signs through
// the vault's sign operation (RS256 with an RSA key of 2048 bits or more,
// ES256 with a P-256 key); the key is read again on the `secrets:` schedule,
// so a rotation in the vault is taken up without a restart.
type KeyRef struct {
	// AWSKMS is an asymmetric KMS key (SIGN_VERIFY).
	AWSKMS *KMSKey `yaml:"aws_kms,omitempty"`
	// AzureKeyVault is a Key Vault key with the sign operation.
	AzureKeyVault *AzureKey `yaml:"azure_key_vault,omitempty"`
}

// KMSKey locates an AWS KMS key.
type KMSKey struct {
	// KeyID is an alias (alias/NAME), an alias ARN, a key ARN or a key id;
	// required. Rotation points the alias at a new key, so name an alias.
	KeyID string `yaml:"key_id"`
}

// AzureKey locates an Azure Key Vault key.
type AzureKey struct {
	// Vault is the vault's URL, such as https://contoso.vault.azure.net;
	// required.
	Vault string `yaml:"vault"`
	// Name is the key's name; required.
	Name string `yaml:"name"`
	// Version pins one version; "" means the latest, which a refresh
	// follows (rotation adds a version).
	Version string `yaml:"version,omitempty"`
}

// IsZero reports whether no vault is named.
func (r KeyRef) IsZero() bool { return r.AWSKMS == nil && r.AzureKeyVault == nil }

// String names the key: for logs, errors and metric labels.
func (r KeyRef) String() string {
	switch {
	case r.AWSKMS != nil:
		return "aws-kms:" + r.AWSKMS.KeyID
	case r.AzureKeyVault != nil:
		return keyVaultRef(r.AzureKeyVault.Vault, "keys", r.AzureKeyVault.Name, r.AzureKeyVault.Version)
	}
	return "none"
}

// NamedKeyRef is a key reference with the field that holds it.
type NamedKeyRef struct {
	Field string
	Ref   KeyRef
}

// KeyRefs lists every vault key of the file with its field.
func (f *File) KeyRefs() []NamedKeyRef {
	var out []NamedKeyRef
	if !f.Creds.Issuer.SigningKey.IsZero() {
		out = append(out, NamedKeyRef{"creds.issuer.signing_key", f.Creds.Issuer.SigningKey})
	}
	if !f.Audit.SigningKey.IsZero() {
		out = append(out, NamedKeyRef{"audit.signing_key", f.Audit.SigningKey})
	}
	return out
}

var (
	keyRefType = reflect.TypeFor[KeyRef]()
	// KMS key ids: a key id (UUID or mrk-), an alias name, or the ARN of
	// either.
	kmsKeyIDRE = regexp.MustCompile(`^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key/[A-Za-z0-9-]{1,64}|alias/[A-Za-z0-9/_-]{1,250})|alias/[A-Za-z0-9/_-]{1,250}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)
)

// inlineKeyMsg is the problem of a scalar where a KeyRef belongs.
func inlineKeyMsg() string {
	return "a signing key is named, never written in the configuration: aws_kms: {key_id: alias/NAME} or azure_key_vault: {vault: URL, name: ...}"
}

// keyRef checks one key reference at field.
func (v *validator) keyRef(field string, r KeyRef) {
	if r.AWSKMS != nil && r.AzureKeyVault != nil {
		v.add(field, "names two vaults: give exactly one of aws_kms and azure_key_vault")
	}
	if k := r.AWSKMS; k != nil && !kmsKeyIDRE.MatchString(k.KeyID) {
		v.add(field+".aws_kms.key_id", "%s: want alias/NAME, a key id, or the ARN of a key or alias", short(k.KeyID))
	}
	if a := r.AzureKeyVault; a != nil {
		v.keyVaultObject(field+".azure_key_vault", "key", a.Vault, a.Name, a.Version)
	}
}

// auditKeys checks audit's vault keys.
func (v *validator) auditKeys(a *Audit) {
	if a.SigningKey.IsZero() {
		if len(a.PreviousSigningKeys) > 0 {
			v.add("audit.previous_signing_keys", "is only used with audit.signing_key")
		}
		return
	}
	if a.SigningKeyFile != "" {
		v.add("audit.signing_key", "and audit.signing_key_file are both set: give one")
	}
	v.keyRef("audit.signing_key", a.SigningKey)
	for i, r := range a.PreviousSigningKeys {
		q := indexPath("audit.previous_signing_keys", i)
		if r.IsZero() {
			v.add(q, "names no vault: aws_kms: {key_id: ...} or azure_key_vault: {vault: URL, name: ..., version: ...}")
			continue
		}
		v.keyRef(q, r)
	}
}

// issuerKey checks creds.issuer's vault key and publish-ahead time.
func (v *validator) issuerKey(f *File) {
	is := &f.Creds.Issuer
	if is.SigningKey.IsZero() {
		if is.PublishAhead != 0 {
			v.add("creds.issuer.publish_ahead", "is only used with creds.issuer.signing_key (a key file's next key is published one rotation ahead)")
		}
		return
	}
	v.keyRef("creds.issuer.signing_key", is.SigningKey)
	if is.PublishAhead != 0 && is.PublishAhead < f.Secrets.RefreshInterval+f.Secrets.RefreshInterval/10 {
		v.add("creds.issuer.publish_ahead", "%s: want at least secrets.refresh_interval plus its 10%% jitter (%s), so every replica publishes a new key version before any signs with it (and more, for as long as verifiers cache the JWKS)",
			is.PublishAhead, f.Secrets.RefreshInterval+f.Secrets.RefreshInterval/10)
	}
	if is.PublishAhead > 7*24*time.Hour {
		v.add("creds.issuer.publish_ahead", "%s: want at most 168h", is.PublishAhead)
	}
}

// PublishAheadOrDefault is creds.issuer.publish_ahead, or when unset the
// secrets refresh interval with its jitter (every replica has published the
// new version) plus 10 minutes (verifiers that cached the JWKS before have
// fetched it again: gatehouse serves it with max-age 300).
func (f *File) PublishAheadOrDefault() time.Duration {
	if d := f.Creds.Issuer.PublishAhead; d > 0 {
		return d
	}
	return f.Secrets.RefreshInterval*11/10 + 10*time.Minute
}

// DefaultKeyVaultListen is where `gatehouse dev` serves its local Key Vault.
const DefaultKeyVaultListen = "127.0.0.1:9448"

// DevKeyVault is the local Azure Key Vault of `gatehouse dev`
// (`dev.keyvault`): secrets and keys behind the REST API and its bearer
// challenge, with tokens of the development IdP. Like Key Vault with access
// policies, it refuses everyone Access does not name.
type DevKeyVault struct {
	// Listen is the host:port (https, from the development CA); "" means
	// 127.0.0.1:9448. The vault's URL is https://Listen.
	Listen string `yaml:"listen,omitempty"`
	// Access are the access policies.
	Access []DevKeyVaultAccess `yaml:"access,omitempty"`
}

// DevKeyVaultAccess is one access policy of the local Key Vault.
type DevKeyVaultAccess struct {
	// Principal is a user (UPN or name), a group (name) or an app (name) of
	// the first development tenant, or an object id; required.
	Principal string `yaml:"principal"`
	// Secrets are secret permissions: get, list, set, delete, recover,
	// purge or all.
	Secrets []string `yaml:"secrets,omitempty"`
	// Keys are key permissions: get, list, create, update, delete, sign,
	// verify, rotate or all.
	Keys []string `yaml:"keys,omitempty"`
}

// devKeyVault checks dev.keyvault.
func (v *validator) devKeyVault(d *DevKeyVault) {
	if d.Listen != "" {
		if msg := checkListen(d.Listen); msg != "" {
			v.add("dev.keyvault.listen", "%s", msg)
		}
	}
	for i, a := range d.Access {
		if a.Principal == "" {
			v.add(indexPath("dev.keyvault.access", i)+".principal", "is required: a user, group or app of the development directory, or an object id")
		}
		if len(a.Secrets) == 0 && len(a.Keys) == 0 {
			v.add(indexPath("dev.keyvault.access", i), "grants nothing: give secrets or keys permissions")
		}
	}
}
