package lambdaauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"

	"gatehouse/audit"
	"gatehouse/authn"
	"gatehouse/authz"
	"gatehouse/creds"
)

// request is what the pipeline reads of an event, whatever its type.
type request struct {
	method, path string
	route        string              // the route as the event names it, for the audit trail
	headers      map[string]string   // as the event carries them (any case)
	multi        map[string][]string // multiValueHeaders, nil if the event has none
	query        map[string]string   // decoded query parameters
	multiQuery   map[string][]string
	rawQuery     string
	// escapedQuery says the query parameter names are still percent-encoded
	// (ALB events pass them as received).
	escapedQuery bool
	sourceIP     string
	apiRequestID string
}

// invocation is one event's pass through the pipeline.
type invocation struct {
	start  time.Time
	ev     audit.Event
	caller *Caller
	prov   *roleProvider
	err    error // why the invocation is refused; nil when allowed
}

// begin runs steps 1 and 2 (and prepares 3) for r. When inv.err is nil the
// handler may run with inv.caller in its context.
func (g *Guard) begin(ctx context.Context, r *request) *invocation {
	inv := &invocation{start: g.now()}
	reqID := r.apiRequestID
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		reqID = lc.AwsRequestID
	}
	inv.ev = audit.Event{
		Time: inv.start, RequestID: reqID, Route: r.route, Action: g.action,
		Resource: g.resource.Kind + ":" + g.resource.Name,
	}
	raw, err := g.bearer(r) // 1 authn
	if err != nil {
		inv.err = err
		return inv
	}
	p, err := g.verifier.Verify(ctx, string(raw))
	if err != nil {
		inv.err = err
		return inv
	}
	pseudonym := g.describe(&inv.ev, p)
	d := g.policy.Decide(p, authz.Request{ // 2 authz
		Action: g.action, Resource: g.resource, Role: g.role,
		Method: r.method, Path: r.path, SourceIP: r.sourceIP, Time: inv.start,
	})
	inv.ev.Policies, inv.ev.Role = d.Policies, d.Role
	if !d.Allow {
		inv.ev.Decision = audit.DecisionDeny
		inv.err = d.Err()
		return inv
	}
	inv.ev.Decision = audit.DecisionAllow
	// 3 creds: prepared, obtained when the handler's first AWS call signs.
	inv.prov = &roleProvider{g: g}
	inv.prov.req.Store(&creds.Request{Principal: p, Role: d.Role, Token: string(raw), SessionPolicy: g.sessionPolicy})
	cfg := g.aws.Copy()
	cfg.Credentials = aws.NewCredentialsCache(inv.prov)
	inv.caller = &Caller{Principal: p, Decision: d, Pseudonym: pseudonym, AWS: cfg, RequestID: reqID, prov: inv.prov}
	return inv
}

// end records the invocation's event with the status the caller gets
// (step 5). A non-nil error means the event could not be written: the
// caller must be answered 503 instead.
func (g *Guard) end(ctx context.Context, inv *invocation, status int, handlerErr error) error {
	if inv.prov != nil {
		s, credErr := inv.prov.close()
		if s != nil {
			inv.ev.STSSession = s.SessionName
		} else if credErr != nil && inv.ev.ErrorClass == "" {
			inv.ev.ErrorClass = credentialsClass(credErr)
		}
	}
	if handlerErr != nil {
		// Lambda answers a function error as 502 through API Gateway.
		status = http.StatusBadGateway
		inv.ev.ErrorClass = "function_error"
	}
	inv.ev.Status = status
	if inv.ev.Decision == "" {
		inv.ev.Decision = audit.DecisionError
	}
	inv.ev.LatencyMicros = g.now().Sub(inv.start).Microseconds()
	if err := g.rec.Record(context.WithoutCancel(ctx), &inv.ev); err != nil {
		g.log.Error("lambdaauth: audit record failed; refusing the invocation", "request_id", inv.ev.RequestID, "err", err)
		return err
	}
	return nil
}

func credentialsClass(err error) string {
	var ce *creds.Error
	if errors.As(err, &ce) {
		if ce.Code != "" {
			return "credentials:" + ce.Code
		}
		return "credentials"
	}
	return "credentials"
}

// describe fills the event's identity fields from p and returns p's
// pseudonym.
func (g *Guard) describe(ev *audit.Event, p *authn.Principal) string {
	ev.Tenant = p.Tenant
	ev.Principal = g.pseudo.Principal(p.Tenant, p.Subject)
	ev.PrincipalKind = string(p.Kind)
	ev.App = p.App
	if len(g.claims) > 0 {
		ev.Claims = audit.SanitizeClaims(p.Claims, g.claims)
	}
	for _, a := range p.Actors {
		ag := audit.Agent{App: a.App, Via: a.Via, Subject: a.App}
		if a.App == "" {
			ag.Subject = g.pseudo.Principal(p.Tenant, a.Subject)
		}
		ev.Agents = append(ev.Agents, ag)
	}
	return ev.Principal
}

