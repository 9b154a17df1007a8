package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/creds"
)

// The steps as the pipeline uses them; authn.Verifier, authz.Engine,
// creds.Broker and audit.Recorder are the real ones.
type (
	Verifier interface {
		Verify(ctx context.Context, raw string) (*authn.Principal, error)
		Ready() bool
	}
	Policy interface {
		Decide(p *authn.Principal, r authz.Request) authz.Decision
	}
	Broker interface {
		Credentials(ctx context.Context, req creds.Request) (*creds.Session, error)
	}
	Recorder interface {
		Record(ctx context.Context, ev *audit.Event) error
	}
	// Revocations refuses revoked callers (revoke.Store is the real one).
	Revocations interface {
		Check(p *authn.Principal) error
	}
)

// Config holds the built steps.
type Config struct {
	Verifier Verifier // step 1; required
	Policy   Policy   // step 2; required
	// Broker is step 3; nil means no role has AWS credentials
	// (Call.Credentials fails with ErrNoCredentials).
	Broker   Broker
	Recorder Recorder // step 5; required
	// Revocations, when set, is asked about every verified principal
	// (part of step 1): an error refuses the request as authn's do.
	Revocations Revocations
	// Pseudonym names principals (and user agents) in events; required.
	// audit.Pseudonymizer.Principal is the real one.
	Pseudonym func(tenant, subject string) string
	// Claims are the token claims events keep (audit.SanitizeClaims drops
	// personal ones whatever this says).
	Claims []string
	// Logger receives refusals and failures, never tokens; nil means
	// slog.Default(). Now is the clock; nil means time.Now.
	Logger *slog.Logger
	Now    func() time.Time
	// Tracer, when set, traces requests: a front door starts a request's
	// span with Trace, each step runs in a span of its own, and the event
	// records the trace id (trace.go says what spans carry). nil means no
	// spans and no trace id.
	Tracer trace.TracerProvider
	// TrustIncoming makes Trace continue the W3C trace context a caller
	// sends (traceparent); false starts a new trace for every request,
	// whatever the caller sends.
	TrustIncoming bool
}

// Pipeline runs the steps for each request. Build one per configuration;
// it is safe for concurrent use.
type Pipeline struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	tracer trace.Tracer // nil: requests are not traced
}

// New checks that every required step is there.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Verifier == nil || cfg.Policy == nil || cfg.Recorder == nil || cfg.Pseudonym == nil {
		return nil, errors.New("pipeline: verifier, policy, recorder and pseudonym are all required")
	}
	pl := &Pipeline{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if pl.log == nil {
		pl.log = slog.Default()
	}
	if pl.now == nil {
		pl.now = time.Now
	}
	if cfg.Tracer != nil {
		pl.tracer = cfg.Tracer.Tracer(scope)
	}
	return pl, nil
}

// Parts returns the steps the pipeline runs, for counters and readiness.
func (pl *Pipeline) Parts() Config { return pl.cfg }

// Ready reports whether every issuer's keys may be used now.
func (pl *Pipeline) Ready() bool { return pl.cfg.Verifier.Ready() }

// Request is what a front door knows of one request.
type Request struct {
	// ID is the request id: the caller's X-Request-Id answer, the Lambda
	// request id.
	ID string
	// Route names the route in the audit trail.
	Route string
	// Token is the raw bearer token; TokenErr says why the front door
	// found none it may use (absent: authn.ErrNoToken; several, or in the
	// query string: an *authn.Error of kind InvalidRequest).
	Token    string
	TokenErr error
	// Issuers and Audiences, when set, narrow the tokens the route
	// accepts (authn issuer names; `aud` values).
	Issuers, Audiences []string
	// Action, Resource and Role are what policy is asked (Role "" lets
	// policy choose).
	Action   string
	Resource authz.Resource
	Role     string
	// Method, Path and SourceIP are the request's, for policy's context.
	Method, Path, SourceIP string
	// SessionPolicy narrows the role's credentials (creds.InvokePolicy).
	SessionPolicy string
	// MetadataURL is the RFC 9728 document challenges point to; "" none.
	MetadataURL string
	// Early, when set, refuses the request before any step runs (a body
	// over the limit): usually an *Error.
	Early error
}

// Error is a refusal a front door decides before the steps run.
type Error struct {
	Status      int
	Code        string // the public error code, and the event's error class
	Description string // safe to show the caller
}

