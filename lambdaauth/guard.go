package lambdaauth

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/jsonl"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/internal/awstrace"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// Config configures a Guard. Zero values mean the documented defaults.
type Config struct {
	// AuthN configures the verifier: the trusted issuers (at least one),
	// token size, cache, HTTP client. Its Logger and Now default to the
	// Guard's.
	AuthN authn.Config
	// Snapshots are key snapshots (authn.FetchSnapshot, `gatehouse jwks
	// snapshot`), typically embedded at build time: each is attached as
	// authn.IssuerConfig.Snapshot to every issuer of AuthN whose Issuer it
	// names, so a cold start verifies without fetching keys. A snapshot
	// that names no configured issuer is an error.
	Snapshots [][]byte
	// AuthZ is the policy; the zero Config denies everything.
	AuthZ authz.Config
	// Creds maps decided roles to IAM roles and says how their credentials
	// are obtained (web_identity, assume_role, or broker with an Issuer).
	// Roles empty means handlers get an aws.Config whose credentials fail
	// with ErrNoCredentials. STS nil means an STS client from AWS, whose
	// credentials (the function's execution role) sign assume_role calls.
	// Its Logger and Now default to the Guard's.
	Creds creds.Config
	// AWS is the base of the aws.Config handed to handlers (region, HTTP
	// client, endpoints) and of the default STS client; nil means the AWS
	// SDK's default configuration (in Lambda: the region and execution-role
	// credentials of the environment).
	AWS *aws.Config
	// Audit says where the trail goes and with which keys.
	Audit Audit
	// Action is what an invocation of a wrapped handler asks of policy; ""
	// means authz.ActionInvoke.
	Action string
	// Resource is what it asks it of; the zero Resource means the function
	// itself: authz.ResourceFunction named by AWS_LAMBDA_FUNCTION_NAME.
	Resource authz.Resource
	// Role, when set, is the only role a wrapped handler's invocation may
	// be granted.
	Role string
	// SessionPolicy, when set, is an inline session policy narrowing the
	// role's credentials (creds.Request.SessionPolicy).
	SessionPolicy string
	// Routes are the routes of the API an Authorizer protects; see Route.
	// Wrapped handlers do not use them.
	Routes []Route
	// Tracer, when set, traces each invocation (trace.go): a span per
	// invocation with the pipeline's steps under it, and the trace id in
	// its event. When the TracerProvider has ForceFlush (the
	// OpenTelemetry SDK's does), spans are flushed before each invocation
	// returns. nil means no tracing.
	Tracer trace.TracerProvider
	// TrustIncoming continues the W3C trace context (traceparent) in the
	// event's headers; false starts a new trace for every invocation.
	TrustIncoming bool
	// Logger receives refusals and failures, never tokens; nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Audit configures the Guard's audit trail.
type Audit struct {
	// Sink stores the events; nil means JSON lines on standard output
	// (audit/jsonl), which Lambda sends to CloudWatch Logs. A Sink given
	// here is not closed by Close.
	Sink audit.Sink
	// PseudonymKey is the key (at least audit.MinKeyBytes) of the keyed
	// pseudonyms that name principals in events; required. The same key as
	// the gateway's gives the same pseudonyms.
	PseudonymKey Secret
	// SigningKey, when set, is a PKCS#8 PEM private key (Ed25519, ECDSA or
	// RSA) that signs the trail's checkpoints; nil means no checkpoints
	// (events still chain).
	SigningKey Secret
	// Claims are the token claims stored in events besides the identity
	// fields (audit.SanitizeClaims leaves personal ones out whatever this
	// says).
	Claims []string
	// Mode is audit.Sync (the default: the event is written before the
	// answer leaves) or audit.Async. Lambda freezes the process between
	// invocations and may end it without notice: events still queued in
	// Async mode can be lost.
	Mode audit.Mode
	// Replica names this writer in events and chain ids; "" means the
	// function name.
	Replica string
}

// Guard runs the pipeline for a function's invocations. Build one per
// execution environment (at init) and use it for every invocation; it is
// safe for concurrent use.
type Guard struct {
	pl            *pipeline.Pipeline
	verifier      *authn.Verifier
	rec           *audit.Recorder
	sink          audit.Sink // closed by Close when the Guard opened it
	pseudo        *audit.PseudonymKeys
	aws           aws.Config
	action        string
	resource      authz.Resource
	role          string
	sessionPolicy string
	routes        []*route
	function      string
	maxHeader     int
	flush         func(context.Context) error // the tracer's ForceFlush; nil when none
	log           *slog.Logger
	now           func() time.Time
}

// New checks cfg, builds every part and returns a Guard. It reads the
// secrets, and unless every issuer has a snapshot it fetches the issuers'
// keys (a failure is logged, not returned: the first invocation tries
// again). Call it once per execution environment, outside the handler.
func New(ctx context.Context, cfg Config) (*Guard, error) {
	g := &Guard{log: cfg.Logger, now: cfg.Now, action: cfg.Action, resource: cfg.Resource, role: cfg.Role,
		sessionPolicy: cfg.SessionPolicy, function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME")}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.action == "" {
		g.action = authz.ActionInvoke
	}
	if g.resource == (authz.Resource{}) {
		g.resource = authz.Resource{Kind: authz.ResourceFunction, Name: g.function}
	}
	var errs []error
	if g.resource.Name == "" && len(cfg.Routes) == 0 {
		errs = append(errs, errors.New("lambdaauth: no resource to decide on: set Config.Resource, or run in Lambda (AWS_LAMBDA_FUNCTION_NAME)"))
	}
	var err error
	if g.routes, err = compileRoutes(cfg.Routes); err != nil {
		errs = append(errs, err)
	}

	// 1 authn, with the snapshots attached to their issuers.
	an := cfg.AuthN
	an.Issuers = slices.Clone(an.Issuers)
	if err := attachSnapshots(an.Issuers, cfg.Snapshots); err != nil {
		errs = append(errs, err)
	}
	if an.Logger == nil {
		an.Logger = g.log
	}
	if an.Now == nil {
		an.Now = g.now
	}
	g.maxHeader = an.MaxTokenBytes
	if g.maxHeader <= 0 {
		g.maxHeader = 16 << 10
	}
	g.maxHeader += len("Bearer ") + 64 // room for the scheme and stray spaces
	if g.verifier, err = authn.NewVerifier(an); err != nil {
		errs = append(errs, err)
	}
	// 2 authz
	policy, err := authz.New(cfg.AuthZ)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	// 3 creds: the base AWS configuration and the broker (none when no
	// role has credentials).
	var broker pipeline.Broker
	if cfg.AWS != nil {
		g.aws = cfg.AWS.Copy()
	} else if g.aws, err = awsconfig.LoadDefaultConfig(ctx); err != nil {
		return nil, fmt.Errorf("lambdaauth: AWS configuration: %w", err)
	}
	if len(cfg.Creds.Roles) > 0 {
		cc := cfg.Creds
		if cc.STS == nil {
			cc.STS = sts.NewFromConfig(g.aws, func(o *sts.Options) {
				// The broker backs off after STS failures itself.
				o.RetryMaxAttempts = 2
				// The STS call's span, when the invocation is traced.
				o.APIOptions = append(slices.Clip(o.APIOptions), awstrace.Middleware(false))
			})
		}
		if cc.Logger == nil {
			cc.Logger = g.log
		}
		if cc.Now == nil {
			cc.Now = g.now
		}
		b, err := creds.New(cc)
		if err != nil {
			return nil, err
		}
		broker = b
	}

	// 5 audit
	if err := g.openAudit(ctx, cfg.Audit); err != nil {
		return nil, err
	}
	if g.pl, err = pipeline.New(pipeline.Config{
		Verifier: g.verifier, Policy: policy, Broker: broker, Recorder: g.rec, Pseudonym: g.pseudo.Principal,
		Claims: slices.Clone(cfg.Audit.Claims), Logger: g.log, Now: g.now,
		Tracer: cfg.Tracer, TrustIncoming: cfg.TrustIncoming,
	}); err != nil {
		return nil, err
	}
	if f, ok := cfg.Tracer.(interface{ ForceFlush(context.Context) error }); ok {
		g.flush = f.ForceFlush
	}

	// Keys: a snapshot serves at once (and refreshes in the background on
	// first use); otherwise fetch now, while init has the CPU to itself,
	// rather than on the first caller's time.
	if !allSnapshots(an.Issuers) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second) // Lambda allows init 10 s
		if err := g.verifier.Refresh(rctx); err != nil {
			g.log.Warn("lambdaauth: fetching issuer keys at init failed; the first invocation tries again", "err", err)
		}
		cancel()
	}
	return g, nil
}

