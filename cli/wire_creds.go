package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"gatehouse/config"
	"gatehouse/creds"
)

// buildIssuer opens gatehouse's own issuer at url, with its keys in the
// configured key directory or <stateDir>/issuer.
func buildIssuer(f *config.File, url, stateDir string, log *slog.Logger) (*creds.Issuer, error) {
	if url == "" {
		return nil, errors.New("creds.issuer.url is not set: broker mode needs gatehouse's issuer URL")
	}
	dir := f.Creds.Issuer.KeyDir
	if dir == "" {
		if stateDir == "" {
			return nil, errors.New("creds.issuer.key_dir is not set")
		}
		dir = filepath.Join(stateDir, "issuer")
	}
	return creds.NewIssuer(creds.IssuerConfig{URL: url, KeyDir: dir, Logger: log})
}

// stsClient builds the AWS SDK's STS client for endpoint ("" = AWS), with
// the ambient credentials of the default chain (only assume_role uses
// them; AssumeRoleWithWebIdentity is unsigned).
func stsClient(ctx context.Context, f *config.File, endpoint string, hc *http.Client) (*sts.Client, error) {
	region := f.Creds.STS.Region
	if region == "" {
		region = "us-east-1"
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
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
	}), nil
}

// buildBroker wires creds.Broker for the configuration.
func buildBroker(f *config.File, issuer *creds.Issuer, client *sts.Client, log *slog.Logger) (*creds.Broker, error) {
	return creds.New(creds.Config{
		Roles:        f.CredsRoles(),
		Issuer:       issuer,
		STS:          client,
		CacheEntries: f.Creds.CacheEntries,
		Logger:       log,
	})
}

// accountOf returns the account id of an IAM role ARN.
func accountOf(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// roleNameOf returns the role name (with path) of an IAM role ARN.
func roleNameOf(arn string) string {
	_, name, _ := strings.Cut(arn, ":role/")
	return name
}
