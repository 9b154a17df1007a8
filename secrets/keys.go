package secrets

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// A signing key kept in a vault never leaves it: gatehouse reads its public
// half and signs through the vault's sign operation. As a Source, a key
// reads as its public key (PKIX DER) with the vault's version of it (a KMS
// key ARN, a Key Vault key version), so a Set refreshes, reports and
// rotates keys exactly as it does secrets; KeySource.Signer then signs
// with one version, even after the reference has moved on to another.

// SignTimeout bounds one remote signature.
const SignTimeout = 10 * time.Second

// KeySource is a Source whose values are public keys of a vault's signing
// key.
type KeySource interface {
	Source
	// Signer signs with the version v names (v as Fetch returned it).
	Signer(v Value) (crypto.Signer, error)
}

// PublicKey parses a key Value's bytes: an RSA key of at least 2048 bits
// or an ECDSA P-256 key, the two the JWS algorithms RS256 and ES256 need.
func PublicKey(v Value) (crypto.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(v.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key of version %s: %w", v.Version, err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("version %s is an RSA key of %d bits: want at least 2048", v.Version, k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("version %s is an ECDSA key on %s: want P-256", v.Version, k.Curve.Params().Name)
		}
	default:
		return nil, fmt.Errorf("version %s is a %T key: want RSA or ECDSA P-256", v.Version, pub)
	}
	return pub, nil
}

// KMSAPI is what KMSKey calls: *kms.Client has it.
type KMSAPI interface {
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
	Sign(ctx context.Context, in *kms.SignInput, opts ...func(*kms.Options)) (*kms.SignOutput, error)
}

// KMSKey is an asymmetric AWS KMS key with usage SIGN_VERIFY (RSA_2048 or
// larger, ECC_NIST_P256). KeyID may be an alias (alias/NAME or its ARN):
// rotation points the alias at a new key, which the next Fetch returns.
type KMSKey struct {
	Client KMSAPI
	KeyID  string
}

func (k KMSKey) String() string { return "aws-kms:" + k.KeyID }

// Fetch reads the public key of the key KeyID names now; the version is
// that key's ARN.
func (k KMSKey) Fetch(ctx context.Context) (Value, error) {
	out, err := k.Client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(k.KeyID)})
	if err != nil {
		return Value{}, err
	}
	if out.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
		return Value{}, fmt.Errorf("key usage is %s: want SIGN_VERIFY", out.KeyUsage)
	}
	v := Value{Bytes: out.PublicKey, Version: aws.ToString(out.KeyId)}
	if v.Version == "" {
		return Value{}, errors.New("the answer from KMS names no key")
	}
	if _, err := PublicKey(v); err != nil {
		return Value{}, err
	}
	return v, nil
}

// Signer signs with the KMS key whose ARN is v.Version.
func (k KMSKey) Signer(v Value) (crypto.Signer, error) {
	pub, err := PublicKey(v)
	if err != nil {
		return nil, err
	}
	return &kmsSigner{client: k.Client, keyID: v.Version, pub: pub}, nil
}

type kmsSigner struct {
	client KMSAPI
	keyID  string
	pub    crypto.PublicKey
}

func (s *kmsSigner) Public() crypto.PublicKey { return s.pub }

// Sign signs a SHA-256 digest (PKCS #1 v1.5 for RSA, ASN.1 DER ECDSA as
// crypto.Signer has it, which is what KMS returns).
func (s *kmsSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, errors.New("KMS signer: only SHA-256 digests are signed")
	}
	if _, ok := opts.(*rsa.PSSOptions); ok {
		return nil, errors.New("KMS signer: RSA-PSS is not used")
	}
	alg := kmstypes.SigningAlgorithmSpecRsassaPkcs1V15Sha256
	if _, ok := s.pub.(*ecdsa.PublicKey); ok {
		alg = kmstypes.SigningAlgorithmSpecEcdsaSha256
	}
	ctx, cancel := context.WithTimeout(context.Background(), SignTimeout)
	defer cancel()
	out, err := s.client.Sign(ctx, &kms.SignInput{
		KeyId: aws.String(s.keyID), Message: digest,
		MessageType: kmstypes.MessageTypeDigest, SigningAlgorithm: alg,
	})
	if err != nil {
		return nil, fmt.Errorf("KMS sign with %s: %w", s.keyID, err)
	}
	return out.Signature, nil
}

