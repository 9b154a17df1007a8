package build

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
	"github.com/gatehouse-dev/gatehouse/mint"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// Issuer opens gatehouse's own issuer at url (creds.issuer.url, or in dev
// the development gateway's URL), with its keys in creds.issuer.key_dir,
// else <state dir>/issuer.
func Issuer(f *config.File, url string, o Options) (*mint.Issuer, error) {
	if url == "" {
		return nil, errors.New("creds.issuer.url is not set: broker mode and HTTP upstreams need gatehouse's issuer URL")
	}
	dir := o.path(f.Creds.Issuer.KeyDir)
	if dir == "" {
		if o.StateDir == "" {
			return nil, errors.New("creds.issuer.key_dir is not set")
		}
		dir = filepath.Join(o.StateDir, "issuer")
	}
	cfg := mint.Config{URL: url, KeyDir: dir, Logger: o.Logger}
	if f.Creds.Issuer.SigningKey.IsZero() {
		return mint.NewIssuer(cfg)
	}
	const field = "creds.issuer.signing_key"
	k, v, err := vaultKey(context.Background(), f, o, field)
	if err != nil {
		return nil, err
	}
	cfg.Vault = &mint.Vault{Keys: vaultSigners{k.Source}, Version: v.Version, Public: v.Bytes, PublishAhead: f.PublishAheadOrDefault()}
	iss, err := mint.NewIssuer(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	// Each refresh that finds another version publishes it ahead of signing.
	k.Secret.OnChange(func(v secrets.Value) {
		if err := iss.VaultVersion(v.Version, v.Bytes); err != nil {
			o.logger().Error("issuer signing key: a new version was refused; the current one keeps signing", "key", k.Secret.String(), "version", v.Version, "err", err)
		}
	})
	return iss, nil
}

// vaultSigners adapts a vault key's source to mint.VaultKeys.
type vaultSigners struct{ src secrets.KeySource }

func (s vaultSigners) Signer(version string, pkix []byte) (crypto.Signer, error) {
	return s.src.Signer(secrets.Value{Version: version, Bytes: pkix})
}

// CheckIssuerKeys checks the issuer's key directory without creating
// anything: its key file, if there is one, must be readable by gatehouse
// alone; if there is none, the directory must be one gatehouse can create
// it in (serve creates the keys on first start).
func CheckIssuerKeys(f *config.File, o Options) error {
	dir := o.path(f.Creds.Issuer.KeyDir)
	path := filepath.Join(dir, mint.KeyFileName)
	if _, _, err := privatefile.Read(path, 1<<20); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s is not a directory", d)
			}
			return nil
		}
		if filepath.Dir(d) == d {
			return fmt.Errorf("no directory of %s exists", dir)
		}
	}
}

// AWS is the base AWS configuration: the SDK's default chain (whose
// credentials only assume_role uses) in Region.
func AWS(ctx context.Context, f *config.File) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(Region(f)))
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	return cfg, nil
}

// STS is the STS client of the broker: at endpoint ("" means AWS's), sending
// with hc (nil means the SDK's client).
func STS(cfg aws.Config, endpoint string, hc *http.Client) *sts.Client {
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		// The broker backs off after STS failures itself; the SDK's own
		// retries with sleeps would only hold callers longer.
		o.RetryMaxAttempts = 2
		// Set on the client, not the loaded config, so that an
		// AWS_CA_BUNDLE in the environment does not conflict with it.
		if hc != nil {
			o.HTTPClient = hc
		}
	})
}

// CAClient is an HTTP client trusting the system's CAs and those of the
// PEM file caFile (relative to Options.Dir), for an AWS endpoint served
// with a development CA; nil when caFile is "". It has no timeout of its
// own: its callers bound each call (a Lambda invocation may take 15
// minutes).
func CAClient(caFile string, o Options) (*http.Client, error) {
	if caFile == "" {
		return nil, nil
	}
	pool, err := config.LoadCAPool(o.path(caFile), true)
	if err != nil {
		return nil, err
	}
	c := config.HTTPClient(pool)
	c.Timeout = 0
	return c, nil
}

// Creds is the creds section as the broker's Config, for issuer and STS.
func Creds(f *config.File, issuer *mint.Issuer, client creds.STSClient, o Options) creds.Config {
	return creds.Config{Roles: f.CredsRoles(), Issuer: issuer, STS: client, CacheEntries: f.Creds.CacheEntries, Logger: o.Logger}
}
