package build

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"gatehouse/config"
	"gatehouse/creds"
	"gatehouse/mint"
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
	return mint.NewIssuer(mint.Config{URL: url, KeyDir: dir, Logger: o.Logger})
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

// Creds is the creds section as the broker's Config, for issuer and STS.
func Creds(f *config.File, issuer *mint.Issuer, client creds.STSClient, o Options) creds.Config {
	return creds.Config{Roles: f.CredsRoles(), Issuer: issuer, STS: client, CacheEntries: f.Creds.CacheEntries, Logger: o.Logger}
}