func (g *Guard) openAudit(ctx context.Context, a Audit) error {
	if a.PseudonymKey == nil {
		return errors.New("lambdaauth: Audit.PseudonymKey is required: principals are named by keyed pseudonyms")
	}
	key, err := a.PseudonymKey(ctx)
	if err != nil {
		return fmt.Errorf("lambdaauth: pseudonym key: %w", err)
	}
	p, err := audit.NewPseudonymizer(key)
	if err != nil {
		return fmt.Errorf("lambdaauth: pseudonym key: %w", err)
	}
	g.pseudo = audit.NewPseudonymKeys(p)
	clear(key)
	var signer crypto.Signer
	if a.SigningKey != nil {
		pemBytes, err := a.SigningKey(ctx)
		if err != nil {
			return fmt.Errorf("lambdaauth: audit signing key: %w", err)
		}
		if signer, err = parseSigner(pemBytes); err != nil {
			return fmt.Errorf("lambdaauth: audit signing key: %w", err)
		}
	}
	sink := a.Sink
	if sink == nil {
		sink = jsonl.New(os.Stdout)
		g.sink = sink
	}
	replica := a.Replica
	if replica == "" {
		replica = g.function
	}
	mode := a.Mode
	if mode == "" {
		mode = audit.Sync
	}
	g.rec, err = audit.NewRecorder(audit.Config{Sink: sink, Mode: mode, Replica: replica, Signer: signer, Pseudonyms: g.pseudo, Now: g.now, Logger: g.log})
	if err != nil {
		return fmt.Errorf("lambdaauth: %w", err)
	}
	return nil
}

