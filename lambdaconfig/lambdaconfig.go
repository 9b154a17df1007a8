package lambdaconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/gatehouse-dev/gatehouse/audit"
	buildpkg "github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/internal/awstrace"
	"github.com/gatehouse-dev/gatehouse/lambdaauth"
	"github.com/gatehouse-dev/gatehouse/telemetry"
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
	// in the file's region (build.Region).
	AWS *aws.Config
	// NoCredentials leaves the creds section unread: for a program that
	// obtains no AWS credentials for its callers, such as an authorizer
	// (whose file may then use broker mode, as the gateway's does).
	NoCredentials bool
	// Logger is the Guard's logger; nil means slog.Default().
	Logger *slog.Logger
}

// where is where the file runs, for config's checks.
func (o Options) where() config.Where {
	if o.NoCredentials {
		return config.WhereAuthorizer
	}
	return config.WhereLambda
}

// Load reads the configuration file at path and builds a lambdaauth.Config
// from it; see the package documentation.
func Load(ctx context.Context, path string, opts Options) (lambdaauth.Config, error) {
	fh, err := os.Open(path)
	if err != nil {
		return lambdaauth.Config{}, fmt.Errorf("config: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, config.MaxFileSize+1))
	if err != nil {
		return lambdaauth.Config{}, fmt.Errorf("config: %w", err)
	}
	if opts.Dir == "" {
		opts.Dir = dirOf(path)
	}
	return Parse(ctx, path, data, opts)
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, os.PathSeparator); i >= 0 {
		return path[:i+1]
	}
	return "."
}

// Parse builds a lambdaauth.Config from a configuration file's contents,
// such as one embedded in the binary; name names it in problems.
func Parse(ctx context.Context, name string, data []byte, opts Options) (lambdaauth.Config, error) {
	f, err := config.ParseFor(name, data, opts.where())
	if err != nil {
		// Every problem at once: with the file's own, the secrets' too.
		if f, _ := config.Parse(name, data); f != nil {
			if kerr := opts.keyProblem(f); kerr != nil {
				err = errors.Join(err, kerr)
			}
		}
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

// build turns the checked file into the Guard's Config with the shared
// builder (gatehouse/build), as serve and dev turn it into theirs.
func build(ctx context.Context, f *config.File, opts Options) (lambdaauth.Config, error) {
	var errs []error
	usesDev := false
	for _, is := range f.AuthN.Issuers {
		usesDev = usesDev || is.Entra != nil && is.Entra.Authority == config.AuthorityDev
	}
	if usesDev && opts.Dev == nil {
		d, err := DevFromEnv()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("authn.issuers: %w", err))
		case d == nil:
			errs = append(errs, errors.New(`authn.issuers: authority "dev" names gatehouse dev's IdP: set GATEHOUSE_DEV_IDP in the function's environment (or Options.Dev)`))
		}
		opts.Dev = d
	}
	bo := buildOptions(opts)
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	// Each line of an invocation names its request id (and trace id).
	cfg := lambdaauth.Config{Snapshots: opts.Snapshots, Logger: slog.New(telemetry.LogHandler(log.Handler()))}
	var err error
	if cfg.AuthN, err = buildpkg.AuthN(f, bo); err != nil {
		errs = append(errs, err)
	}
	if cfg.AuthZ, err = buildpkg.AuthZ(f, bo); err != nil {
		errs = append(errs, err)
	}
	if !opts.NoCredentials {
		cfg.Creds = creds.Config{Roles: f.CredsRoles(), CacheEntries: f.Creds.CacheEntries}
	}
	a := &f.Audit
	cfg.Audit = lambdaauth.Audit{Claims: a.Claims, Mode: audit.Mode(a.Mode), Replica: a.Replica, PseudonymKey: opts.PseudonymKey, SigningKey: opts.SigningKey}
	if err := opts.keyProblem(f); err != nil {
		errs = append(errs, err)
	} else if cfg.Audit.PseudonymKey == nil && !a.Key.IsZero() {
		cfg.Audit.PseudonymKey = referencedSecret(f, bo, "audit.key")
	} else if cfg.Audit.PseudonymKey == nil {
		cfg.Audit.PseudonymKey = lambdaauth.SecretFile(bo.Path(a.KeyFile))
	}
	if cfg.Audit.SigningKey == nil && a.SigningKeyFile != "" {
		cfg.Audit.SigningKey = lambdaauth.SecretFile(bo.Path(a.SigningKeyFile))
	}
	// gateway.routes: the API's routes, for an authorizer, decided on the
	// same resources as the gateway decides them.
	for _, rt := range buildpkg.Routes(f) {
		cfg.Routes = append(cfg.Routes, lambdaauth.Route{Method: rt.Method, Path: rt.Path, Action: rt.ActionFor(rt.Method), Resource: rt.Resource, Role: rt.Role})
	}
	if err := errors.Join(errs...); err != nil {
		return lambdaauth.Config{}, err
	}
	// Tracing, when telemetry.tracing is on: flushed at the end of each
	// invocation (lambdaauth), its header secrets read once, now.
	tr, err := buildpkg.Tracing(ctx, f, bo, "")
	if err != nil {
		return lambdaauth.Config{}, err
	}
	if tr != nil {
		cfg.Tracer, cfg.TrustIncoming = tr.TracerProvider(), f.Telemetry.Tracing.TrustIncoming
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
		c, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(buildpkg.Region(f)))
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
	stsCfg := cfg.AWS.Copy()
	stsCfg.APIOptions = append(slices.Clip(stsCfg.APIOptions), awstrace.Middleware(false)) // the STS call's span
	cfg.Creds.STS = buildpkg.STS(stsCfg, endpoint, nil)
	return cfg, nil
}

// keyProblem says that no pseudonym key is named, neither by the file nor
// by code.
func (o Options) keyProblem(f *config.File) error {
	if o.PseudonymKey == nil && f.Audit.KeyFile == "" && f.Audit.Key.IsZero() {
		return errors.New("audit.key_file: is required: the pseudonym key, a file in the deployment package or on a mounted volume, or audit.key: a reference to AWS Secrets Manager (or Options.PseudonymKey)")
	}
	return nil
}

// referencedSecret reads the secret reference at field when the Guard
// asks (once, at init), with the function's own AWS credentials (its
// execution role) or Azure identity.
func referencedSecret(f *config.File, bo buildpkg.Options, field string) lambdaauth.Secret {
	return func(ctx context.Context) ([]byte, error) {
		// Only this reference: the function's role needs no access to the
		// file's other secrets or keys.
		v, err := buildpkg.ReadSecret(ctx, f, bo, field)
		return v.Bytes, err
	}
}

func buildOptions(o Options) buildpkg.Options {
	return buildpkg.Options{Dir: o.Dir, Dev: o.Dev, Logger: o.Logger}
}
