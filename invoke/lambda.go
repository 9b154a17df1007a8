package invoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/gatehouse-dev/gatehouse/internal/awstrace"
)

// MaxPayloadBytes is Lambda's limit on a synchronous Invoke request
// payload (6 MB): an event larger than this is refused with 413 before
// Lambda is called.
const MaxPayloadBytes = 6 << 20

// DefaultMaxBodyBytes is the request body limit when LambdaConfig leaves it
// zero: Lambda's payload limit less room for the rest of the event. A body
// that is sent base64-encoded grows by a third and may still make the event
// too large (413).
const DefaultMaxBodyBytes = MaxPayloadBytes - 256<<10

// DefaultTimeout bounds one invocation when LambdaConfig leaves Timeout
// zero: API Gateway's limit for HTTP API integrations.
const DefaultTimeout = 30 * time.Second

// functionNameRE is Invoke's FunctionName pattern: a name, name:qualifier,
// a partial ARN or a full ARN.
var functionNameRE = regexp.MustCompile(`^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$`)

// LambdaConfig configures a Lambda target.
type LambdaConfig struct {
	// Function is the function's name, name:qualifier or ARN; required.
	Function string
	// Region is the function's AWS region; required (it is part of the
	// signature).
	Region string
	// Endpoint is the Lambda endpoint URL; "" means AWS's endpoint for
	// Region. devkit/runtime's URL for the local loop.
	Endpoint string
	// HTTPClient sends the Invoke requests; nil means the AWS SDK's default
	// client.
	HTTPClient *http.Client
	// Timeout bounds one invocation, client side; 0 means DefaultTimeout.
	// Set it a little above the function's own timeout, so Lambda reports
	// the function's timeout first.
	Timeout time.Duration
	// MaxBodyBytes is the request body limit (413 above it); 0 means
	// DefaultMaxBodyBytes. At most MaxPayloadBytes.
	MaxBodyBytes int64
	// PassHeaders are request headers put in the event besides the
	// standard ones (names, or prefixes ending in '*'); see
	// NewHeaderPolicy.
	PassHeaders []string
	// Now is the clock for requestContext.time; nil means time.Now.
	Now func() time.Time
}

// Lambda is a Target that invokes one Lambda function synchronously
// (RequestResponse) with the API Gateway HTTP API event of the request,
// signed with the request's role credentials.
type Lambda struct {
	function string
	client   *lambda.Client
	timeout  time.Duration
	maxBody  int64
	headers  HeaderPolicy
	now      func() time.Time
}

var _ Target = (*Lambda)(nil)