func (e *Error) Error() string { return "pipeline: " + e.Code + ": " + e.Description }

// ErrNoCredentials is Call.Credentials' error when no AWS role is
// configured for the decided role.
var ErrNoCredentials = errors.New("pipeline: no AWS credentials are configured for the decided role")

// ErrCallOver refuses credentials asked for after the call was finished:
// a client kept past its request would act for a caller who is gone.
var ErrCallOver = errors.New("pipeline: credentials asked for after the request ended")

// Call is one request's pass through the pipeline.
type Call struct {
	// Principal is the verified identity (nil when authn failed); it may be
	// shared through the verifier's cache: read-only. Decision is
	// policy's answer.
	Principal *authn.Principal
	Decision  authz.Decision
	// Event is the audit event as the steps fill it. The front door may
	// add to it before Finish; it must not be changed after.
	Event audit.Event

	pl    *Pipeline
	req   callRequest
	start time.Time
	err   error      // why the request is refused; nil when allowed
	root  trace.Span // the request's span (Trace); nil when not traced

	mu       sync.Mutex
	session  *creds.Session
	credErr  error
	finished bool
}

// callRequest is what a Call keeps of its Request after steps 1 and 2.
type callRequest struct {
	token, sessionPolicy, metadataURL string
	method, path, sourceIP            string
}

// Err is why the request is refused by steps 1 and 2; nil when allowed.
func (c *Call) Err() error { return c.err }

// Begin runs steps 1 and 2 for req. When c.Err() is nil, the request is
// allowed: the front door runs its target (step 4) and calls Finish.
func (pl *Pipeline) Begin(ctx context.Context, req Request) *Call {
	c := &Call{pl: pl, start: pl.now(), req: callRequest{
		token: req.Token, sessionPolicy: req.SessionPolicy, metadataURL: req.MetadataURL,
		method: req.Method, path: req.Path, sourceIP: req.SourceIP,
	}}
	c.Event = audit.Event{
		Time: c.start, RequestID: req.ID, Route: req.Route, Action: req.Action,
		Resource: req.Resource.Kind + ":" + req.Resource.Name,
	}
	if req.Resource.Kind == "" && req.Resource.Name == "" {
		c.Event.Resource = ""
	}
	if pl.tracer != nil {
		if root := trace.SpanFromContext(ctx); root.SpanContext().IsValid() {
			c.root = root
			c.Event.TraceID = root.SpanContext().TraceID().String()
			setStrings(root, AttrRequestID, req.ID) // the route is the front door's to name: a template, never a path
		}
	}
	actx, span := c.span(ctx, "authn") // 1 authn
	if c.err = cmp.Or(req.Early, req.TokenErr); c.err != nil {
		endStep(span, c.err)
		return c
	}
	p, err := pl.cfg.Verifier.Verify(actx, req.Token)
	if err == nil {
		c.Principal = p
		pl.describe(&c.Event, p)
		err = accepts(&req, p)
	}
	if err == nil && pl.cfg.Revocations != nil {
		// Every request, in front of every cache that answers for the
		// caller: a revoked caller's cached token, decision, assertion or
		// credentials are never used again.
		err = pl.cfg.Revocations.Check(p)
	}
	if span.IsRecording() && c.Principal != nil {
		setStrings(span, AttrPrincipal, c.Event.Principal, AttrPrincipalKind, c.Event.PrincipalKind)
	}
	endStep(span, err)
	if c.err = err; err != nil {
		return c
	}
	_, span = c.span(ctx, "authz") // 2 authz
	c.Decision = c.Decide(req.Action, req.Resource, req.Role)
	c.Event.Policies, c.Event.Role = c.Decision.Policies, c.Decision.Role
	c.Event.Decision = audit.DecisionAllow
	if !c.Decision.Allow {
		c.Event.Decision = audit.DecisionDeny
		c.err = c.Decision.Err()
	}
	if span.IsRecording() {
		setStrings(span, AttrDecision, c.Event.Decision, AttrRole, c.Decision.Role)
	}
	span.End() // a deny is policy's answer, not the step failing
	return c
}

