// Package gateway is the identity-aware HTTP entry point: for each request
// it runs the five steps of the pipeline — authn (bearer token → Principal),
// authz (Principal × action × resource → Decision), creds (Decision.Role →
// short-lived AWS credentials narrowed to the target), invoke (the route's
// target) — and records one audit event, whatever the outcome.
//
// In: a Config of routes (method and path pattern → a target, the action
// and resource for policy, optionally the role to use) and the built parts
// of each step. Out: an http.Handler.
//
// Defences applied to every connection (NewServer, Listener): a request
// with both Content-Length and Transfer-Encoding is refused and its
// connection closed; requests net/http refuses by itself (431, 400, 501)
// are recorded; header, body and idle timeouts. Defences applied to every
// request: the raw path must be canonical (dot
// segments, duplicate slashes, encoded slashes, backslashes, dots or
// percent signs, NUL and ';' get 400, so the path that matched a route is
// the path the target sees); exactly one bearer token from Authorization
// (never the query string); every response carries X-Request-Id; errors
// follow RFC 6750 (401 with WWW-Authenticate naming the error and pointing
// at the RFC 9728 protected-resource metadata, 403 for policy denials) and
// never echo token contents or internal details; the audit event is
// committed before the response leaves (a failing audit trail answers 503
// when the recorder fails closed).
//
// Metrics and health for operators are served by AdminHandler, meant for a
// listener of its own (loopback by default), never the public one.
//
// Left to others: parsing configuration (cli builds the Config), the
// verification, policy, credential and invocation logic themselves.
package gateway
