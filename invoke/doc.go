// Package invoke is step 4 of the pipeline: it runs the request's target
// with the caller's verified identity as input and writes the target's
// answer back to the caller.
//
// In: the HTTP request, a Call (the verified *authn.Principal, the AWS
// credentials of the role granted for this request, as a value, and the
// route, policy and request ids) and a Target built once from
// configuration. Out: the response written to the http.ResponseWriter and
// an Outcome for the audit trail, or an *Error that says which status the
// caller gets (502, 504, 429, 413, 408, 403, 400) and why, in two fields: a Reason
// safe to show the caller and an Err for the log only.
//
// The Lambda target (NewLambda) turns the request into an API Gateway HTTP
// API event, payload format 2.0, filled the way API Gateway fills it, so
// functions written for API Gateway run unchanged:
//
//   - headers lower-cased, repeated headers and repeated query parameters
//     joined with commas, Cookie headers split into the cookies array;
//   - only the request headers a HeaderPolicy passes: an allow-list of the
//     standard headers of HTTP (content negotiation, conditionals, caching,
//     cookies, CORS, fetch metadata, WebSocket handshakes, tracing) plus the
//     names the route adds (PassHeaders); never Authorization or a header
//     that claims an identity, a client address, host or scheme, or another
//     path or method (the deny-list in headers.go, a second fence that a
//     route cannot pass either). host and requestContext.domainName are
//     Call.Host, from configuration, never the caller's Host;
//     x-forwarded-for, -proto and -port are set from the connection, as API
//     Gateway sets them. The raw token never reaches the function;
//   - when the request is traced (its context carries a span context),
//     gatehouse's own traceparent instead of any trace header the caller
//     sent, and the X-Ray header of the trace on the Invoke call (trace.go;
//     an upstream request likewise gets gatehouse's traceparent);
//   - the verified claims at requestContext.authorizer.jwt.claims, every
//     value a string as API Gateway's JWT authorizer renders it (arrays as
//     "[a b]", objects as "map[k:v]", numbers in decimal), and the scopes at
//     requestContext.authorizer.jwt.scopes (nil for app-only tokens);
//   - gatehouse's own typed, versioned Envelope at
//     requestContext.authorizer.lambda["gatehouse"]: principal, issuer,
//     tenant, kind, app, groups, roles, scopes, agent chain, role, role
//     session, deciding policies and request id, with real arrays, because
//     API Gateway flattens array claims into strings;
//   - bodies that are not text, or not UTF-8, base64 with isBase64Encoded.
//
// It calls Lambda's Invoke through the AWS SDK for Go v2 with the request's
// role credentials, so IAM (or devkit/runtime, its local stand-in) enforces
// least privilege a second time; the SDK does not retry, because a retried
// Invoke may run a function twice. The function's answer is mapped back by
// WriteResponse with the HTTP API rules: a structured response (statusCode,
// headers, multiValueHeaders, cookies, body, isBase64Encoded) or, for any
// other JSON value, the plain-JSON shortcut (200, application/json, the
// value as the body). Hop-by-hop and malformed response headers are
// dropped, header sizes are capped, and headers the gateway already set on
// the ResponseWriter (X-Request-Id) are never replaced by the function's.
//
// The HTTP target (NewHTTP) is a reverse proxy to an upstream service.
// Hop-by-hop headers are removed, then every header its HeaderPolicy does
// not pass (the same allow-list as for the Lambda event); an Upgrade other
// than a WebSocket handshake is dropped, so no other protocol (h2c) can
// open a tunnel past the gateway; then the gateway's headers are added: X-Gatehouse-Assertion, a short-lived
// JWT from gatehouse's issuer whose audience is the upstream (made by the
// Asserter the caller wires, mint.Issuer.Assertion), and plain
// conveniences (X-Gatehouse-Subject, -Tenant, -Kind, -Role, -Roles, -Agent,
// X-Request-Id). Responses stream: server-sent events are flushed as they
// arrive and WebSocket upgrades take over the connection (Streams reports
// true, so the gateway records the event when the status is known rather
// than buffering). Transport: a shared pool with many idle connections per
// host (Go's default of 2 halves throughput under load).
//
// Failures never become a 500 and never show the caller a stack trace: a
// function error is 502 (a timed-out function 504), throttling 429 with
// Retry-After, a body over the limit 413 before anything is invoked, an
// IAM refusal of the granted role 403 (AWS's own access decision), and the
// target's configuration problems (unknown function) 502 with the function
// name in Err for the operator.
//
// Left to others: verifying the token (authn), deciding and choosing the
// role (authz), obtaining the credentials (creds), canonicalising the path
// and matching the route (gateway: RawPath arrives already canonical and is
// passed on as is), writing the error response and the audit event
// (gateway, audit).
package invoke
