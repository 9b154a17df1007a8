package runtime

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// pidOf invokes testfn's "context" action and returns the instance's pid.
func pidOf(t *testing.T, h *Host, name string) int {
	t.Helper()
	res := invoke(t, h, name, map[string]string{"action": "context"}, InvokeOptions{})
	var got struct{ PID int }
	if err := json.Unmarshal(res.Payload, &got); err != nil || got.PID == 0 {
		t.Fatalf("context answer %s (function error %q): %v", res.Payload, res.FunctionError, err)
	}
	return got.PID
}

// TestTimeoutReplacesInstance: an invocation that outlives the timeout is
// answered Sandbox.Timedout, its instance killed; the next call gets a
// new instance.
func TestTimeoutReplacesInstance(t *testing.T) {
	t.Parallel()
	h, logs := newHost(t, Config{Functions: []Function{{Name: "slow", Executable: bin.testfn, Timeout: 500 * time.Millisecond, Concurrency: 1}}})
	before := pidOf(t, h, "slow")
	start := time.Now()
	res := invoke(t, h, "slow", map[string]any{"action": "sleep", "ms": 20000}, InvokeOptions{Tail: true})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timed-out invocation took %v", d)
	}
	e := functionErr(t, res)
	if e.ErrorType != "Sandbox.Timedout" || e.ErrorMessage != "RequestId: "+res.RequestID+" Error: Task timed out after 0.50 seconds" {
		t.Errorf("timeout error = %+v", e)
	}
	tail, _ := base64.StdEncoding.DecodeString(res.LogResult)
	if !strings.Contains(string(tail), "testfn: sleeping 20000 ms in "+res.RequestID) {
		t.Errorf("log tail lacks the function's output:\n%s", tail)
	}
	logs.wait(t, "of the kill", func(r logRecord) bool {
		return r.Msg == "runtime: instance killed: invocation timed out" && r.Attrs["request_id"] == res.RequestID
	})
	if after := pidOf(t, h, "slow"); after == before {
		t.Errorf("the instance that timed out (pid %d) answered again", before)
	}
}

// TestCrashMidInvocation: an instance that exits while running an
// invocation answers Runtime.ExitError for that request only.
func TestCrashMidInvocation(t *testing.T) {
	t.Parallel()
	h, _ := newHost(t, Config{Functions: []Function{{Name: "fn", Executable: bin.testfn, Concurrency: 1}}})
	before := pidOf(t, h, "fn")
	res := invoke(t, h, "fn", map[string]string{"action": "crash"}, InvokeOptions{Tail: true})
	e := functionErr(t, res)
	if e.ErrorType != "Runtime.ExitError" || e.ErrorMessage != "RequestId: "+res.RequestID+" Error: Runtime exited with error: exit status 2" {
		t.Errorf("crash error = %+v", e)
	}
	if tail, _ := base64.StdEncoding.DecodeString(res.LogResult); !strings.Contains(string(tail), "testfn: crashing on purpose") {
		t.Errorf("log tail lacks the output before the crash:\n%s", tail)
	}
	if after := pidOf(t, h, "fn"); after == before {
		t.Errorf("the crashed instance (pid %d) answered again", before)
	}

	// aws-lambda-go reports a panic, then exits: the caller gets the panic;
	// the next caller, however quickly it comes, gets a new instance.
	res = invoke(t, h, "fn", map[string]string{"action": "panic"}, InvokeOptions{})
	if e := functionErr(t, res); e.ErrorType != "string" || e.ErrorMessage != "kaboom" {
		t.Errorf("panic error = %+v", e)
	}
	if res := invoke(t, h, "fn", map[string]string{"action": "echo"}, InvokeOptions{}); res.FunctionError != "" {
		t.Errorf("invocation after a panic: %s %s", res.FunctionError, res.Payload)
	}
}

