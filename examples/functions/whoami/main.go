// Command whoami is an example Lambda function: it answers an API Gateway
// HTTP API event (payload format 2.0) with the identity it received and the
// identity of its own execution role.
//
// README: the answer's "authorizer" is the event's
// requestContext.authorizer, as gatehouse (or API Gateway) filled it: the
// verified token claims and scopes under "jwt", gatehouse's identity
// envelope under "lambda". Its "callerIdentity" is what
// sts:GetCallerIdentity says about the function's execution-role
// credentials, called with the AWS SDK's default configuration:
// AWS_ENDPOINT_URL_STS points it at a local STS and AWS_CA_BUNDLE names a
// CA to trust. Without credentials, "callerIdentityError" says why.
// "traceparent" and "xrayTraceId" are the trace context it was invoked in,
// when the caller traces its requests (gatehouse does when
// telemetry.tracing is on). Run it
// under `gatehouse dev`, or build it for Lambda's provided.al2023 runtime
// (GOOS=linux, the executable named bootstrap).
package main

import "github.com/gatehouse-dev/gatehouse/examples/functions/whoami/whoami"

func main() { whoami.Main() }