// Decide asks policy about another action or resource for the same verified
// principal (an authorizer decides every route of its API at once). It
// neither changes nor records the call.
func (c *Call) Decide(action string, res authz.Resource, role string) authz.Decision {
	if c.Principal == nil {
		return authz.Decision{Reason: "no verified principal"}
	}
	return c.pl.cfg.Policy.Decide(c.Principal, authz.Request{
		Action: action, Resource: res, Role: role,
		Method: c.req.method, Path: c.req.path, SourceIP: c.req.sourceIP, Time: c.start,
	})
}

// Credentials runs step 3: the decided role's session, narrowed by the
// request's session policy. It may be called at once or when a handler
// first needs AWS, from several goroutines; the session is obtained once
// and named in the event. After Finish it fails with ErrCallOver.
func (c *Call) Credentials(ctx context.Context) (*creds.Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.finished:
		return nil, ErrCallOver
	case c.session != nil:
		return c.session, nil
	case c.err != nil || !c.Decision.Allow:
		return nil, errors.New("pipeline: credentials for a refused request")
	case c.pl.cfg.Broker == nil:
		c.credErr = fmt.Errorf("%w (%q)", ErrNoCredentials, c.Decision.Role)
		return nil, c.credErr
	}
	sctx, span := c.span(ctx, "creds") // 3 creds
	if span.IsRecording() {
		setStrings(span, AttrRole, c.Decision.Role)
	}
	s, err := c.pl.cfg.Broker.Credentials(sctx, creds.Request{
		Principal: c.Principal, Role: c.Decision.Role, Token: c.req.token, SessionPolicy: c.req.sessionPolicy,
	})
	if errors.Is(err, creds.ErrUnknownRole) {
		err = fmt.Errorf("%w (%q)", ErrNoCredentials, c.Decision.Role)
	}
	endStep(span, err)
	if err != nil {
		c.credErr = err
		return nil, err
	}
	c.session = s
	c.Event.STSSession = s.SessionName
	return s, nil
}

// Session is the session Credentials obtained, or nil.
func (c *Call) Session() *creds.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Invoked names the target in the event: only a target that was run is
// named.
func (c *Call) Invoked(target, targetRequestID string) {
	c.Event.Target, c.Event.TargetRequestID = target, targetRequestID
}

// Finish runs step 5: it records the event with the status the caller
// gets, once (later calls return nil and record nothing), and ends the
// call: Credentials fails from then on and the token is dropped. An error
// means the trail did not take the event: the caller must get
// Unavailable's refusal instead (fail closed).
func (c *Call) Finish(ctx context.Context, status int) error {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return nil
	}
	c.finished = true
	c.req.token = ""
	if c.credErr != nil && c.Event.ErrorClass == "" {
		c.Event.ErrorClass = credentialsClass(c.credErr)
	}
	c.mu.Unlock()
	ev := &c.Event
	ev.Status = status
	if ev.Decision == "" {
		ev.Decision = audit.DecisionError
	}
	ev.LatencyMicros = c.pl.now().Sub(c.start).Microseconds()
	actx, span := c.span(ctx, "audit") // 5 audit
	if span.IsRecording() {
		span.SetAttributes(attribute.String(AttrDecision, ev.Decision), attribute.Int(AttrStatus, status))
	}
	if err := c.pl.cfg.Recorder.Record(context.WithoutCancel(actx), ev); err != nil {
		err = fmt.Errorf("%w: %w", audit.ErrUnavailable, err)
		endStep(span, &Error{Code: "audit_unavailable"})
		c.pl.log.ErrorContext(ctx, "audit record failed; refusing the request", "request_id", ev.RequestID, "route", ev.Route, "err", err)
		return err
	}
	span.End()
	return nil
}

// Finished reports whether Finish was called.
func (c *Call) Finished() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finished
}

// describe fills the event's identity fields from p: pseudonyms, never
// names.
func (pl *Pipeline) describe(ev *audit.Event, p *authn.Principal) {
	ev.Tenant = p.Tenant
	ev.Principal = pl.cfg.Pseudonym(p.Tenant, p.Subject)
	ev.PrincipalKind = string(p.Kind)
	ev.App = p.App
	if len(pl.cfg.Claims) > 0 {
		ev.Claims = audit.SanitizeClaims(p.Claims, pl.cfg.Claims)
	}
	for _, a := range p.Actors {
		ag := audit.Agent{App: a.App, Via: a.Via, Subject: a.App}
		if a.App == "" {
			ag.Subject = pl.cfg.Pseudonym(p.Tenant, a.Subject)
		}
		ev.Agents = append(ev.Agents, ag)
	}
}