// TestInitFailure: an instance that exits before asking for its first
// event, or reports an init error, fails the invocation that started it;
// the next invocation tries a new instance.
func TestInitFailure(t *testing.T) {
	t.Parallel()
	h, _ := newHost(t, Config{Functions: []Function{
		{Name: "exits", Executable: bin.testfn, Env: map[string]string{"TESTFN_INIT": "exit"}},
		{Name: "reports", Executable: bin.rawfn, Env: map[string]string{"RAWFN_MODE": "initerror"}},
		{Name: "missing", Executable: "no-such-dir/bootstrap"},
	}})
	for range 2 {
		res := invoke(t, h, "exits", map[string]string{}, InvokeOptions{Tail: true})
		e := functionErr(t, res)
		if e.ErrorType != "Runtime.ExitError" || !strings.HasSuffix(e.ErrorMessage, "Error: Runtime exited with error: exit status 3") {
			t.Errorf("init exit error = %+v", e)
		}
		if tail, _ := base64.StdEncoding.DecodeString(res.LogResult); !strings.Contains(string(tail), "testfn: init failing on purpose") {
			t.Errorf("log tail lacks the init output:\n%s", tail)
		}
	}
	res := invoke(t, h, "reports", map[string]string{}, InvokeOptions{})
	if e := functionErr(t, res); e.ErrorType != "Runtime.TestInitError" || e.ErrorMessage != "cannot start: no config" {
		t.Errorf("init error = %+v, want the runtime's own body", e)
	}
	res = invoke(t, h, "missing", map[string]string{}, InvokeOptions{})
	if e := functionErr(t, res); e.ErrorType != "Runtime.InvalidEntrypoint" || strings.Contains(e.ErrorMessage, "no-such-dir") {
		t.Errorf("missing executable error = %+v (no local path may show)", e)
	}
	if err := h.Start(testContext(t)); err == nil || !strings.Contains(err.Error(), "function missing") {
		t.Errorf("Start = %v, want an error naming the missing executable", err)
	}
}

