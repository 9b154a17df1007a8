// Package lambdaauth runs gatehouse's pipeline inside an AWS Lambda function:
// handler middleware for aws-lambda-go, and an API Gateway Lambda authorizer,
// both built from one Guard.
//
// In: a Config (the verifier's issuers, the policy, the roles and how their
// credentials are obtained, the audit parts; gatehouse/lambdaconfig builds
// one from gatehouse's YAML file), turned into a Guard once per execution
// environment, at init, so that keys, compiled policy, cached verifications
// and cached role sessions serve every invocation of that environment. Per
// invocation: an API Gateway HTTP API (payload 2.0), REST API (or HTTP API
// payload 1.0) proxy, Lambda function URL or Application Load Balancer
// event, or an authorizer event.
//
// The wrappers (WrapHTTPAPI, WrapREST, WrapFunctionURL, WrapALB) take the one
// bearer token of the event's Authorization header (any case; several
// Authorization headers, a token in the query string or a non-Bearer scheme
// are refused), verify it (authn), decide Config.Action on Config.Resource
// (authz; by default "invoke" on the function itself, named by
// AWS_LAMBDA_FUNCTION_NAME), and call the handler with a context from which
// FromContext reads the Caller: the Principal, the Decision, the keyed
// pseudonym and an aws.Config whose credentials are those of the decided
// role, obtained from STS (creds.Broker: web_identity with the caller's
// token, assume_role from the function's own execution role with the
// pseudonym as source identity and session tags, or broker mode with an
// Issuer the caller provides) only when an AWS SDK client first signs a
// request with them, then cached per (principal, role) for the environment.
// The handler gets the event without its Authorization header: the raw
// token goes to STS (web_identity mode) and nowhere else.
//
// A request that fails is answered in the event's own response shape
// without calling the handler, as gatehouse's gateway answers it: no token
// 401 with a bare RFC 6750 challenge; a token that fails a check 401 with
// WWW-Authenticate: Bearer error="invalid_token" and a description naming
// the check; a malformed Authorization header 400 invalid_request; a policy
// denial 403 insufficient_scope; issuer keys unavailable past their maximum
// age 503. Nothing an event carries can make a wrapper panic or skip a
// check: a missing request context or header map is a request without a
// token.
//
// Authorizer answers API Gateway's Lambda authorizer events: REST API TOKEN
// and REQUEST authorizers and HTTP API payload 1.0 get an IAM policy, HTTP
// API payload 2.0 a simple response (enableSimpleResponses). The policy
// allows execute-api:Invoke exactly on the configured routes (Config.Routes)
// the caller is allowed, path parameters as "*", and denies the ones it is
// not, so that API Gateway's cache of a policy (per token, for every
// method) never allows more than a fresh decision would; the whole stage is
// allowed only when every route is. A missing or bad token fails a REST
// authorizer with the error "Unauthorized" (API Gateway's 401); an HTTP API
// authorizer answers it with a denial (403). Its context map carries only
// strings: the pseudonymous principal, tenant, kind, app roles, the granted
// role and the agent.
//
// Every invocation writes one audit.Event through an audit.Recorder (by
// default JSON lines on standard output, CloudWatch Logs in Lambda) before
// its answer leaves, with the Lambda request id as request id and target
// request id, the principal as a keyed pseudonym (audit.Pseudonymizer) and
// only allow-listed, non-personal claims. If the event cannot be written the
// invocation is answered 503 (fail closed), even after the handler ran.
//
// With Config.Tracer (an OpenTelemetry TracerProvider), every invocation is
// a trace: a span named by its route template, the pipeline's steps under
// it, the handler in the invoke step's context, flushed before the
// invocation returns; the caller's traceparent is continued only with
// Config.TrustIncoming. The package uses the OpenTelemetry API only.
//
// Secrets (the pseudonym key, an optional checkpoint signing key) come from a
// Secret: a file (SecretFile: in the deployment package or a mounted
// volume) or any func(ctx) ([]byte, error), such as one reading AWS Secrets
// Manager; never from an environment variable.
//
// Left to others: reading gatehouse's YAML file (gatehouse/lambdaconfig),
// fetching a key snapshot at build time (authn.FetchSnapshot, `gatehouse
// jwks snapshot`), the IAM roles, trust policies and API Gateway
// configuration (docs/deploy-lambda.md), and what the handler does with the
// credentials: clients built from Caller.AWS belong to that invocation.
package lambdaauth
