package lambdaauth_test

import (
	"context"
	_ "embed"
	"log"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gatehouse-dev/gatehouse/lambdaauth"
	"github.com/gatehouse-dev/gatehouse/lambdaconfig"
)

// A function behind an API Gateway HTTP API: the Guard is built once, at
// init, from gatehouse's YAML file in the deployment package (with a key
// snapshot embedded at build time); each invocation's handler reads its
// caller and uses the decided role's credentials, assumed on first use.
func ExampleGuard_WrapHTTPAPI() {
	ctx := context.Background()
	cfg, err := lambdaconfig.Load(ctx, "gatehouse.yaml", lambdaconfig.Options{Snapshots: [][]byte{jwksSnapshot}})
	if err != nil {
		log.Fatal(err)
	}
	guard, err := lambdaauth.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(guard.WrapHTTPAPI(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		caller, _ := lambdaauth.FromContext(ctx)
		id, err := sts.NewFromConfig(caller.AWS).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return events.APIGatewayV2HTTPResponse{StatusCode: 502}, nil
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: caller.Pseudonym + " as " + *id.Arn}, nil
	}))
}

// jwksSnapshot would be embedded with //go:embed jwks.json, the output of
// `gatehouse jwks snapshot ISSUER`.
var jwksSnapshot []byte

// An API Gateway Lambda authorizer, as cmd/gatehouse-authorizer runs it.
func ExampleGuard_Authorizer() {
	ctx := context.Background()
	cfg, err := lambdaconfig.Load(ctx, "gatehouse.yaml", lambdaconfig.Options{NoCredentials: true})
	if err != nil {
		log.Fatal(err)
	}
	guard, err := lambdaauth.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(guard.Authorizer())
}
