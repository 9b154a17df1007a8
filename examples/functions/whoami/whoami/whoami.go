// Package whoami is the example function whoami: Main runs it under the Lambda
// Runtime API. The command in the directory above builds it as an
// executable; `gatehouse dev` runs it from its own binary. See the
// command's documentation for what it does.
package whoami

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// Main runs the function: it serves invocations until the Lambda host
// stops it.
func Main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("whoami: loading the AWS configuration: %v", err)
	}
	h := &handler{sts: sts.NewFromConfig(cfg)}
	lambda.Start(h.handle)
}

// callerIdentityAPI is the part of the STS client whoami uses.
type callerIdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, opts ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

type handler struct {
	sts callerIdentityAPI
}

// answer is the response body.
type answer struct {
	Function            string                                                      `json:"function"`
	RequestID           string                                                      `json:"requestId"`
	Authorizer          *events.APIGatewayV2HTTPRequestContextAuthorizerDescription `json:"authorizer"`
	CallerIdentity      *callerIdentity                                             `json:"callerIdentity,omitempty"`
	CallerIdentityError string                                                      `json:"callerIdentityError,omitempty"`
	// Traceparent is the W3C trace context of the event's headers (which
	// gatehouse sets when it traces requests), and XRayTraceID the X-Ray
	// trace header Lambda invoked the function with.
	Traceparent string `json:"traceparent,omitempty"`
	XRayTraceID string `json:"xrayTraceId,omitempty"`
}

type callerIdentity struct {
	Account string `json:"account"`
	ARN     string `json:"arn"`
	UserID  string `json:"userId"`
}

func (h *handler) handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	a := answer{Function: lambdacontext.FunctionName, Authorizer: req.RequestContext.Authorizer, Traceparent: req.Headers["traceparent"]}
	// aws-lambda-go keeps the invocation's trace header under this key.
	a.XRayTraceID, _ = ctx.Value("x-amzn-trace-id").(string)
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		a.RequestID = lc.AwsRequestID
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := h.sts.GetCallerIdentity(cctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		// The caller sees the error code only; the details (endpoints,
		// credential sources) go to the function's log.
		log.Printf("whoami: GetCallerIdentity: %v", err)
		a.CallerIdentityError = "unavailable"
		var ae smithy.APIError
		if errors.As(err, &ae) {
			a.CallerIdentityError = ae.ErrorCode()
		}
	} else {
		a.CallerIdentity = &callerIdentity{
			Account: aws.ToString(out.Account),
			ARN:     aws.ToString(out.Arn),
			UserID:  aws.ToString(out.UserId),
		}
	}
	body, err := json.Marshal(a)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Headers:    map[string]string{"content-type": "application/json"},
		Body:       string(body),
	}, nil
}