// TestRuntimeAPIProtocol: requests out of turn get the Runtime API's
// statuses; errors reported in trailers or as plain text reach the caller.
func TestRuntimeAPIProtocol(t *testing.T) {
	t.Parallel()
	h, logs := newHost(t, Config{Functions: []Function{{Name: "raw", Executable: bin.rawfn, Concurrency: 1}}})

	res := invoke(t, h, "raw", map[string]string{"action": "protocol"}, InvokeOptions{})
	var got map[string]any
	if err := json.Unmarshal(res.Payload, &got); err != nil || res.FunctionError != "" {
		t.Fatalf("protocol answer %s %s: %v", res.FunctionError, res.Payload, err)
	}
	want := map[string]any{
		"wrongId": 400.0, "initErrorLate": 403.0, "nextWhileBusy": 403.0, "nextWhileBusyType": "InvalidStateTransition",
		"badMode": 400.0, "unknownPath": 404.0, "extension": 403.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
	logs.wait(t, "of the late response's status", output("", "rawfn: response after the answer got 403"))

	res = invoke(t, h, "raw", map[string]string{"action": "trailer"}, InvokeOptions{})
	if e := functionErr(t, res); e.ErrorType != "Runtime.StreamError" || e.ErrorMessage != "reader failed" {
		t.Errorf("trailer error = %+v", e)
	}
	res = invoke(t, h, "raw", map[string]string{"action": "errortype"}, InvokeOptions{})
	if e := functionErr(t, res); e.ErrorType != "Custom.Failure" || e.ErrorMessage != "not json" {
		t.Errorf("plain-text error = %+v", e)
	}
	if res := invoke(t, h, "raw", map[string]string{}, InvokeOptions{}); string(res.Payload) != `{"version":"v1"}` {
		t.Errorf("plain answer = %s", res.Payload)
	}
}

// TestResponseTooLarge: a response over 6 MB is a function error; the
// runtime gets 413 (aws-lambda-go then exits) and the next call works.
func TestResponseTooLarge(t *testing.T) {
	t.Parallel()
	h, _ := newHost(t, Config{Functions: []Function{{Name: "fn", Executable: bin.testfn, Concurrency: 1}}})
	res := invoke(t, h, "fn", map[string]any{"action": "big", "size": MaxSyncPayload + 10}, InvokeOptions{})
	if e := functionErr(t, res); e.ErrorType != "Function.ResponseSizeTooLarge" {
		t.Errorf("error = %+v", e)
	}
	res = invoke(t, h, "fn", map[string]any{"action": "big", "size": 1000}, InvokeOptions{})
	if res.FunctionError != "" || len(res.Payload) != 1002 {
		t.Errorf("next call = %q, %d bytes", res.FunctionError, len(res.Payload))
	}
}

// TestRuntimeContext: what the runtime receives with an event.
func TestRuntimeContext(t *testing.T) {
	t.Parallel()
	h, _ := newHost(t, Config{Region: "eu-west-1", Functions: []Function{{Name: "ctx", Executable: bin.testfn, Timeout: 7 * time.Second, MemoryMB: 512}}})
	const trace = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
	start := time.Now()
	res := invoke(t, h, "ctx", map[string]string{"action": "context"}, InvokeOptions{
		ClientContext: `{"custom": {"k": "v"}}`, TraceID: trace, RequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd"})
	var got struct {
		RequestID     string            `json:"requestId"`
		FunctionArn   string            `json:"functionArn"`
		ClientContext map[string]string `json:"clientContext"`
		TraceID       string            `json:"traceId"`
		DeadlineMs    int64             `json:"deadlineMs"`
		FunctionName  string            `json:"functionName"`
		Memory        int               `json:"memory"`
		Version       string            `json:"version"`
		LogGroup      string            `json:"logGroup"`
	}
	if err := json.Unmarshal(res.Payload, &got); err != nil {
		t.Fatal(err)
	}
	if got.RequestID != res.RequestID || res.RequestID != "8476a536-e9f4-11e8-9739-2dfe598c3fcd" {
		t.Errorf("request id %q, result %q", got.RequestID, res.RequestID)
	}
	checks := map[string][2]any{
		"function ARN":   {got.FunctionArn, "arn:aws:lambda:eu-west-1:123456789012:function:ctx"},
		"client context": {got.ClientContext["k"], "v"},
		"trace id":       {got.TraceID, trace},
		"function name":  {got.FunctionName, "ctx"},
		"memory":         {got.Memory, 512},
		"version":        {got.Version, "$LATEST"},
		"log group":      {got.LogGroup, "/aws/lambda/ctx"},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", what, c[0], c[1])
		}
	}
	deadline := time.UnixMilli(got.DeadlineMs)
	if deadline.Before(start.Add(6*time.Second)) || deadline.After(time.Now().Add(7*time.Second)) {
		t.Errorf("deadline %v is not 7 s after the invocation (%v)", deadline, start)
	}
	for _, bad := range []InvokeOptions{{ClientContext: "[1]"}, {ClientContext: "{"}, {TraceID: "a b"}, {InvocationType: "Later"}} {
		if _, err := invokeErr(t, h, "ctx", map[string]string{}, bad); !isCode(err, CodeInvalidParameterValue) {
			t.Errorf("Invoke with %+v = %v, want %s", bad, err, CodeInvalidParameterValue)
		}
	}
}

func isCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// TestEnvironment: a function sees Lambda's variables, its Env and its
// execution role's credentials, and nothing of the host's environment.
func TestEnvironment(t *testing.T) {
	t.Parallel()
	a := newAWSFixture(t)
	h, _ := newHost(t, Config{
		Credentials: a.credentials,
		Functions: []Function{
			{Name: "env", Executable: bin.testfn, Handler: "main.handle", Env: map[string]string{"GREETING": "hi"},
				ExecutionRole: "arn:aws:iam::123456789012:role/fn-whoami"},
			{Name: "norole", Executable: bin.testfn},
		},
	})
	res := invoke(t, h, "env", map[string]string{"action": "env"}, InvokeOptions{})
	var env map[string]string
	if err := json.Unmarshal(res.Payload, &env); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": "env", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/env",
		"_HANDLER": "main.handle", "TZ": ":UTC", "GREETING": "hi", "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if !strings.HasPrefix(env["AWS_ACCESS_KEY_ID"], "ASIA") || env["AWS_SECRET_ACCESS_KEY"] == "" || env["AWS_SESSION_TOKEN"] == "" {
		t.Errorf("execution role credentials missing: key id %q", env["AWS_ACCESS_KEY_ID"])
	}
	if !strings.Contains(env["AWS_LAMBDA_LOG_STREAM_NAME"], "/[$LATEST]") || !strings.HasPrefix(env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:") {
		t.Errorf("log stream %q, runtime API %q", env["AWS_LAMBDA_LOG_STREAM_NAME"], env["AWS_LAMBDA_RUNTIME_API"])
	}
	for _, k := range []string{canary, "HOME", "GOPATH", "GOFLAGS"} {
		if v, ok := env[k]; ok {
			t.Errorf("the host's %s=%q leaked into the function", k, v)
		}
	}
	res = invoke(t, h, "norole", map[string]string{"action": "env"}, InvokeOptions{})
	env = nil
	_ = json.Unmarshal(res.Payload, &env)
	if _, ok := env["AWS_ACCESS_KEY_ID"]; ok {
		t.Errorf("a function without an execution role got credentials")
	}
}

// TestFunctionOutputLogged: each line of output is a log record tagged
// with the function and request id; long lines are cut.
func TestFunctionOutputLogged(t *testing.T) {
	t.Parallel()
	h, logs := newHost(t, Config{Functions: []Function{{Name: "fn", Executable: bin.testfn}}})
	long := strings.Repeat("y", 3*maxLogLine)
	res := invoke(t, h, "fn", map[string]any{"action": "log", "lines": 2, "text": long}, InvokeOptions{})
	r := logs.wait(t, "of the long line", output(res.RequestID, "testfn: line 1 yyy"))
	if out := r.Attrs["output"].(string); len(out) != maxLogLine || r.Attrs["truncated"] != true || r.Attrs["function"] != "fn" {
		t.Errorf("long line logged as %d bytes, truncated %v", len(out), r.Attrs["truncated"])
	}
	logs.wait(t, "of the invocation", func(r logRecord) bool {
		return r.Msg == "runtime: invocation" && r.Attrs["request_id"] == res.RequestID && r.Attrs["payload_bytes"] != nil
	})
	for _, r := range logs.all() {
		if strings.Contains(r.String(), `"action"`) {
			t.Errorf("a payload reached the log: %v", r)
		}
	}
}

// TestCallerGivesUp: a caller whose context ends gets its error at once;
// the invocation runs on, and the instance serves the next caller.
func TestCallerGivesUp(t *testing.T) {
	t.Parallel()
	h, logs := newHost(t, Config{Functions: []Function{{Name: "fn", Executable: bin.testfn, Concurrency: 1}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.Invoke(ctx, "fn", []byte(`{"action":"sleep","ms":300}`), InvokeOptions{RequestID: "given-up"})
		done <- err
	}()
	logs.wait(t, "of the sleep", output("given-up", "sleeping"))
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Invoke after cancel = %v, want context.Canceled", err)
	}
	if res := invoke(t, h, "fn", map[string]string{"action": "echo"}, InvokeOptions{}); res.FunctionError != "" {
		t.Errorf("next invocation: %s %s", res.FunctionError, res.Payload)
	}
}

// TestWhoamiExecutionRole: the whoami example, invoked through the Invoke
// API, reports the identity in its event and, from GetCallerIdentity
// against the local STS (AWS_ENDPOINT_URL_STS, AWS_CA_BUNDLE), its
// execution role.
func TestWhoamiExecutionRole(t *testing.T) {
	t.Parallel()
	a := newAWSFixture(t)
	lf := newLambdaFixture(t, a, Config{
		Credentials: a.credentials,
		Functions: []Function{
			{Name: "whoami", Executable: bin.whoami, ExecutionRole: "arn:aws:iam::123456789012:role/fn-whoami",
				Env: map[string]string{"AWS_ENDPOINT_URL_STS": a.ts.URL, "AWS_CA_BUNDLE": a.caFile}},
			{Name: "whoami-norole", Executable: bin.whoami},
		},
	})
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: "/whoami", RequestContext: events.APIGatewayV2HTTPRequestContext{
		Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT:    &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": "ada", "tid": "t1"}, Scopes: []string{"access_as_user"}},
			Lambda: map[string]any{"principal": "ada", "groups": []any{"engineering"}},
		},
	}}
	payload, _ := json.Marshal(ev)
	c := lf.client(static(a.mustAssume(t, "invoker", "gateway", "")))
	type answer struct {
		Function   string                                                      `json:"function"`
		Authorizer *events.APIGatewayV2HTTPRequestContextAuthorizerDescription `json:"authorizer"`
		Caller     *struct{ Account, ARN string }                              `json:"callerIdentity"`
		CallerErr  string                                                      `json:"callerIdentityError"`
	}
	call := func(name string) answer {
		t.Helper()
		out, err := c.Invoke(testContext(t), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: payload})
		if err != nil {
			t.Fatalf("Invoke(%s): %v", name, err)
		}
		var resp events.APIGatewayV2HTTPResponse
		var got answer
		if err := json.Unmarshal(out.Payload, &resp); err != nil || resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &got) != nil {
			t.Fatalf("Invoke(%s) = %s (%v)", name, out.Payload, err)
		}
		return got
	}
	got := call("whoami")
	if got.Caller == nil || got.Caller.ARN != "arn:aws:sts::123456789012:assumed-role/fn-whoami/whoami" || got.Caller.Account != testAccount {
		t.Errorf("callerIdentity = %+v (error %q), want the fn-whoami role session named whoami", got.Caller, got.CallerErr)
	}
	if got.Function != "whoami" || got.Authorizer == nil || got.Authorizer.JWT.Claims["sub"] != "ada" || got.Authorizer.Lambda["principal"] != "ada" {
		t.Errorf("identity echoed = %+v", got)
	}
	got = call("whoami-norole")
	if got.Caller != nil || got.CallerErr == "" {
		t.Errorf("without an execution role: callerIdentity %+v, error %q; want no identity", got.Caller, got.CallerErr)
	}
}