// bearer takes the one bearer token of r with authn.BearerToken's rules:
// Authorization in any case, exactly once, scheme Bearer, b64token syntax;
// never from the query string.
func (g *Guard) bearer(r *request) (authn.RawToken, error) {
	if r.hasQueryToken() {
		return "", &authn.Error{Kind: authn.InvalidRequest, Check: authn.CheckRequest, Reason: "tokens in the query string are not accepted"}
	}
	values := r.authorization()
	for _, v := range values {
		if len(v) > g.maxHeader {
			return "", &authn.Error{Kind: authn.InvalidToken, Check: authn.CheckSize, Reason: "Authorization header larger than the token limit"}
		}
	}
	return authn.BearerToken(&http.Request{Header: http.Header{"Authorization": values}})
}

// authorization returns every Authorization value r carries. A REST or ALB
// event with multiValueHeaders has them all there (headers then holds the
// last of each); otherwise headers has one value per name, and names that
// differ only in case are several headers.
func (r *request) authorization() []string {
	var out []string
	if r.multi != nil {
		for k, vs := range r.multi {
			if strings.EqualFold(k, "Authorization") {
				out = append(out, vs...)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	for k, v := range r.headers {
		if strings.EqualFold(k, "Authorization") {
			out = append(out, v)
		}
	}
	return out
}

// hasQueryToken reports an access_token query parameter (RFC 6750 §2.3),
// which is refused: URLs end up in logs.
func (r *request) hasQueryToken() bool {
	isToken := func(k string) bool {
		if r.escapedQuery {
			if u, err := url.QueryUnescape(k); err == nil {
				k = u
			}
		}
		return k == "access_token"
	}
	for k := range r.query {
		if isToken(k) {
			return true
		}
	}
	for k := range r.multiQuery {
		if isToken(k) {
			return true
		}
	}
	if r.rawQuery != "" {
		if q, err := url.ParseQuery(r.rawQuery); err == nil && q.Has("access_token") {
			return true
		} else if err != nil && strings.Contains(r.rawQuery, "access_token") {
			return true // unparsable: refuse rather than guess
		}
	}
	return false
}

// answer is a refusal, before it takes the event's response shape.
type answer struct {
	status  int
	headers map[string]string
	body    string
}

// refuse maps err to the caller's answer, as gatehouse's gateway does, and
// fills the event's check and error class.
func (g *Guard) refuse(inv *invocation, err error) answer {
	var (
		ae *authn.Error
		ze *authz.Error
	)
	h := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
	status, code, desc := http.StatusInternalServerError, "server_error", "internal error"
	switch {
	case errors.As(err, &ae):
		inv.ev.Check, inv.ev.ErrorClass = ae.Check, string(ae.Kind)
		switch {
		case errors.Is(err, authn.ErrNoToken):
			// RFC 6750 §3.1: no credentials, no error code.
			h["WWW-Authenticate"] = challenge("", "")
			status, code, desc = http.StatusUnauthorized, "unauthorized", "a bearer token is required"
		case ae.Kind == authn.InvalidRequest:
			h["WWW-Authenticate"] = challenge("invalid_request", ae.Reason)
			status, code, desc = http.StatusBadRequest, "invalid_request", ae.Reason
		case ae.Kind == authn.Unavailable:
			h["Retry-After"] = "30"
			status, code, desc = http.StatusServiceUnavailable, "temporarily_unavailable", ae.Reason
		default:
			h["WWW-Authenticate"] = challenge("invalid_token", ae.Check+": "+ae.Reason)
			status, code, desc = http.StatusUnauthorized, "invalid_token", ae.Check+": "+ae.Reason
		}
	case errors.As(err, &ze):
		inv.ev.ErrorClass = "access_denied"
		h["WWW-Authenticate"] = challenge("insufficient_scope", ze.Public())
		status, code, desc = http.StatusForbidden, "insufficient_scope", ze.Public()
	case errors.Is(err, audit.ErrUnavailable):
		inv.ev.ErrorClass = "audit_unavailable"
		h["Retry-After"] = "5"
		status, code, desc = http.StatusServiceUnavailable, "temporarily_unavailable", "the audit trail is unavailable"
	}
	if status >= 500 {
		g.log.Error("lambdaauth: invocation failed", "request_id", inv.ev.RequestID, "status", status, "err", err)
	} else {
		g.log.Info("lambdaauth: invocation refused", "request_id", inv.ev.RequestID, "status", status, "check", inv.ev.Check, "err", err)
	}
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": desc, "request_id": inv.ev.RequestID})
	return answer{status: status, headers: h, body: string(body)}
}

// unavailable is the answer when the audit trail refused the event.
func (g *Guard) unavailable(inv *invocation, err error) answer {
	inv.ev.ErrorClass = "audit_unavailable"
	return g.refuse(inv, fmt.Errorf("%w: %w", audit.ErrUnavailable, err))
}

// challenge is the RFC 6750 WWW-Authenticate value of a refusal.
func challenge(code, desc string) string { return authn.Challenge(code, desc, "") }
