package lambdaconfig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"gatehouse/audit"
	"gatehouse/authz"
	"gatehouse/config"
	"gatehouse/creds"
	"gatehouse/lambdaauth"
)

// Options are what the file cannot say. Zero values mean the documented
// defaults.
type Options struct {
	// Dir is where the file's relative paths start (audit.key_file,
	// audit.signing_key_file, authz.policy_files, ca_file); "" means the
	// file's own directory for Load, and for Parse LAMBDA_TASK_ROOT (the
	// deployment package), else the working directory.
	Dir string
	// Snapshots are key snapshots for the issuers, as in
	// lambdaauth.Config.Snapshots.
	Snapshots [][]byte
	// PseudonymKey, when set, replaces audit.key_file.
	PseudonymKey lambdaauth.Secret
	// SigningKey, when set, replaces audit.signing_key_file.
	SigningKey lambdaauth.Secret
	// Dev resolves the Entra authority "dev"; nil means DevFromEnv.
	Dev *config.DevAuthority
	// AWS is the base AWS configuration; nil means the AWS SDK's default,
	// in creds.sts.region if the file sets one.
	AWS *aws.Config
	// NoCredentials leaves the creds section unread: for a program that
	// obtains no AWS credentials for its callers, such as an authorizer
	// (whose file may then use broker mode, as the gateway's does).
	NoCredentials bool
	// Logger is the Guard's logger; nil means slog.Default().
	Logger *slog.Logger
}

// Load reads the configuration file at path and builds a lambdaauth.Config
// from it; see the package documentation.
func Load(ctx context.Context, path string, opts Options) (lambdaauth.Config, error) {
	f, err := config.Load(path)
	if err != nil {
		return lambdaauth.Config{}, err
	}
	if opts.Dir == "" {
		opts.Dir = filepath.Dir(path)
	}
	return build(ctx, f, opts)
}

// Parse builds a lambdaauth.Config from a configuration file's contents,
// such as one embedded in the binary; name names it in problems.
func Parse(ctx context.Context, name string, data []byte, opts Options) (lambdaauth.Config, error) {
	f, err := config.Parse(name, data)
	if err != nil {
		return lambdaauth.Config{}, err
	}
	if opts.Dir == "" {
		opts.Dir = os.Getenv("LAMBDA_TASK_ROOT")
	}
	if opts.Dir == "" {
		opts.Dir = "."
	}
	return build(ctx, f, opts)
}

// DevFromEnv resolves the Entra authority "dev" inside a function that
// `gatehouse dev` runs: GATEHOUSE_DEV_IDP is the development IdP's URL,
// trusted with the CA in GATEHOUSE_DEV_CA_FILE, else AWS_CA_BUNDLE, else
// the system roots. It returns nil, nil when GATEHOUSE_DEV_IDP is not set.
func DevFromEnv() (*config.DevAuthority, error) {
	base := strings.TrimSuffix(os.Getenv("GATEHOUSE_DEV_IDP"), "/")
	if base == "" {
		return nil, nil
	}
	d := &config.DevAuthority{BaseURL: base}
	ca := os.Getenv("GATEHOUSE_DEV_CA_FILE")
	if ca == "" {
		ca = os.Getenv("AWS_CA_BUNDLE")
	}
	if ca != "" {
		pool, err := config.LoadCAPool(ca, true)
		if err != nil {
			return nil, fmt.Errorf("development IdP CA: %w", err)
		}
		d.CAPool = pool
	}
	return d, nil
}

