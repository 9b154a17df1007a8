package lambdaauth

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// Caller is who a wrapped handler runs for, and with what.
type Caller struct {
	// Principal is the verified identity. It may be shared with other
	// invocations through the verifier's cache: read-only.
	Principal *authn.Principal
	// Decision is the policy's answer: allowed, the role granted, the
	// policies that decided.
	Decision authz.Decision
	// Pseudonym is the principal's keyed pseudonym, as the audit trail
	// names it: safe to log and to answer with.
	Pseudonym string
	// AWS is an AWS configuration whose credentials are those of the
	// decided role's IAM role: they are obtained from STS when an SDK
	// client built from it first signs a request (never if none does), and
	// are cached per (principal, role) for the execution environment. Build
	// clients from it within this invocation only: once the handler has
	// returned, it obtains no more credentials.
	AWS aws.Config
	// RequestID is the Lambda request id (the audit event's request id).
	RequestID string

	prov *roleProvider
}

// Session returns the STS session behind AWS once its credentials have
// been obtained (assumed-role ARN, session name, source identity, tags),
// or nil if no AWS call has needed them yet.
func (c *Caller) Session() *creds.Session {
	if c == nil || c.prov == nil {
		return nil
	}
	return c.prov.c.Session()
}

type callerKey struct{}

// FromContext returns the Caller of a wrapped handler's invocation.
func FromContext(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok && c != nil
}

func withCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// caller is the Caller of an allowed invocation: its AWS configuration
// obtains the decided role's credentials (step 3) when a client first signs
// a request with them.
func (g *Guard) caller(c *pipeline.Call) *Caller {
	prov := &roleProvider{c: c}
	cfg := g.aws.Copy()
	cfg.Credentials = aws.NewCredentialsCache(prov)
	return &Caller{Principal: c.Principal, Decision: c.Decision, Pseudonym: c.Event.Principal, AWS: cfg, RequestID: c.Event.RequestID, prov: prov}
}

// ErrNoCredentials is the error of Caller.AWS credentials when the decided
// role has no IAM role in Config.Creds.
var ErrNoCredentials = pipeline.ErrNoCredentials

// roleProvider is the aws.CredentialsProvider of one invocation: it asks
// the pipeline for the decided role's session when first retrieved; once
// the invocation has ended it fails (pipeline.ErrCallOver): a client kept
// past its invocation would act for a caller who is gone.
type roleProvider struct{ c *pipeline.Call }

var _ aws.CredentialsProvider = (*roleProvider)(nil)

// Retrieve returns the role session's credentials.
func (p *roleProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	s, err := p.c.Credentials(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	return s.Credentials, nil
}
