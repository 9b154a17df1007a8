package whoami

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

type fakeSTS struct {
	out *sts.GetCallerIdentityOutput
	err error
}

func (f fakeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return f.out, f.err
}

func TestHandle(t *testing.T) {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	req := events.APIGatewayV2HTTPRequest{RequestContext: events.APIGatewayV2HTTPRequestContext{
		Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT:    &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": "ada"}},
			Lambda: map[string]any{"principal": "ada"},
		},
	}}
	tests := []struct {
		name    string
		sts     fakeSTS
		wantARN string
		wantErr string
	}{
		{"execution role", fakeSTS{out: &sts.GetCallerIdentityOutput{Account: aws.String("123456789012"), Arn: aws.String("arn:aws:sts::123456789012:assumed-role/r/whoami"), UserId: aws.String("AROA:whoami")}},
			"arn:aws:sts::123456789012:assumed-role/r/whoami", ""},
		{"STS refuses: the code only", fakeSTS{err: &smithy.GenericAPIError{Code: "ExpiredToken", Message: "details"}}, "", "ExpiredToken"},
		{"no credentials: no details", fakeSTS{err: errors.New("failed to retrieve credentials from https://internal")}, "", "unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := (&handler{sts: tc.sts}).handle(ctx, req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("handle = %d, %v", resp.StatusCode, err)
			}
			var got struct {
				RequestID  string `json:"requestId"`
				Authorizer struct {
					JWT    struct{ Claims map[string]string } `json:"jwt"`
					Lambda map[string]any                     `json:"lambda"`
				} `json:"authorizer"`
				Caller *struct {
					ARN string `json:"arn"`
				} `json:"callerIdentity"`
				CallerErr string `json:"callerIdentityError"`
			}
			if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
				t.Fatal(err)
			}
			if got.RequestID != "req-1" || got.Authorizer.JWT.Claims["sub"] != "ada" || got.Authorizer.Lambda["principal"] != "ada" {
				t.Errorf("identity = %s", resp.Body)
			}
			arn := ""
			if got.Caller != nil {
				arn = got.Caller.ARN
			}
			if arn != tc.wantARN {
				t.Errorf("callerIdentity.arn = %q, want %q", arn, tc.wantARN)
			}
			if got.CallerErr != tc.wantErr {
				t.Errorf("callerIdentityError = %q, want %q", got.CallerErr, tc.wantErr)
			}
		})
	}
}