// NewLambda checks cfg and builds the target and its SDK client, once. The
// client has no credentials of its own: each Invoke signs with the
// credentials of its Call. It does not retry: a retried Invoke can run a
// function twice, and a throttled caller is better told to retry (429).
func NewLambda(cfg LambdaConfig) (*Lambda, error) {
	var problems []error
	if cfg.Function == "" || len(cfg.Function) > 170 || !functionNameRE.MatchString(cfg.Function) {
		problems = append(problems, fmt.Errorf("function %q is not a Lambda function name or ARN", cfg.Function))
	}
	if cfg.Region == "" {
		problems = append(problems, errors.New("region is required"))
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			problems = append(problems, fmt.Errorf("endpoint %q is not an http(s) URL", cfg.Endpoint))
		}
	}
	if cfg.Timeout < 0 {
		problems = append(problems, errors.New("timeout must not be negative"))
	}
	if cfg.MaxBodyBytes < 0 || cfg.MaxBodyBytes > MaxPayloadBytes {
		problems = append(problems, fmt.Errorf("max body bytes must be between 0 and %d", MaxPayloadBytes))
	}
	headers, err := NewHeaderPolicy(cfg.PassHeaders)
	if err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("invoke: lambda target: %w", errors.Join(problems...))
	}
	opts := lambda.Options{
		Region:  cfg.Region,
		Retryer: aws.NopRetryer{},
		// The Invoke call's span and X-Ray header, when the request is
		// traced.
		APIOptions: []func(*middleware.Stack) error{awstrace.Middleware(true)},
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	if cfg.HTTPClient != nil {
		opts.HTTPClient = cfg.HTTPClient
	}
	l := &Lambda{
		function: cfg.Function,
		client:   lambda.New(opts),
		timeout:  cfg.Timeout,
		maxBody:  cfg.MaxBodyBytes,
		headers:  headers,
		now:      cfg.Now,
	}
	if l.timeout == 0 {
		l.timeout = DefaultTimeout
	}
	if l.maxBody == 0 {
		l.maxBody = DefaultMaxBodyBytes
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// Invoke reads the body (413 over the limit, before anything is invoked),
// builds the event, invokes the function with call.Credentials and writes
// its response. See Target for what is returned.
func (l *Lambda) Invoke(ctx context.Context, w http.ResponseWriter, r *http.Request, call Call) (*Outcome, error) {
	if call.Credentials.AccessKeyID == "" || call.Credentials.SecretAccessKey == "" {
		return nil, errors.New("invoke: lambda target: Call.Credentials are empty")
	}
	body, err := readBody(w, r, l.maxBody)
	if err != nil {
		return nil, err
	}
	ev, err := buildEvent(r, body, call, l.now(), &l.headers)
	if err != nil {
		return nil, err
	}
	if traced(ctx) {
		eventTraceContext(ctx, ev.Headers)
	}
	payload, err := encodeEvent(ev)
	if err != nil {
		return nil, fmt.Errorf("invoke: encoding the event: %w", err)
	}
	if len(payload) > MaxPayloadBytes {
		return nil, newError(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "the request is too large",
			fmt.Errorf("event of %d bytes over Lambda's %d-byte payload limit", len(payload), MaxPayloadBytes))
	}

	tctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	out, err := l.client.Invoke(tctx, &lambda.InvokeInput{
		FunctionName:   aws.String(l.function),
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	}, withCredentials(call.Credentials))
	if err != nil {
		e := l.mapError(ctx, tctx, err)
		return &Outcome{Status: e.Status, TargetRequestID: errorRequestID(err)}, e
	}
	oc := &Outcome{}
	oc.TargetRequestID, _ = awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if out.FunctionError != nil {
		oc.FunctionError = *out.FunctionError
		fe := parseFunctionError(l.function, *out.FunctionError, out.Payload)
		e := newError(http.StatusBadGateway, CodeFunctionError, "the function failed", fe)
		if fe.isTimeout() {
			e = newError(http.StatusGatewayTimeout, CodeFunctionTimeout, "the function timed out", fe)
		}
		oc.Status = e.Status
		return oc, e
	}
	cw := &countingWriter{ResponseWriter: w}
	status, err := WriteResponse(cw, out.Payload)
	oc.Bytes = cw.n
	var ie *Error
	if errors.As(err, &ie) {
		oc.Status = ie.Status
		ie.Err = fmt.Errorf("function %s: %w", l.function, ie.Err)
		return oc, ie
	}
	// Any other error is the caller's connection failing after the status
	// was sent: nothing more can be written, and Bytes says how far it got.
	oc.Status = status
	return oc, nil
}

func withCredentials(c aws.Credentials) func(*lambda.Options) {
	return func(o *lambda.Options) {
		o.Credentials = credentials.StaticCredentialsProvider{Value: c}
	}
}

// readBody reads the request body up to max bytes: 413 above it, without
// reading further.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	tooLarge := func(err error) error {
		return newError(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "the request body is too large", err)
	}
	if r.ContentLength > max {
		return nil, tooLarge(fmt.Errorf("Content-Length %d over the %d-byte limit", r.ContentLength, max))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge(fmt.Errorf("body over the %d-byte limit", max))
	case isTimeout(err):
		return nil, newError(http.StatusRequestTimeout, CodeRequestTimeout, "the request body did not arrive in time", err)
	case err != nil && r.Context().Err() != nil:
		return nil, newError(StatusClientClosedRequest, CodeClientClosedRequest, "client closed request", err)
	case err != nil:
		return nil, newError(http.StatusBadRequest, CodeBadRequest, "the request body could not be read", err)
	}
	return body, nil
}

