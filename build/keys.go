package build

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// VaultKey is a signing key of the file kept in a vault: the Secret whose
// values are its versions' public keys, and the source that makes signers
// for them.
type VaultKey struct {
	Secret *secrets.Secret
	Source secrets.KeySource
}

// Key returns the vault key the field names (creds.issuer.signing_key), or
// a zero VaultKey if the file names none there.
func (s *Secrets) Key(field string) VaultKey {
	if s == nil {
		return VaultKey{}
	}
	return s.keys[field]
}

// addKeys adds the file's vault keys to s, with one KMS client per region
// and one Key Vault keys client per vault.
func (s *Secrets) addKeys(ctx context.Context, f *config.File, o Options, sc *SecretClients) error {
	kc := map[string]*kms.Client{}
	for _, nr := range f.KeyRefs() {
		var src secrets.KeySource
		switch r := nr.Ref; {
		case r.AWSKMS != nil:
			region := arnRegion(r.AWSKMS.KeyID, f)
			c := kc[region]
			if c == nil {
				var err error
				if c, err = kmsClient(ctx, f, o, region, sc.AWS); err != nil {
					return fmt.Errorf("%s: %w", nr.Field, err)
				}
				kc[region] = c
			}
			src = secrets.KMSKey{Client: c, KeyID: r.AWSKMS.KeyID}
		case r.AzureKeyVault != nil:
			a := r.AzureKeyVault
			c, err := s.azure(f, o, sc).keysFor(a.Vault)
			if err != nil {
				return fmt.Errorf("%s: %w", nr.Field, err)
			}
			src = secrets.KeyVaultKey{Client: keyVaultKeys{c}, Vault: a.Vault, Name: a.Name, Version: a.Version}
		default:
			continue
		}
		s.keys[nr.Field] = VaultKey{Secret: s.Set.Add(src, secrets.Raw), Source: src}
	}
	return nil
}

// vaultKey returns the field's vault key and the version in use: from
// o.Secrets (loaded and refreshed by serve or dev), else read once now.
// Its errors name the field.
func vaultKey(ctx context.Context, f *config.File, o Options, field string) (VaultKey, secrets.Value, error) {
	k := o.Secrets.Key(field)
	if k.Secret == nil {
		s, err := NewSecrets(ctx, f, o, nil)
		if err != nil {
			return VaultKey{}, secrets.Value{}, err
		}
		if k = s.Key(field); k.Secret == nil {
			return VaultKey{}, secrets.Value{}, fmt.Errorf("%s is not set", field)
		}
		if err := s.loadClientSecret(ctx); err != nil {
			return VaultKey{}, secrets.Value{}, err
		}
		if err := k.Secret.Refresh(ctx); err != nil {
			return VaultKey{}, secrets.Value{}, fmt.Errorf("%s: %w", field, err)
		}
	}
	v, err := k.Secret.Get()
	if err != nil {
		return VaultKey{}, secrets.Value{}, fmt.Errorf("%s: %w", field, err)
	}
	return k, v, nil
}

// loadClientSecret reads secrets.azure.client's client secret, if any: a
// reader that reads one reference from Key Vault needs it first.
func (s *Secrets) loadClientSecret(ctx context.Context) error {
	const field = "secrets.azure.client.client_secret"
	if cs := s.Field(field); cs != nil {
		if err := cs.Refresh(ctx); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
	}
	return nil
}

// arnRegion is the region of an ARN, else secrets.aws.region, else
// creds.sts.region's resolution.
func arnRegion(id string, f *config.File) string {
	if strings.HasPrefix(id, "arn:") {
		if parts := strings.Split(id, ":"); len(parts) > 3 && parts[3] != "" {
			return parts[3]
		}
	}
	if f.Secrets.AWS.Region != "" {
		return f.Secrets.AWS.Region
	}
	return Region(f)
}

func kmsClient(ctx context.Context, f *config.File, o Options, region string, creds aws.CredentialsProvider) (*kms.Client, error) {
	cfg, err := storeConfig(ctx, f, o, region, creds, f.Secrets.AWS.KMSEndpoint)
	if err != nil {
		return nil, err
	}
	return kms.NewFromConfig(cfg), nil
}

// keyVaultKeys adapts the Azure SDK's keys client to
// secrets.KeyVaultKeysAPI.
type keyVaultKeys struct {
	c *atomic.Pointer[azkeys.Client]
}

func (k keyVaultKeys) GetKey(ctx context.Context, name, version string) ([]byte, string, error) {
	resp, err := k.c.Load().GetKey(ctx, name, version, nil)
	if err != nil {
		return nil, "", err
	}
	jwk := resp.Key
	if jwk == nil || jwk.KID == nil || jwk.Kty == nil {
		return nil, "", errors.New("the answer from Key Vault holds no key")
	}
	var pub crypto.PublicKey
	switch *jwk.Kty {
	case azkeys.KeyTypeRSA, azkeys.KeyTypeRSAHSM:
		if len(jwk.E) == 0 || len(jwk.E) > 4 || len(jwk.N) == 0 {
			return nil, "", errors.New("Key Vault returned a malformed RSA key")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(jwk.N), E: int(new(big.Int).SetBytes(jwk.E).Int64())}
	case azkeys.KeyTypeEC, azkeys.KeyTypeECHSM:
		if jwk.Crv == nil || *jwk.Crv != azkeys.CurveNameP256 {
			return nil, "", errors.New("the Key Vault key is not on P-256")
		}
		// The point is checked by ParsePKIXPublicKey (in secrets.PublicKey):
		// a point off the curve is refused there.
		pt := append([]byte{4}, append(leftPad(jwk.X, 32), leftPad(jwk.Y, 32)...)...)
		ek, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
		if err != nil {
			return nil, "", fmt.Errorf("Key Vault returned a malformed EC key: %w", err)
		}
		pub = ek
	default:
		return nil, "", fmt.Errorf("the Key Vault key is of type %s: want RSA or EC", *jwk.Kty)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, "", err
	}
	return der, jwk.KID.Version(), nil
}

func (k keyVaultKeys) Sign(ctx context.Context, name, version, alg string, digest []byte) ([]byte, error) {
	a := azkeys.SignatureAlgorithm(alg)
	resp, err := k.c.Load().Sign(ctx, name, version, azkeys.SignParameters{Algorithm: &a, Value: digest}, nil)
	if err != nil {
		return nil, err
	}
	return resp.Result, nil
}

func leftPad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(make([]byte, n-len(b)), b...)
}
