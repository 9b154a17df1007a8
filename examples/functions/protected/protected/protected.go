// Package protected is the example function protected: Main runs it under the Lambda
// Runtime API. The command in the directory above builds it as an
// executable; `gatehouse dev` runs it from its own binary. See the
// command's documentation for what it does.
package protected

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"log"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/gatehouse-dev/gatehouse/lambdaauth"
	"github.com/gatehouse-dev/gatehouse/lambdaconfig"
)

//go:embed gatehouse.yaml
var embeddedConfig []byte

//go:embed dev-only-pseudonym.key
var devOnlyPseudonymKey []byte

// Main runs the function: it serves invocations until the Lambda host
// stops it.
func Main() {
	ctx := context.Background()
	cfg, err := loadConfig(ctx)
	if err != nil {
		log.Fatalf("protected: configuration: %v", err)
	}
	guard, err := lambdaauth.New(ctx, cfg)
	if err != nil {
		log.Fatalf("protected: %v", err)
	}
	lambda.Start(newDispatcher(guard, answer))
}

// loadConfig reads GATEHOUSE_CONFIG, else the embedded configuration, and
// the snapshot GATEHOUSE_JWKS_SNAPSHOT names, if any. Both variables hold
// paths, never secrets.
func loadConfig(ctx context.Context) (lambdaauth.Config, error) {
	var opts lambdaconfig.Options
	if p := os.Getenv("GATEHOUSE_JWKS_SNAPSHOT"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return lambdaauth.Config{}, err
		}
		opts.Snapshots = [][]byte{b}
	}
	if p := os.Getenv("GATEHOUSE_CONFIG"); p != "" {
		return lambdaconfig.Load(ctx, p, opts)
	}
	opts.PseudonymKey = lambdaauth.SecretBytes(devOnlyPseudonymKey)
	return lambdaconfig.Parse(ctx, "gatehouse.yaml (embedded)", embeddedConfig, opts)
}

// reply is the answer's body.
type reply struct {
	Caller              caller          `json:"caller"`
	CallerIdentity      *callerIdentity `json:"callerIdentity,omitempty"`
	CallerIdentityError string          `json:"callerIdentityError,omitempty"`
	// SourceIdentity and Session are what STS reported when the role was
	// assumed for this caller.
	SourceIdentity string `json:"sourceIdentity,omitempty"`
	Session        string `json:"session,omitempty"`
	RequestID      string `json:"requestId"`
}

type caller struct {
	Principal string   `json:"principal"` // the keyed pseudonym, as the audit trail names it
	Tenant    string   `json:"tenant,omitempty"`
	Kind      string   `json:"kind"`
	Role      string   `json:"role"`
	Policies  []string `json:"policies"`
	Agent     string   `json:"agent,omitempty"`
}

type callerIdentity struct {
	Account string `json:"account"`
	ARN     string `json:"arn"`
}

// answer is the function's own work, whatever the event type: say who
// called and who AWS thinks we are for them.
func answer(ctx context.Context) (int, string) {
	c, ok := lambdaauth.FromContext(ctx)
	if !ok {
		return 500, `{"error":"not behind lambdaauth"}`
	}
	r := reply{
		Caller: caller{
			Principal: c.Pseudonym, Tenant: c.Principal.Tenant, Kind: string(c.Principal.Kind),
			Role: c.Decision.Role, Policies: c.Decision.Policies, Agent: c.Principal.Agent(),
		},
		RequestID: c.RequestID,
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := sts.NewFromConfig(c.AWS).GetCallerIdentity(cctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		// The caller sees an error code only; the details go to the log.
		log.Printf("protected: GetCallerIdentity: %v", err)
		r.CallerIdentityError = "unavailable"
		var ae smithy.APIError
		if errors.As(err, &ae) {
			r.CallerIdentityError = ae.ErrorCode()
		}
	} else {
		r.CallerIdentity = &callerIdentity{Account: aws.ToString(out.Account), ARN: aws.ToString(out.Arn)}
	}
	if s := c.Session(); s != nil {
		r.SourceIdentity, r.Session = s.SourceIdentity, s.SessionName
	}
	body, _ := json.Marshal(r)
	return 200, string(body)
}

// dispatcher hands each event type to its wrapper. A function behind one
// trigger needs only that one: lambda.Start(guard.WrapHTTPAPI(h)).
type dispatcher struct {
	httpAPI     lambdaauth.HTTPAPIHandler
	rest        lambdaauth.RESTHandler
	functionURL lambdaauth.FunctionURLHandler
	alb         lambdaauth.ALBHandler
}

func newDispatcher(g *lambdaauth.Guard, work func(context.Context) (int, string)) func(context.Context, json.RawMessage) (any, error) {
	hdr := map[string]string{"content-type": "application/json"}
	d := &dispatcher{
		httpAPI: g.WrapHTTPAPI(func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			status, body := work(ctx)
			return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: hdr, Body: body}, nil
		}),
		rest: g.WrapREST(func(ctx context.Context, _ events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			status, body := work(ctx)
			return events.APIGatewayProxyResponse{StatusCode: status, Headers: hdr, Body: body}, nil
		}),
		functionURL: g.WrapFunctionURL(func(ctx context.Context, _ events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
			status, body := work(ctx)
			return events.LambdaFunctionURLResponse{StatusCode: status, Headers: hdr, Body: body}, nil
		}),
		alb: g.WrapALB(func(ctx context.Context, ev events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error) {
			status, body := work(ctx)
			r := events.ALBTargetGroupResponse{StatusCode: status, StatusDescription: "200 OK", Body: body}
			if ev.MultiValueHeaders != nil {
				r.MultiValueHeaders = map[string][]string{"content-type": {"application/json"}}
			} else {
				r.Headers = hdr
			}
			return r, nil
		}),
	}
	return d.handle
}

// handle tells the event types apart: an ALB event has requestContext.elb,
// a REST (or HTTP API 1.0) event httpMethod, a function URL event a
// lambda-url domain; the rest of version 2.0 is an HTTP API event.
func (d *dispatcher) handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Version        string `json:"version"`
		HTTPMethod     string `json:"httpMethod"`
		RequestContext struct {
			ELB        json.RawMessage `json:"elb"`
			DomainName string          `json:"domainName"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, err
	}
	switch {
	case probe.RequestContext.ELB != nil:
		var ev events.ALBTargetGroupRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return d.alb(ctx, ev)
	case probe.HTTPMethod != "":
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return d.rest(ctx, ev)
	case strings.Contains(probe.RequestContext.DomainName, ".lambda-url."):
		var ev events.LambdaFunctionURLRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return d.functionURL(ctx, ev)
	default:
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return d.httpAPI(ctx, ev)
	}
}
