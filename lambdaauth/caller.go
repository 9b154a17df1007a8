package lambdaauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"

	"gatehouse/authn"
	"gatehouse/authz"
	"gatehouse/creds"
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
	return c.prov.session.Load()
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

// errInvocationOver refuses credentials asked for after the handler
// returned: a client kept past its invocation would act for a caller who
// is gone.
var errInvocationOver = errors.New("lambdaauth: credentials asked for after the invocation ended")

// roleProvider is the aws.CredentialsProvider of one invocation: it asks
// the broker for the decided role's session when first retrieved.
type roleProvider struct {
	g       *Guard
	req     atomic.Pointer[creds.Request] // nil once the invocation ended: drops the token
	session atomic.Pointer[creds.Session]
	mu      sync.Mutex
	err     error // the last failure, for the audit trail
}

var _ aws.CredentialsProvider = (*roleProvider)(nil)

// Retrieve returns the role session's credentials.
func (p *roleProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	req := p.req.Load()
	if req == nil {
		return aws.Credentials{}, errInvocationOver
	}
	if p.g.broker == nil || !p.g.roles[req.Role] {
		p.fail(ErrNoCredentials)
		return aws.Credentials{}, fmt.Errorf("%w (%q)", ErrNoCredentials, req.Role)
	}
	s, err := p.g.broker.Credentials(ctx, *req)
	if err != nil {
		p.fail(err)
		return aws.Credentials{}, err
	}
	p.session.Store(s)
	return s.Credentials, nil
}

func (p *roleProvider) fail(err error) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

// close ends the invocation: later Retrieves fail and the caller's token is
// dropped. It returns the session obtained, or the failure to obtain one.
func (p *roleProvider) close() (*creds.Session, error) {
	p.req.Store(nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.session.Load(), p.err
}
