package invoke

import (
	"context"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// Target is one step-4 destination. The gateway calls Invoke with the
// verified identity and the credentials of the role granted for this
// request.
//
// On success Invoke has written the whole response to w and returns its
// Outcome. On failure it has written nothing and returns an error, usually
// an *Error saying which status the caller gets; the Outcome is still
// returned (non-nil) whenever the target was reached, so the audit event
// can name the target's request id and function error.
type Target interface {
	Invoke(ctx context.Context, w http.ResponseWriter, r *http.Request, call Call) (*Outcome, error)
}

// Call is what the earlier steps decided about one request.
type Call struct {
	// Principal is the verified identity; required.
	Principal *authn.Principal
	// Credentials are the short-lived credentials of the role granted for
	// this request (from creds), used to sign the call to the target.
	Credentials aws.Credentials
	// Role is the logical role granted.
	Role string
	// RoleSession names the STS session: the assumed-role ARN or the
	// session name. Passed to the function and the audit trail; when it is
	// an ARN, its account becomes requestContext.accountId unless
	// Credentials.AccountID says it.
	RoleSession string
	// Policies are the ids of the policies that decided.
	Policies []string
	// RequestID is gatehouse's request id (X-Request-Id).
	RequestID string
	// RouteKey is the route as API Gateway names it, "GET /reports/{id}";
	// "" means "$default".
	RouteKey string
	// Stage is the API Gateway stage name; "" means "$default".
	Stage string
	// PathParameters are the route's path parameters; nil or empty means
	// none.
	PathParameters map[string]string
	// RawPath is the canonical path the gateway matched the route with; it
	// is passed on exactly as given (never re-normalised here). Required.
	RawPath string
	// Host is the host (and port, if not the scheme's default) the request
	// was addressed to, as configuration names it: the route's host, else
	// the gateway's public name. Never the caller's Host header, which
	// anyone can set: it becomes X-Forwarded-Host and the event's host
	// header and domainName. "" leaves them out.
	Host string
	// Scheme is the scheme callers use ("https"), from configuration; ""
	// means the connection's.
	Scheme string
}

// Outcome describes a completed (or attempted) call to a target, for the
// audit trail.
type Outcome struct {
	// Status is the HTTP status written to the caller, or on failure the
	// status the returned *Error asks for.
	Status int
	// TargetRequestID is the target's own request id (Lambda's
	// x-amzn-RequestId); "" if the target was not reached.
	TargetRequestID string
	// FunctionError is Lambda's X-Amz-Function-Error ("Unhandled"), or ""
	// when the function succeeded.
	FunctionError string
	// Bytes is the number of response body bytes written to the caller.
	Bytes int64
}