// parseSigner reads a PKCS#8 PEM private key.
func parseSigner(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return s, nil
}

// attachSnapshots sets IssuerConfig.Snapshot of the issuers each snapshot
// names.
func attachSnapshots(issuers []authn.IssuerConfig, snapshots [][]byte) error {
	var errs []error
	for i, s := range snapshots {
		info, err := authn.ReadSnapshot(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("lambdaauth: snapshots[%d]: %w", i, err))
			continue
		}
		found := false
		for j := range issuers {
			if issuers[j].Issuer == info.Issuer {
				if issuers[j].Snapshot != nil {
					errs = append(errs, fmt.Errorf("lambdaauth: snapshots[%d]: issuer %s has a snapshot already", i, info.Issuer))
				}
				issuers[j].Snapshot = s
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("lambdaauth: snapshots[%d]: no configured issuer is %s", i, info.Issuer))
		}
	}
	return errors.Join(errs...)
}

func allSnapshots(issuers []authn.IssuerConfig) bool {
	for _, ic := range issuers {
		if ic.Snapshot == nil {
			return false
		}
	}
	return len(issuers) > 0
}

// Close writes what the audit trail still holds (a final checkpoint when it
// signs them) and closes the sink the Guard opened. Lambda seldom gives a
// function the chance; tests and long-running programs should call it.
func (g *Guard) Close() error {
	err := g.rec.Close()
	if g.sink != nil {
		err = errors.Join(err, g.sink.Close())
	}
	return err
}

// Ready reports whether every issuer's keys may be used now.
func (g *Guard) Ready() bool { return g.verifier.Ready() }

// Stats returns the verifier's counters (cache hits, key fetches).
func (g *Guard) Stats() authn.Stats { return g.verifier.Stats() }