func build(ctx context.Context, f *config.File, opts Options) (lambdaauth.Config, error) {
	cfg := lambdaauth.Config{Snapshots: opts.Snapshots, Logger: opts.Logger}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	path := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(opts.Dir, p)
	}

	// authn
	dev := opts.Dev
	for _, is := range f.AuthN.Issuers {
		if is.Entra != nil && is.Entra.Authority == config.AuthorityDev && dev == nil {
			d, err := DevFromEnv()
			if err != nil {
				bad("authn.issuers "+is.Name, "%v", err)
			}
			dev = d
		}
		if is.Entra != nil && is.Entra.Authority == config.AuthorityDev && dev == nil {
			bad("authn.issuers "+is.Name, `authority "dev" names gatehouse dev's IdP: set GATEHOUSE_DEV_IDP in the function's environment (or Options.Dev)`)
			continue
		}
		is.CAFile = path(is.CAFile)
		ics, err := is.Runtime(dev)
		if err != nil {
			bad("authn.issuers "+is.Name, "%v", err)
			continue
		}
		cfg.AuthN.Issuers = append(cfg.AuthN.Issuers, ics...)
	}
	cfg.AuthN.MaxTokenBytes, cfg.AuthN.CacheEntries = f.AuthN.MaxTokenBytes, f.AuthN.CacheEntries

	// authz
	var files []authz.PolicyFile
	for _, p := range f.AuthZ.PolicyFiles {
		b, err := os.ReadFile(path(p))
		if err != nil {
			bad("authz.policy_files", "%v", err)
			continue
		}
		files = append(files, authz.PolicyFile{Name: p, Text: b})
	}
	cfg.AuthZ = f.AuthZ.Runtime(files)

	// creds
	if !opts.NoCredentials {
		cfg.Creds = creds.Config{Roles: f.CredsRoles(), CacheEntries: f.Creds.CacheEntries}
	}
	for _, r := range cfg.Creds.Roles {
		if r.Mode == creds.ModeBroker {
			bad("creds.mode", "role %s is in broker mode, which needs gatehouse's own issuer key: a function uses web_identity (the caller's token) or assume_role (its execution role)", r.Name)
		}
	}

	// audit
	a := &f.Audit
	switch {
	case a.Sink != "jsonl":
		bad("audit.sink", "%q: a function writes its trail as JSON lines to standard output (CloudWatch Logs): set sink: jsonl", a.Sink)
	case a.OnUnavailable != "fail_closed":
		bad("audit.on_unavailable", "%q: a function has no durable spool: use fail_closed", a.OnUnavailable)
	}
	cfg.Audit = lambdaauth.Audit{Claims: a.Claims, Mode: audit.Mode(a.Mode), Replica: a.Replica, PseudonymKey: opts.PseudonymKey, SigningKey: opts.SigningKey}
	if cfg.Audit.PseudonymKey == nil {
		if a.KeyFile == "" {
			bad("audit.key_file", "is required: the pseudonym key, a file in the deployment package or on a mounted volume (or Options.PseudonymKey)")
		} else {
			cfg.Audit.PseudonymKey = lambdaauth.SecretFile(path(a.KeyFile))
		}
	}
	if cfg.Audit.SigningKey == nil && a.SigningKeyFile != "" {
		cfg.Audit.SigningKey = lambdaauth.SecretFile(path(a.SigningKeyFile))
	}

	// gateway.routes: the API's routes, for an authorizer.
	for i, rt := range f.Gateway.Routes {
		r := lambdaauth.Route{Method: rt.Method, Path: rt.Path, Action: rt.Action, Role: rt.Role}
		if rt.Function != "" {
			r.Resource = authz.Resource{Kind: authz.ResourceFunction, Name: functionName(rt.Function)}
		} else {
			r.Resource = authz.Resource{Kind: authz.ResourceRoute, Name: rt.ID}
			if r.Action == "" {
				switch rt.Method {
				case "GET", "HEAD", "OPTIONS":
					r.Action = authz.ActionRead
				case "":
					bad(fmt.Sprintf("gateway.routes[%d]", i), "route %s: an upstream route needs a method or an action for an authorizer", rt.ID)
				default:
					r.Action = authz.ActionWrite
				}
			}
		}
		cfg.Routes = append(cfg.Routes, r)
	}
	if err := errors.Join(errs...); err != nil {
		return lambdaauth.Config{}, err
	}
	if opts.NoCredentials {
		cfg.AWS = opts.AWS
		return cfg, nil
	}

	// The AWS configuration, and STS where the file says.
	if opts.AWS != nil {
		c := opts.AWS.Copy()
		cfg.AWS = &c
	} else {
		var lo []func(*awsconfig.LoadOptions) error
		if f.Creds.STS.Region != "" {
			lo = append(lo, awsconfig.WithRegion(f.Creds.STS.Region))
		}
		c, err := awsconfig.LoadDefaultConfig(ctx, lo...)
		if err != nil {
			return lambdaauth.Config{}, fmt.Errorf("AWS configuration: %w", err)
		}
		cfg.AWS = &c
	}
	endpoint := f.Creds.STS.Endpoint
	if endpoint == config.EndpointDev {
		if os.Getenv("AWS_ENDPOINT_URL_STS") == "" {
			return lambdaauth.Config{}, errors.New(`creds.sts.endpoint: "dev" names gatehouse dev's STS, which it gives its functions in AWS_ENDPOINT_URL_STS; that is not set`)
		}
		endpoint = "" // the SDK reads AWS_ENDPOINT_URL_STS itself
	}
	cfg.Creds.STS = sts.NewFromConfig(*cfg.AWS, func(o *sts.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.RetryMaxAttempts = 2 // the broker backs off after STS failures itself
	})
	return cfg, nil
}

// functionName is the name of a function given by name or ARN
// (arn:aws:lambda:region:account:function:name[:qualifier]).
func functionName(s string) string {
	if !strings.HasPrefix(s, "arn:") {
		return s
	}
	parts := strings.Split(s, ":")
	if len(parts) >= 7 && parts[5] == "function" {
		return parts[6]
	}
	return s
}