// mapError turns an Invoke failure into the caller's status. parent is the
// request's context, tctx the one bounded by the target's timeout.
func (l *Lambda) mapError(parent, tctx context.Context, err error) *Error {
	err = fmt.Errorf("function %s: %w", l.function, err)
	switch {
	case errors.Is(parent.Err(), context.Canceled):
		return newError(StatusClientClosedRequest, CodeClientClosedRequest, "client closed request", err)
	case errors.Is(tctx.Err(), context.DeadlineExceeded):
		return newError(http.StatusGatewayTimeout, CodeTimeout, "the function did not answer in time", err)
	}
	var (
		tooMany  *types.TooManyRequestsException
		tooLarge *types.RequestTooLargeException
		notFound *types.ResourceNotFoundException
	)
	switch {
	case errors.As(err, &tooMany):
		e := newError(http.StatusTooManyRequests, CodeThrottled, "the function is busy, retry later", err)
		e.RetryAfter = 1
		if tooMany.RetryAfterSeconds != nil {
			if n, perr := strconv.Atoi(*tooMany.RetryAfterSeconds); perr == nil && n > 0 {
				e.RetryAfter = n
			}
		}
		return e
	case errors.As(err, &tooLarge):
		return newError(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "the request is too large", err)
	case errors.As(err, &notFound):
		return newError(http.StatusBadGateway, CodeTargetNotFound, "the target could not be invoked", err)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		switch {
		case code == "AccessDeniedException" || code == "AccessDenied":
			// IAM (or the local host) refused the role: AWS's own access
			// decision, passed on as a denial. The SDK's message names the
			// role and the function, for the log only.
			return newError(http.StatusForbidden, CodeTargetAccessDenied, "AWS denied the granted role access to the target", err)
		case credentialCodes[code]:
			return newError(http.StatusBadGateway, CodeCredentialsRejected, "the target could not be invoked", err)
		case code == "ThrottlingException" || code == "Throttling":
			e := newError(http.StatusTooManyRequests, CodeThrottled, "the function is busy, retry later", err)
			e.RetryAfter = 1
			return e
		case rejectedCodes[code]:
			return newError(http.StatusBadGateway, CodeTargetRejected, "the target could not be invoked", err)
		}
		return newError(http.StatusBadGateway, CodeTargetUnavailable, "the target is unavailable", err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 { // an answer, but not one the SDK knows
		return newError(http.StatusBadGateway, CodeTargetUnavailable, "the target is unavailable", err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return newError(http.StatusGatewayTimeout, CodeTimeout, "the function did not answer in time", err)
	}
	return newError(http.StatusBadGateway, CodeTargetUnreachable, "the target is unreachable", err)
}

// credentialCodes are AWS error codes for a signature or session token the
// service refused.
var credentialCodes = map[string]bool{
	"UnrecognizedClientException": true, "InvalidSignatureException": true, "ExpiredTokenException": true,
	"ExpiredToken": true, "IncompleteSignature": true, "MissingAuthenticationToken": true,
	"InvalidClientTokenId": true, "SignatureDoesNotMatch": true, "RequestExpired": true,
}

// rejectedCodes are Lambda's answers to parameters gatehouse sent: its own
// mistake or a limit, never the caller's.
var rejectedCodes = map[string]bool{
	"InvalidParameterValueException": true, "InvalidRequestContentException": true,
	"UnsupportedMediaTypeException": true, "RecursiveInvocationException": true,
}

// errorRequestID is the AWS request id of a failed call, if it got an
// answer.
func errorRequestID(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.ServiceRequestID()
	}
	return ""
}

// parseFunctionError reads the runtime's error document; a payload that is
// not one is kept, cut short, as the message.
func parseFunctionError(function, kind string, payload []byte) *FunctionError {
	fe := &FunctionError{Function: function, Kind: kind}
	var doc struct {
		ErrorMessage string          `json:"errorMessage"`
		ErrorType    string          `json:"errorType"`
		StackTrace   json.RawMessage `json:"stackTrace"`
	}
	if err := json.Unmarshal(payload, &doc); err != nil {
		fe.Message = truncate(string(payload), 1024)
		return fe
	}
	fe.Type, fe.Message = doc.ErrorType, doc.ErrorMessage
	if len(doc.StackTrace) > 0 && string(doc.StackTrace) != "null" {
		fe.StackTrace = truncate(string(doc.StackTrace), 16<<10)
	}
	return fe
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// countingWriter counts the body bytes written.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// encodeEvent is the event's JSON as API Gateway sends it: like
// json.Marshal of the events type, but without requestContext.authentication
// when there is no client certificate (the events type always writes it,
// and a function could read an empty one as "mutual TLS was used").
func encodeEvent(ev *events.APIGatewayV2HTTPRequest) ([]byte, error) {
	type requestContext struct {
		events.APIGatewayV2HTTPRequestContext
		Authentication *events.APIGatewayV2HTTPRequestContextAuthentication `json:"authentication,omitempty"`
	}
	type event struct {
		*events.APIGatewayV2HTTPRequest
		RequestContext requestContext `json:"requestContext"`
	}
	out := event{APIGatewayV2HTTPRequest: ev, RequestContext: requestContext{APIGatewayV2HTTPRequestContext: ev.RequestContext}}
	if ev.RequestContext.Authentication != (events.APIGatewayV2HTTPRequestContextAuthentication{}) {
		out.RequestContext.Authentication = &ev.RequestContext.Authentication
	}
	return json.Marshal(out)
}
