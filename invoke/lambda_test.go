package invoke

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
)

// invokeAPI is a stand-in for the Lambda Invoke REST API
// (POST /2015-03-31/functions/{name}/invocations), used while
// devkit/runtime, the real local Lambda host, is being built: the test
// against it (runtime_test.go) drives the same target end to end. It
// re-verifies each request's SigV4 signature with the AWS SDK's own signer
// against the credentials it knows, and answers for a few named functions
// the way Lambda does.
type invokeAPI struct {
	t      *testing.T
	region string
	creds  map[string]aws.Credentials // by access key id

	// stuck is called when the "stuck" function starts, before it waits.
	stuck func()

	mu     sync.Mutex
	calls  int
	events []events.APIGatewayV2HTTPRequest
	raw    [][]byte
	keys   []string // access key id of each call
}

func newInvokeAPI(t *testing.T, creds ...aws.Credentials) (*invokeAPI, *httptest.Server) {
	api := &invokeAPI{t: t, region: "eu-west-1", creds: map[string]aws.Credentials{}}
	for _, c := range creds {
		api.creds[c.AccessKeyID] = c
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", api.invoke)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return api, srv
}

func (a *invokeAPI) invoke(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		a.t.Errorf("reading the request: %v", err)
		return
	}
	key, err := a.verify(r, body)
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
	if err != nil {
		lambdaError(w, http.StatusForbidden, "InvalidSignatureException", err.Error())
		return
	}
	if got := r.Header.Get("X-Amz-Invocation-Type"); got != "" && got != "RequestResponse" {
		a.t.Errorf("X-Amz-Invocation-Type = %q, want RequestResponse", got)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(body, &ev); err != nil {
		lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}
	a.mu.Lock()
	a.events = append(a.events, ev)
	a.raw = append(a.raw, body)
	a.keys = append(a.keys, key)
	a.mu.Unlock()

	w.Header().Set("X-Amzn-Requestid", "lambda-req-1")
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	switch name := r.PathValue("name"); name {
	case "echo": // a function that returns a structured response about its event
		out, _ := json.Marshal(events.APIGatewayV2HTTPResponse{
			StatusCode: 201,
			Headers:    map[string]string{"content-type": "application/json", "x-function": "echo"},
			Cookies:    []string{"seen=1; HttpOnly"},
			Body:       fmt.Sprintf(`{"method":%q,"path":%q}`, ev.RequestContext.HTTP.Method, ev.RawPath),
		})
		w.Write(out)
	case "hello": // plain JSON
		w.Write([]byte(`{"message":"hi"}`))
	case "crash":
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		w.Write([]byte(`{"errorMessage":"boom: secret detail","errorType":"errorString","stackTrace":[{"path":"main.go","line":7,"label":"handler"}]}`))
	case "sleepy": // Lambda's own timeout, as real Lambda and the local host report it
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		w.Write([]byte(`{"errorMessage":"2024-03-12T19:03:58.000Z lambda-req-1 Task timed out after 3.00 seconds","errorType":"Sandbox.Timedout"}`))
	case "busy":
		w.Header().Set("Retry-After", "7")
		lambdaError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Rate Exceeded.")
	case "forbidden":
		lambdaError(w, http.StatusForbidden, "AccessDeniedException",
			"User: arn:aws:sts::123456789012:assumed-role/reader/s is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:eu-west-1:123456789012:function:forbidden")
	case "missing":
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: arn:aws:lambda:eu-west-1:123456789012:function:missing")
	case "huge":
		lambdaError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
	case "broken":
		lambdaError(w, http.StatusInternalServerError, "ServiceException", "internal")
	case "garbled":
		w.Write([]byte("not json"))
	case "stuck": // never answers; the client-side bound must end it
		if a.stuck != nil {
			a.stuck()
		}
		<-r.Context().Done()
	default:
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
	}
}

func lambdaError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "Type": "User", "message": msg})
}

// verify re-signs the request with the SDK's v4 signer and the secret the
// server knows for its access key id, and compares the signatures. It
// returns the access key id.
func (a *invokeAPI) verify(r *http.Request, body []byte) (string, error) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "", errors.New("not SigV4-signed")
	}
	fields := map[string]string{}
	for f := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[2] != a.region || scope[3] != "lambda" || scope[4] != "aws4_request" {
		return "", fmt.Errorf("credential scope %q, want */%s/lambda/aws4_request", fields["Credential"], a.region)
	}
	creds, ok := a.creds[scope[0]]
	if !ok {
		return "", fmt.Errorf("unknown access key %s", scope[0])
	}
	if r.Header.Get("X-Amz-Security-Token") != creds.SessionToken {
		return "", errors.New("wrong session token")
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "", err
	}
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	for _, name := range strings.Split(fields["SignedHeaders"], ";") {
		switch name {
		case "host":
		case "content-length":
			again.ContentLength = int64(len(body))
		default:
			again.Header[http.CanonicalHeaderKey(name)] = r.Header.Values(name)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), "lambda", a.region, when); err != nil {
		return "", err
	}
	if got := again.Header.Get("Authorization"); got != auth {
		return "", fmt.Errorf("signature mismatch:\n got %s\nwant %s", auth, got)
	}
	return creds.AccessKeyID, nil
}