// TestCredentialsRefresh: an instance whose execution-role credentials
// expire within 5 minutes is replaced, with fresh credentials, before its
// next invocation.
func TestCredentialsRefresh(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Now())
	var issued atomic.Int32
	creds := func(_ context.Context, roleARN, session string) (aws.Credentials, error) {
		n := issued.Add(1)
		if roleARN != "arn:aws:iam::123456789012:role/fn" || session != "fn" {
			return aws.Credentials{}, errors.New("unexpected role or session " + roleARN + " " + session)
		}
		return aws.Credentials{AccessKeyID: fmt.Sprintf("ASIAEXAMPLE%d", n), SecretAccessKey: "s", SessionToken: "t",
			CanExpire: true, Expires: clock.Now().Add(time.Hour)}, nil
	}
	h, _ := newHost(t, Config{Now: clock.Now, Credentials: creds, Functions: []Function{
		{Name: "fn", Executable: bin.testfn, Concurrency: 1, ExecutionRole: "arn:aws:iam::123456789012:role/fn"}}})
	keyID := func() string {
		res := invoke(t, h, "fn", map[string]string{"action": "env"}, InvokeOptions{})
		var env map[string]string
		if err := json.Unmarshal(res.Payload, &env); err != nil {
			t.Fatalf("env answer %s: %v", res.Payload, err)
		}
		return env["AWS_ACCESS_KEY_ID"]
	}
	if got := keyID(); got != "ASIAEXAMPLE1" {
		t.Fatalf("first instance has %q", got)
	}
	clock.Add(50 * time.Minute)
	if got := keyID(); got != "ASIAEXAMPLE1" {
		t.Errorf("after 50 minutes: %q, want the same instance", got)
	}
	clock.Add(6 * time.Minute)
	if got := keyID(); got != "ASIAEXAMPLE2" {
		t.Errorf("4 minutes before expiry: %q, want a new instance with new credentials", got)
	}
	failing := func(context.Context, string, string) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("sts down")
	}
	h2, _ := newHost(t, Config{Credentials: failing, Functions: []Function{{Name: "fn", Executable: bin.testfn, ExecutionRole: "arn:aws:iam::123456789012:role/fn"}}})
	if _, err := invokeErr(t, h2, "fn", map[string]string{}, InvokeOptions{}); !isCode(err, CodeService) || strings.Contains(err.(*Error).Message, "sts down") {
		t.Errorf("Invoke without credentials = %v, want ServiceException hiding the cause", err)
	}
}
