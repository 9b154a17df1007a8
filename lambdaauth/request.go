package lambdaauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/pipeline"
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

// pipelineRequest is what the pipeline is asked for r: the token, and the
// Guard's action and resource (a wrapped handler's), by the Lambda request
// id.
func (g *Guard) pipelineRequest(ctx context.Context, r *request) pipeline.Request {
	req := pipeline.Request{
		ID: lambdaRequestID(ctx, r.apiRequestID), Route: r.route,
		Action: g.action, Resource: g.resource, Role: g.role, SessionPolicy: g.sessionPolicy,
		Method: r.method, Path: r.path, SourceIP: r.sourceIP,
	}
	raw, err := g.bearer(r)
	req.Token, req.TokenErr = string(raw), err
	return req
}

// lambdaRequestID is the invocation's Lambda request id, else fallback (the
// API's request id).
func lambdaRequestID(ctx context.Context, fallback string) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return fallback
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
