// Command gatehouse-authorizer is an API Gateway Lambda authorizer built
// from gatehouse's pipeline (gatehouse/lambdaauth): it verifies the caller's
// bearer token, decides every route of the API by gatehouse's policy, and
// answers REST API TOKEN and REQUEST authorizers with an IAM policy and HTTP
// API (payload 2.0) authorizers with a simple response.
//
// Its configuration is gatehouse's YAML file (gatehouse/lambdaconfig) at
// GATEHOUSE_CONFIG, relative to the deployment package ("gatehouse.yaml" if
// unset): authn, authz, audit (sink jsonl, key_file) and gateway.routes, the
// API's routes. GATEHOUSE_JWKS_SNAPSHOT may name key snapshot files
// (comma-separated) so that a cold start needs no key fetch. Both variables
// hold paths, never secrets. docs/deploy-lambda.md deploys it.
package main

import (
	"context"
	"log"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/gatehouse-dev/gatehouse/lambdaauth"
	"github.com/gatehouse-dev/gatehouse/lambdaconfig"
)

func main() {
	ctx := context.Background()
	path := os.Getenv("GATEHOUSE_CONFIG")
	if path == "" {
		path = "gatehouse.yaml"
	}
	opts := lambdaconfig.Options{NoCredentials: true}
	if list := os.Getenv("GATEHOUSE_JWKS_SNAPSHOT"); list != "" {
		for p := range strings.SplitSeq(list, ",") {
			b, err := os.ReadFile(strings.TrimSpace(p))
			if err != nil {
				log.Fatalf("gatehouse-authorizer: key snapshot: %v", err)
			}
			opts.Snapshots = append(opts.Snapshots, b)
		}
	}
	cfg, err := lambdaconfig.Load(ctx, path, opts)
	if err != nil {
		log.Fatalf("gatehouse-authorizer: configuration: %v", err)
	}
	guard, err := lambdaauth.New(ctx, cfg)
	if err != nil {
		log.Fatalf("gatehouse-authorizer: %v", err)
	}
	lambda.Start(guard.Authorizer())
}