// accepts applies the route's own issuer and audience limits to a token the
// verifier accepted.
func accepts(req *Request, p *authn.Principal) error {
	if len(req.Issuers) > 0 && !slices.Contains(req.Issuers, p.IssuerName) {
		return &authn.Error{Kind: authn.InvalidToken, Check: authn.CheckIssuer, Reason: "tokens of this issuer are not accepted on this route"}
	}
	if len(req.Audiences) == 0 {
		return nil
	}
	switch aud := p.Claims["aud"].(type) {
	case string:
		if slices.Contains(req.Audiences, aud) {
			return nil
		}
	case []any:
		for _, a := range aud {
			if s, ok := a.(string); ok && slices.Contains(req.Audiences, s) {
				return nil
			}
		}
	}
	return &authn.Error{Kind: authn.InvalidToken, Check: authn.CheckAudience, Reason: "the token's audience is not accepted on this route"}
}

// Invoker is step 4, the front door's target. It runs only for allowed
// requests; it may call c.Credentials, c.Invoked and, once the caller's
// answer starts (a streamed response), c.Finish. It returns the status the
// caller got, or an error if the target failed before answering (an
// *invoke.Error says its status).
type Invoker func(ctx context.Context, c *Call) (status int, err error)

// Outcome is what Run did with a request.
type Outcome struct {
	Call *Call
	// Status is the status recorded: what the caller gets.
	Status int
	// Refusal, when not nil, is what the caller gets instead of an answer
	// from the target: a step refused the request, the target failed
	// before answering, or the trail did not take the event.
	Refusal *Refusal
}

// Run runs the five steps: authn and authz (Begin), then do (which
// obtains credentials when its target needs them, and runs the target),
// then records the event (unless do already finished the call), and says
// what the caller gets.
func (pl *Pipeline) Run(ctx context.Context, req Request, do Invoker) Outcome {
	c := pl.Begin(ctx, req)
	out := Outcome{Call: c}
	err := c.err
	if err == nil {
		ictx, span := c.span(ctx, "invoke") // 4 invoke: the front door's target
		out.Status, err = do(ictx, c)
		if span.IsRecording() {
			setStrings(span, AttrTarget, c.Event.Target)
			if out.Status != 0 {
				span.SetAttributes(attribute.Int(AttrStatus, out.Status))
			}
		}
		endStep(span, err)
	}
	if err != nil && !c.Finished() {
		out.Refusal = c.Refuse(err)
		out.Status = out.Refusal.Status
	}
	if err != nil && c.Finished() {
		// The answer had started: the target can only have cut it short.
		pl.log.WarnContext(ctx, "target failed after its answer started", "request_id", req.ID, "route", req.Route, "err", err)
	}
	if c.Finished() {
		return out
	}
	if rerr := c.Finish(ctx, out.Status); rerr != nil {
		out.Refusal = c.Refuse(rerr)
		out.Status = out.Refusal.Status
	}
	return out
}

// Unrouted records a request that reached no route, or that the HTTP
// server refused before any step could run (no principal; the status and
// the error class), so the trail has every request. An error means the
// trail did not take it.
func (pl *Pipeline) Unrouted(ctx context.Context, requestID string, status int, class string) error {
	ev := &audit.Event{Time: pl.now(), RequestID: requestID, Decision: audit.DecisionError, Status: status, ErrorClass: class}
	if sc := trace.SpanContextFromContext(ctx); pl.tracer != nil && sc.IsValid() {
		ev.TraceID = sc.TraceID().String()
	}
	if err := pl.cfg.Recorder.Record(context.WithoutCancel(ctx), ev); err != nil {
		pl.log.ErrorContext(ctx, "audit record failed", "request_id", requestID, "status", status, "err", err)
		return fmt.Errorf("%w: %w", audit.ErrUnavailable, err)
	}
	return nil
}

// credentialsClass is the event's error class for a failure to obtain
// credentials that did not refuse the request (lambdaauth obtains them
// when the handler first needs them).
func credentialsClass(err error) string {
	var ce *creds.Error
	if errors.As(err, &ce) && ce.Code != "" {
		return "credentials:" + ce.Code
	}
	return "credentials"
}
