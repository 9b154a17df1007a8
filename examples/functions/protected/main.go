// Command protected is an example Lambda function protected by
// gatehouse/lambdaauth: it checks the caller's bearer token itself, decides
// by policy, and answers with who called (by pseudonym, tenant and the role
// granted) and with what sts:GetCallerIdentity says about the credentials
// it assumed for that role, which it obtains only because it calls AWS.
//
// README: the Guard is built once, at init, from gatehouse's YAML format:
// the file named by GATEHOUSE_CONFIG (relative to the deployment package),
// else the embedded gatehouse.yaml, which trusts the development IdP of
// `gatehouse dev` and holds a published, dev-only pseudonym key. A key
// snapshot (`gatehouse jwks snapshot ISSUER > jwks.json`) named by
// GATEHOUSE_JWKS_SNAPSHOT lets a cold start verify tokens without fetching
// keys. One executable serves API Gateway HTTP API (2.0) and REST API
// proxy events, function URL and ALB events: it tells them apart and hands
// each to its wrapper. Build it for Lambda's provided.al2023 runtime as
// docs/deploy-lambda.md shows.
package main

import "github.com/gatehouse-dev/gatehouse/examples/functions/protected/protected"

func main() { protected.Main() }