func (a *invokeAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

func (a *invokeAPI) lastEvent(t *testing.T) (events.APIGatewayV2HTTPRequest, []byte) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.events) == 0 {
		t.Fatal("the function received no event")
	}
	return a.events[len(a.events)-1], a.raw[len(a.raw)-1]
}

func newTestLambda(t *testing.T, endpoint, function string, mod func(*LambdaConfig)) *Lambda {
	t.Helper()
	cfg := LambdaConfig{
		Function: function,
		Region:   "eu-west-1",
		Endpoint: endpoint,
		Now:      func() time.Time { return testNow },
	}
	if mod != nil {
		mod(&cfg)
	}
	l, err := NewLambda(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLambdaInvokesWithTheCallersRole(t *testing.T) {
	call := testCall()
	api, srv := newInvokeAPI(t, call.Credentials)
	l := newTestLambda(t, srv.URL, "echo", nil)

	r := testRequest("POST", "https://api.example.test/reports/42?x=1", []byte(`{"run":true}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+testToken)
	r.Header.Set("Cookie", "sid=abc")
	rec := httptest.NewRecorder()
	rec.Header().Set("X-Request-Id", call.RequestID)
	oc, err := l.Invoke(context.Background(), rec, r, call)
	if err != nil {
		t.Fatal(err)
	}
	wantBody := `{"method":"POST","path":"/reports/42"}`
	want := &Outcome{Status: 201, TargetRequestID: "lambda-req-1", Bytes: int64(len(wantBody))}
	if diff := cmp.Diff(want, oc); diff != "" {
		t.Errorf("Outcome (-want +got):\n%s", diff)
	}
	if rec.Code != 201 || rec.Body.String() != wantBody || rec.Header().Get("Set-Cookie") != "seen=1; HttpOnly" ||
		rec.Header().Get("X-Function") != "echo" || rec.Header().Get("X-Request-Id") != call.RequestID {
		t.Errorf("response = %d %v %q", rec.Code, rec.Header(), rec.Body)
	}

	ev, raw := api.lastEvent(t)
	if _, ok := ev.Headers["authorization"]; ok || bytes.Contains(raw, []byte(testToken)) {
		t.Error("the function saw the bearer token")
	}
	if bytes.Contains(raw, []byte(`"authentication"`)) {
		t.Errorf("the event has requestContext.authentication without mutual TLS: %s", raw)
	}
	if ev.Body != `{"run":true}` || ev.RawPath != "/reports/42" || ev.Cookies[0] != "sid=abc" ||
		ev.RequestContext.Authorizer.JWT.Claims["groups"] != "[g1 g2]" {
		t.Errorf("event = %+v", ev)
	}
	env, err := ReadEnvelope(&ev)
	if err != nil || env.Role != "reports-reader" || env.RequestID != call.RequestID || !cmp.Equal(env.Groups, []string{"g1", "g2"}) {
		t.Errorf("envelope = %+v, %v", env, err)
	}
}

// The client is built once; each call is signed with its own credentials.
func TestLambdaSignsEachCallWithItsCredentials(t *testing.T) {
	a, b := testCall(), testCall()
	b.Credentials = aws.Credentials{AccessKeyID: "ASIAOTHERKEY", SecretAccessKey: "other-secret", SessionToken: "other-session"}
	api, srv := newInvokeAPI(t, a.Credentials, b.Credentials)
	l := newTestLambda(t, srv.URL, "hello", nil)
	for _, call := range []Call{a, b, a} {
		rec := httptest.NewRecorder()
		if _, err := l.Invoke(context.Background(), rec, testRequest("GET", "https://api.example.test/reports/42", nil), call); err != nil {
			t.Fatal(err)
		}
		if rec.Code != 200 || rec.Body.String() != `{"message":"hi"}` || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("plain-JSON response = %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
	if diff := cmp.Diff([]string{"ASIATESTKEY", "ASIAOTHERKEY", "ASIATESTKEY"}, api.keys); diff != "" {
		t.Errorf("signing keys (-want +got):\n%s", diff)
	}
}

func TestLambdaErrors(t *testing.T) {
	call := testCall()
	_, srv := newInvokeAPI(t, call.Credentials)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name           string
		function       string
		endpoint       string
		creds          *aws.Credentials
		timeout        time.Duration
		wantStatus     int
		wantCode       string
		wantRetryAfter int
		wantFnError    string
		wantTargetID   string
	}{
		{name: "function error", function: "crash", wantStatus: 502, wantCode: CodeFunctionError, wantFnError: "Unhandled", wantTargetID: "lambda-req-1"},
		{name: "function timeout", function: "sleepy", wantStatus: 504, wantCode: CodeFunctionTimeout, wantFnError: "Unhandled", wantTargetID: "lambda-req-1"},
		{name: "throttled", function: "busy", wantStatus: 429, wantCode: CodeThrottled, wantRetryAfter: 7, wantTargetID: "lambda-req-1"},
		{name: "IAM refusal", function: "forbidden", wantStatus: 403, wantCode: CodeTargetAccessDenied, wantTargetID: "lambda-req-1"},
		{name: "no such function", function: "missing", wantStatus: 502, wantCode: CodeTargetNotFound, wantTargetID: "lambda-req-1"},
		{name: "payload too large", function: "huge", wantStatus: 413, wantCode: CodeRequestTooLarge, wantTargetID: "lambda-req-1"},
		{name: "service failure", function: "broken", wantStatus: 502, wantCode: CodeTargetUnavailable, wantTargetID: "lambda-req-1"},
		{name: "invalid response", function: "garbled", wantStatus: 502, wantCode: CodeBadResponse, wantTargetID: "lambda-req-1"},
		{name: "client-side deadline", function: "stuck", timeout: 50 * time.Millisecond, wantStatus: 504, wantCode: CodeTimeout},
		{name: "wrong secret", function: "hello", creds: &aws.Credentials{AccessKeyID: "ASIATESTKEY", SecretAccessKey: "wrong", SessionToken: "session"},
			wantStatus: 502, wantCode: CodeCredentialsRejected},
		{name: "unreachable", function: "hello", endpoint: closed.URL, wantStatus: 502, wantCode: CodeTargetUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint := srv.URL
			if tt.endpoint != "" {
				endpoint = tt.endpoint
			}
			l := newTestLambda(t, endpoint, tt.function, func(c *LambdaConfig) { c.Timeout = tt.timeout })
			c := call
			if tt.creds != nil {
				c.Credentials = *tt.creds
			}
			rec := httptest.NewRecorder()
			oc, err := l.Invoke(context.Background(), rec, testRequest("GET", "https://api.example.test/reports/42", nil), c)
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("Invoke = %+v, %v; want an *Error", oc, err)
			}
			if ie.Status != tt.wantStatus || ie.Code != tt.wantCode || ie.RetryAfter != tt.wantRetryAfter {
				t.Errorf("Invoke error = %d %s retry %d, want %d %s retry %d (%v)",
					ie.Status, ie.Code, ie.RetryAfter, tt.wantStatus, tt.wantCode, tt.wantRetryAfter, err)
			}
			if oc == nil || oc.Status != tt.wantStatus || oc.FunctionError != tt.wantFnError || oc.TargetRequestID != tt.wantTargetID {
				t.Errorf("Outcome = %+v, want status %d, function error %q, target id %q", oc, tt.wantStatus, tt.wantFnError, tt.wantTargetID)
			}
			if rec.Body.Len() != 0 || len(rec.Header()) != 0 {
				t.Errorf("a failed Invoke wrote a response: %v %q", rec.Header(), rec.Body)
			}
			for _, leak := range []string{"boom", "secret", "main.go", "arn:", "127.0.0.1", "Sandbox"} {
				if strings.Contains(ie.Reason, leak) {
					t.Errorf("Reason %q leaks %q", ie.Reason, leak)
				}
			}
			if !strings.Contains(ie.Err.Error(), tt.function) {
				t.Errorf("Err %q does not name the function", ie.Err)
			}
		})
	}
}

// The function's own error document reaches the log (Err), not the caller.
func TestLambdaFunctionErrorDetailGoesToTheLog(t *testing.T) {
	call := testCall()
	_, srv := newInvokeAPI(t, call.Credentials)
	l := newTestLambda(t, srv.URL, "crash", nil)
	_, err := l.Invoke(context.Background(), httptest.NewRecorder(), testRequest("GET", "https://api.example.test/reports/42", nil), call)
	var fe *FunctionError
	if !errors.As(err, &fe) {
		t.Fatalf("Invoke error %v carries no *FunctionError", err)
	}
	want := &FunctionError{Function: "crash", Kind: "Unhandled", Type: "errorString", Message: "boom: secret detail",
		StackTrace: `[{"path":"main.go","line":7,"label":"handler"}]`}
	if diff := cmp.Diff(want, fe); diff != "" {
		t.Errorf("FunctionError (-want +got):\n%s", diff)
	}
}

func TestLambdaBodyLimit(t *testing.T) {
	call := testCall()
	api, srv := newInvokeAPI(t, call.Credentials)
	l := newTestLambda(t, srv.URL, "echo", func(c *LambdaConfig) { c.MaxBodyBytes = 10 })

	for _, tt := range []struct {
		name      string
		body      string
		unknownCL bool
		want      int
	}{
		{"at the limit", "0123456789", false, 201},
		{"over the limit", "0123456789a", false, 413},
		{"over the limit, length unknown", "0123456789a", true, 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := api.count()
			r := testRequest("POST", "https://api.example.test/reports/42", []byte(tt.body))
			if tt.unknownCL {
				r.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			oc, err := l.Invoke(context.Background(), rec, r, call)
			status := 0
			var ie *Error
			switch {
			case errors.As(err, &ie):
				status = ie.Status
			case err == nil:
				status = oc.Status
			default:
				t.Fatal(err)
			}
			if status != tt.want {
				t.Errorf("status = %d, want %d", status, tt.want)
			}
			if tt.want == 413 && api.count() != before {
				t.Error("the function was invoked for a body over the limit")
			}
		})
	}
}

func TestLambdaEventOverLambdasLimit(t *testing.T) {
	call := testCall()
	api, srv := newInvokeAPI(t, call.Credentials)
	l := newTestLambda(t, srv.URL, "echo", func(c *LambdaConfig) { c.MaxBodyBytes = MaxPayloadBytes })
	body := bytes.Repeat([]byte{0xff}, 5<<20) // base64 makes it 6.7 MB
	r := testRequest("POST", "https://api.example.test/upload", body)
	r.Header.Set("Content-Type", "application/octet-stream")
	_, err := l.Invoke(context.Background(), httptest.NewRecorder(), r, call)
	var ie *Error
	if !errors.As(err, &ie) || ie.Status != 413 {
		t.Fatalf("Invoke = %v, want 413", err)
	}
	if api.count() != 0 {
		t.Error("the function was invoked with an event over Lambda's limit")
	}
}

func TestLambdaCallerGone(t *testing.T) {
	call := testCall()
	api, srv := newInvokeAPI(t, call.Credentials)
	l := newTestLambda(t, srv.URL, "stuck", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api.stuck = cancel // the caller leaves while the function runs
	_, err := l.Invoke(ctx, httptest.NewRecorder(), testRequest("GET", "https://api.example.test/reports/42", nil), call)
	var ie *Error
	if !errors.As(err, &ie) || ie.Status != StatusClientClosedRequest || ie.Code != CodeClientClosedRequest {
		t.Fatalf("Invoke = %v, want %d %s", err, StatusClientClosedRequest, CodeClientClosedRequest)
	}
}

func TestLambdaRefusesEmptyCredentials(t *testing.T) {
	call := testCall()
	call.Credentials = aws.Credentials{}
	api, srv := newInvokeAPI(t)
	l := newTestLambda(t, srv.URL, "echo", nil)
	if _, err := l.Invoke(context.Background(), httptest.NewRecorder(), testRequest("GET", "https://api.example.test/", nil), call); err == nil {
		t.Fatal("Invoke with no credentials succeeded")
	}
	if api.count() != 0 {
		t.Error("an unsigned call reached Lambda")
	}
}

func TestNewLambdaChecksConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  LambdaConfig
	}{
		{"no function", LambdaConfig{Region: "eu-west-1"}},
		{"bad function name", LambdaConfig{Function: "bad name", Region: "eu-west-1"}},
		{"no region", LambdaConfig{Function: "f"}},
		{"endpoint without scheme", LambdaConfig{Function: "f", Region: "eu-west-1", Endpoint: "127.0.0.1:9445"}},
		{"negative timeout", LambdaConfig{Function: "f", Region: "eu-west-1", Timeout: -1}},
		{"body limit over Lambda's", LambdaConfig{Function: "f", Region: "eu-west-1", MaxBodyBytes: MaxPayloadBytes + 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewLambda(tt.cfg); err == nil {
				t.Errorf("NewLambda(%+v) succeeded", tt.cfg)
			}
		})
	}
	for _, fn := range []string{"whoami", "whoami:live", "123456789012:function:whoami", "arn:aws:lambda:eu-west-1:123456789012:function:whoami:$LATEST"} {
		if _, err := NewLambda(LambdaConfig{Function: fn, Region: "eu-west-1"}); err != nil {
			t.Errorf("NewLambda(%q) = %v", fn, err)
		}
	}
}