// KeyVaultKeysAPI is what KeyVaultKey calls, in terms of this package so
// the Azure SDK's client plugs in through a small adapter (package build).
type KeyVaultKeysAPI interface {
	// GetKey returns the public key (PKIX DER) and version of a key (""
	// version: the latest).
	GetKey(ctx context.Context, name, version string) (pkix []byte, gotVersion string, err error)
	// Sign signs digest with the JWS algorithm alg (RS256, ES256); an
	// ES256 signature is r || s as Key Vault returns it.
	Sign(ctx context.Context, name, version, alg string, digest []byte) ([]byte, error)
}

// KeyVaultKey is an Azure Key Vault key (RSA 2048 or larger, or EC P-256;
// software or HSM) with the sign operation allowed. Without Version the
// latest enabled version signs: rotation adds a version.
type KeyVaultKey struct {
	Client KeyVaultKeysAPI
	// Vault is the vault URL (for String); Name and Version the key.
	Vault, Name, Version string
}

func (k KeyVaultKey) String() string { return keyVaultRef(k.Vault, "keys", k.Name, k.Version) }

// Fetch reads the public key of the version in use.
func (k KeyVaultKey) Fetch(ctx context.Context) (Value, error) {
	pub, ver, err := k.Client.GetKey(ctx, k.Name, k.Version)
	if err != nil {
		return Value{}, err
	}
	v := Value{Bytes: pub, Version: ver}
	if ver == "" {
		return Value{}, errors.New("the answer from Key Vault names no key version")
	}
	if _, err := PublicKey(v); err != nil {
		return Value{}, err
	}
	return v, nil
}

// Signer signs with the key version v.Version.
func (k KeyVaultKey) Signer(v Value) (crypto.Signer, error) {
	pub, err := PublicKey(v)
	if err != nil {
		return nil, err
	}
	return &keyVaultSigner{client: k.Client, name: k.Name, version: v.Version, pub: pub}, nil
}

type keyVaultSigner struct {
	client        KeyVaultKeysAPI
	name, version string
	pub           crypto.PublicKey
}

func (s *keyVaultSigner) Public() crypto.PublicKey { return s.pub }

// Sign signs a SHA-256 digest; an ECDSA signature comes back as ASN.1
// DER, as crypto.Signer has it.
func (s *keyVaultSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, errors.New("signer for a Key Vault key: only SHA-256 digests are signed")
	}
	if _, ok := opts.(*rsa.PSSOptions); ok {
		return nil, errors.New("signer for a Key Vault key: RSA-PSS is not used")
	}
	alg := "RS256"
	_, ec := s.pub.(*ecdsa.PublicKey)
	if ec {
		alg = "ES256"
	}
	ctx, cancel := context.WithTimeout(context.Background(), SignTimeout)
	defer cancel()
	sig, err := s.client.Sign(ctx, s.name, s.version, alg, digest)
	if err != nil {
		return nil, fmt.Errorf("sign with Key Vault key %s/%s: %w", s.name, s.version, err)
	}
	if !ec {
		return sig, nil
	}
	if len(sig) != 64 {
		return nil, fmt.Errorf("sign with Key Vault key %s/%s: an ES256 signature of %d bytes", s.name, s.version, len(sig))
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(new(big.Int).SetBytes(sig[:32]))
		b.AddASN1BigInt(new(big.Int).SetBytes(sig[32:]))
	})
	return b.Bytes()
}
