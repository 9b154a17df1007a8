package runtime

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/gatehouse-dev/gatehouse/devkit/sts"
)

// echoEvent is an API Gateway HTTP API event carrying body.
func echoEvent(t testing.TB, body string, b64 bool) []byte {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "POST /echo", RawPath: "/echo", Body: body, IsBase64Encoded: b64}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantAPIError checks an SDK error's code and HTTP status.
func wantAPIError(t testing.TB, err error, code string, status int) smithy.APIError {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code %s (%v), want %s", ae.ErrorCode(), err, code)
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != status {
		t.Errorf("status %d, want %d", re.HTTPStatusCode(), status)
	}
	return ae
}

// TestInvokeAPIWithSDK drives the Invoke API with the AWS SDK's Lambda
// client signing with a devkit/sts session of a role that may invoke
// anything.
func TestInvokeAPIWithSDK(t *testing.T) {
	t.Parallel()
	a := newAWSFixture(t)
	lf := newLambdaFixture(t, a, Config{Functions: []Function{
		{Name: "echo", Executable: bin.echo},
		{Name: "testfn", Executable: bin.testfn},
	}})
	c := lf.client(static(a.mustAssume(t, "invoker", "ada", "")))
	ctx := testContext(t)

	echoAnswer := func(t *testing.T, out *lambda.InvokeOutput) (int, string) {
		t.Helper()
		if out.StatusCode != 200 || out.FunctionError != nil || aws.ToString(out.ExecutedVersion) != "$LATEST" {
			t.Fatalf("Invoke = status %d, function error %v, version %v", out.StatusCode, aws.ToString(out.FunctionError), aws.ToString(out.ExecutedVersion))
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out.Payload, &resp); err != nil {
			t.Fatalf("payload %s: %v", out.Payload, err)
		}
		return resp.StatusCode, resp.Body
	}

	t.Run("sync by name, ARN and partial ARN", func(t *testing.T) {
		for _, name := range []string{"echo", "echo:$LATEST", "123456789012:function:echo", "arn:aws:lambda:us-east-1:123456789012:function:echo"} {
			out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: echoEvent(t, `{"message":"héllo"}`, false)})
			if err != nil {
				t.Fatalf("Invoke(%s): %v", name, err)
			}
			if status, body := echoAnswer(t, out); status != 200 || body != `{"message":"HÉLLO","length":5}` {
				t.Errorf("Invoke(%s) = %d %s, want 200 HÉLLO of length 5", name, status, body)
			}
		}
	})
	t.Run("base64 body and qualifier", func(t *testing.T) {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Qualifier: aws.String("$LATEST"),
			Payload: echoEvent(t, base64.StdEncoding.EncodeToString([]byte(`{"message":"bin"}`)), true)})
		if err != nil {
			t.Fatal(err)
		}
		if status, body := echoAnswer(t, out); status != 200 || body != `{"message":"BIN","length":3}` {
			t.Errorf("Invoke = %d %s", status, body)
		}
	})
	t.Run("bad body is the function's 400", func(t *testing.T) {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: echoEvent(t, `{"msg":1}`, false)})
		if err != nil {
			t.Fatal(err)
		}
		if status, body := echoAnswer(t, out); status != 400 || !strings.Contains(body, "error") {
			t.Errorf("Invoke = %d %s, want 400 with an error", status, body)
		}
	})
	t.Run("function error", func(t *testing.T) {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("testfn"), Payload: []byte(`{"action":"error"}`)})
		if err != nil {
			t.Fatal(err)
		}
		var e fnErrorBody
		_ = json.Unmarshal(out.Payload, &e)
		if out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" || e.ErrorType != "errorString" || e.ErrorMessage != "boom" {
			t.Errorf("Invoke = %d %q %s, want 200 Unhandled errorString boom", out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
		}
	})
	t.Run("log tail", func(t *testing.T) {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("testfn"), LogType: types.LogTypeTail,
			Payload: []byte(`{"action":"log","lines":3,"text":"tail-me"}`)})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
		if err != nil {
			t.Fatalf("LogResult %q: %v", aws.ToString(out.LogResult), err)
		}
		id, _ := middleware.GetRequestIDMetadata(out.ResultMetadata)
		for _, want := range []string{"START RequestId: " + id + " Version: $LATEST", "testfn: line 0 tail-me", "testfn: line 2 tail-me", "END RequestId: " + id, "REPORT RequestId: " + id} {
			if !strings.Contains(string(raw), want) {
				t.Errorf("log tail lacks %q:\n%s", want, raw)
			}
		}
		if len(raw) > tailBytes {
			t.Errorf("log tail is %d bytes, want at most %d", len(raw), tailBytes)
		}
	})
	t.Run("client context", func(t *testing.T) {
		cc := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"tenant":"a"}}`))
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("testfn"), ClientContext: aws.String(cc), Payload: []byte(`{"action":"context"}`)})
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			ClientContext map[string]string `json:"clientContext"`
			RequestID     string            `json:"requestId"`
		}
		_ = json.Unmarshal(out.Payload, &got)
		id, _ := middleware.GetRequestIDMetadata(out.ResultMetadata)
		if got.ClientContext["tenant"] != "a" || got.RequestID != id {
			t.Errorf("function saw %s; want tenant a and request id %s", out.Payload, id)
		}
	})
	t.Run("event runs in the background", func(t *testing.T) {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeEvent,
			Payload: echoEvent(t, `{"message":"later"}`, false)})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := middleware.GetRequestIDMetadata(out.ResultMetadata)
		if out.StatusCode != 202 || len(out.Payload) != 0 || id == "" {
			t.Fatalf("Invoke(Event) = %d %q id %q, want 202, empty, a request id", out.StatusCode, out.Payload, id)
		}
		lf.logs.wait(t, "of the event's effect", output(id, "echo: 5 characters"))
	})
	t.Run("dry run starts nothing", func(t *testing.T) {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:123456789012:function:testfn"),
			InvocationType: types.InvocationTypeDryRun, Payload: []byte(`{"action":"crash"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if out.StatusCode != 204 {
			t.Errorf("Invoke(DryRun) = %d, want 204", out.StatusCode)
		}
	})

	refusals := []struct {
		name   string
		in     *lambda.InvokeInput
		code   string
		status int
		typed  any
	}{
		{name: "unknown function", in: &lambda.InvokeInput{FunctionName: aws.String("nope")},
			code: "ResourceNotFoundException", status: 404, typed: new(*types.ResourceNotFoundException)},
		{name: "another region", in: &lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:eu-west-1:123456789012:function:echo")},
			code: "ResourceNotFoundException", status: 404},
		{name: "another account", in: &lambda.InvokeInput{FunctionName: aws.String("210987654321:function:echo")},
			code: "ResourceNotFoundException", status: 404},
		{name: "a version that does not exist", in: &lambda.InvokeInput{FunctionName: aws.String("echo:7")},
			code: "ResourceNotFoundException", status: 404},
		{name: "qualifiers disagree", in: &lambda.InvokeInput{FunctionName: aws.String("echo:$LATEST"), Qualifier: aws.String("prod")},
			code: "InvalidParameterValueException", status: 400, typed: new(*types.InvalidParameterValueException)},
		{name: "malformed name", in: &lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:123456789012:layer:x")},
			code: "InvalidParameterValueException", status: 400},
		{name: "payload not JSON", in: &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"a":`)},
			code: "InvalidRequestContentException", status: 400, typed: new(*types.InvalidRequestContentException)},
		{name: "payload over 6 MB", in: &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: bytes.Repeat([]byte(" "), MaxSyncPayload+1)},
			code: "RequestTooLargeException", status: 413, typed: new(*types.RequestTooLargeException)},
		{name: "event over 256 KB", in: &lambda.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeEvent, Payload: bytes.Repeat([]byte(" "), MaxAsyncPayload+1)},
			code: "RequestTooLargeException", status: 413},
		{name: "unknown invocation type", in: &lambda.InvokeInput{FunctionName: aws.String("echo"), InvocationType: "Sometimes"},
			code: "InvalidParameterValueException", status: 400},
		{name: "client context not base64", in: &lambda.InvokeInput{FunctionName: aws.String("echo"), ClientContext: aws.String("{not base64}")},
			code: "InvalidParameterValueException", status: 400},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Invoke(ctx, tc.in)
			wantAPIError(t, err, tc.code, tc.status)
			if tc.typed != nil {
				switch target := tc.typed.(type) {
				case **types.ResourceNotFoundException:
					if !errors.As(err, target) {
						t.Errorf("%T is not %T", err, *target)
					}
				case **types.InvalidParameterValueException:
					if !errors.As(err, target) {
						t.Errorf("%T is not %T", err, *target)
					}
				case **types.InvalidRequestContentException:
					if !errors.As(err, target) {
						t.Errorf("%T is not %T", err, *target)
					}
				case **types.RequestTooLargeException:
					if !errors.As(err, target) {
						t.Errorf("%T is not %T", err, *target)
					}
				}
			}
		})
	}
}

// TestInvokeAPIAuthentication: requests that are not signed with a live
// session of the STS are refused with Lambda's codes.
func TestInvokeAPIAuthentication(t *testing.T) {
	t.Parallel()
	a := newAWSFixture(t)
	lf := newLambdaFixture(t, a, Config{Functions: []Function{{Name: "echo", Executable: bin.echo}}})
	good := a.mustAssume(t, "invoker", "ada", "")
	ctx := testContext(t)
	in := &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: echoEvent(t, `{"message":"x"}`, false)}

	tests := []struct {
		name   string
		creds  aws.CredentialsProvider
		code   string
		status int
	}{
		{"unsigned", aws.AnonymousCredentials{}, "UnrecognizedClientException", 403},
		{"wrong secret", static(aws.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: "wrong", SessionToken: good.SessionToken}), "InvalidSignatureException", 403},
		{"unknown access key", static(aws.Credentials{AccessKeyID: "ASIAAAAAAAAAAAAAAAAA", SecretAccessKey: good.SecretAccessKey, SessionToken: good.SessionToken}), "UnrecognizedClientException", 403},
		{"no session token", static(aws.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: good.SecretAccessKey}), "UnrecognizedClientException", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lf.client(tc.creds).Invoke(ctx, in)
			wantAPIError(t, err, tc.code, tc.status)
		})
	}
	if got := lf.logs.find(output("", "echo:")); len(got) != 0 {
		t.Errorf("a refused request reached the function: %v", got)
	}

	for name, edit := range map[string]func(*http.Request){
		"signed header changed after signing": func(r *http.Request) { r.Header.Set("X-Amz-Invocation-Type", "Event") },
		"X-Amz header added after signing":    func(r *http.Request) { r.Header.Set("X-Amz-Log-Type", "Tail") },
		"body changed after signing": func(r *http.Request) {
			b := echoEvent(t, `{"message":"y"}`, false)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := lambda.New(lambda.Options{Region: testRegion, BaseEndpoint: aws.String(lf.ts.URL), Credentials: static(good), RetryMaxAttempts: 1,
				HTTPClient: &http.Client{Transport: tamper{rt: http.DefaultTransport, f: edit}}})
			_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeDryRun,
				Payload: echoEvent(t, `{"message":"x"}`, false)})
			wantAPIError(t, err, "InvalidSignatureException", 403)
		})
	}
	t.Run("other operations", func(t *testing.T) {
		_, err := lf.client(static(good)).ListFunctions(ctx, &lambda.ListFunctionsInput{})
		wantAPIError(t, err, "UnknownOperationException", 404)
		resp, err := http.Get(lf.ts.URL + "/2015-03-31/functions/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "UnrecognizedClientException" {
			t.Errorf("unsigned GET = %d %s, want 403 UnrecognizedClientException", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
		}
	})
	t.Run("no STS refuses everything", func(t *testing.T) {
		closed := newLambdaFixture(t, nil, Config{Functions: []Function{{Name: "echo", Executable: bin.echo}}})
		_, err := closed.client(static(good)).Invoke(ctx, in)
		wantAPIError(t, err, "UnrecognizedClientException", 403)
	})
}

// tamper changes a request after the SDK signed it.
type tamper struct {
	rt http.RoundTripper
	f  func(*http.Request)
}

func (t tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	t.f(r)
	return t.rt.RoundTrip(r)
}

// TestInvokeAPIPermissions: the session's role must list the function, and
// its session policy, if any, must allow it; refusals are Lambda's
// AccessDeniedException, before any existence check.
func TestInvokeAPIPermissions(t *testing.T) {
	t.Parallel()
	a := newAWSFixture(t)
	lf := newLambdaFixture(t, a, Config{Functions: []Function{
		{Name: "echo", Executable: bin.echo},
		{Name: "reports-daily", Executable: bin.echo},
	}})
	ctx := testContext(t)
	const fnARN = "arn:aws:lambda:us-east-1:123456789012:function:"
	policy := func(effect, resource string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:*","Resource":"*"},` +
			`{"Effect":"` + effect + `","Action":"lambda:InvokeFunction","Resource":"` + resource + `"}]}`
	}
	only := func(resource string) string {
		return `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["lambda:InvokeFunction"],"Resource":"` + resource + `"}}`
	}
	tests := []struct {
		name     string
		role     string
		policy   string
		function string
		wantDeny string // the end of the AccessDeniedException message, "" for allowed
		wantCode string // for allowed calls: "" (success) or the error code
	}{
		{name: "role may invoke everything", role: "invoker", function: "echo"},
		{name: "role pattern matches", role: "reports-reader", function: "reports-daily"},
		{name: "role pattern matches a function that does not exist", role: "reports-reader", function: "reports-weekly", wantCode: "ResourceNotFoundException"},
		{name: "role pattern does not match", role: "reports-reader", function: "echo",
			wantDeny: "because no identity-based policy allows the lambda:InvokeFunction action"},
		{name: "no enumeration of functions the role may not invoke", role: "reports-reader", function: "payroll",
			wantDeny: "because no identity-based policy allows the lambda:InvokeFunction action"},
		{name: "session policy for another function", role: "invoker", policy: only(fnARN + "reports-daily"), function: "echo",
			wantDeny: "because no session policy allows the lambda:InvokeFunction action"},
		{name: "session policy with a wildcard", role: "invoker", policy: only(fnARN + "ec?o*"), function: "echo"},
		{name: "session policy on the unqualified ARN does not cover a qualified call", role: "invoker", policy: only(fnARN + "echo"), function: "echo:$LATEST",
			wantDeny: "because no session policy allows the lambda:InvokeFunction action"},
		{name: "explicit deny wins", role: "invoker", policy: policy("Deny", fnARN+"echo"), function: "echo",
			wantDeny: "with an explicit deny in a session policy"},
		{name: "session policy cannot widen the role", role: "reports-reader", policy: policy("Allow", "*"), function: "echo",
			wantDeny: "because no identity-based policy allows the lambda:InvokeFunction action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := lf.client(static(a.mustAssume(t, tc.role, "ada", tc.policy)))
			_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(tc.function), Payload: echoEvent(t, `{"message":"x"}`, false)})
			switch {
			case tc.wantDeny != "":
				ae := wantAPIError(t, err, "AccessDeniedException", 403)
				resource := fnARN + tc.function
				want := "User: arn:aws:sts::123456789012:assumed-role/" + tc.role + "/ada is not authorized to perform: lambda:InvokeFunction on resource: " + resource + " " + tc.wantDeny
				if ae.ErrorMessage() != want {
					t.Errorf("message\n%q, want\n%q", ae.ErrorMessage(), want)
				}
			case tc.wantCode != "":
				wantAPIError(t, err, tc.wantCode, 404)
			case err != nil:
				t.Errorf("Invoke: %v", err)
			}
		})
	}
}

// TestAuthErrorMapping: every code Authenticate returns maps to Lambda's.
func TestAuthErrorMapping(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]string{
		sts.CodeMissingAuthenticationToken: CodeUnrecognizedClient,
		sts.CodeInvalidClientTokenID:       CodeUnrecognizedClient,
		sts.CodeIncompleteSignature:        CodeInvalidSignature,
		sts.CodeSignatureDoesNotMatch:      CodeInvalidSignature,
		sts.CodeExpiredToken:               CodeExpiredToken,
		"SomethingNew":                     CodeUnrecognizedClient,
	} {
		e := authError(&sts.Error{Code: code, Message: "m"})
		if e.Code != want || e.Status != http.StatusForbidden {
			t.Errorf("authError(%s) = %s %d, want %s 403", code, e.Code, e.Status, want)
		}
	}
	if e := authError(errors.New("odd")); e.Code != CodeUnrecognizedClient {
		t.Errorf("authError(non-STS error) = %s, want %s", e.Code, CodeUnrecognizedClient)
	}
}
