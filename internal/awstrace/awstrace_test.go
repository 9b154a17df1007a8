package awstrace

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go/middleware"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// lambdaServer answers Invoke with status and body, and keeps the X-Ray
// header of each request.
type lambdaServer struct {
	*httptest.Server
	mu    sync.Mutex
	xrays []string
}

func newLambdaServer(t *testing.T, status int, body string) *lambdaServer {
	s := &lambdaServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.xrays = append(s.xrays, r.Header.Get(HeaderXRay))
		s.mu.Unlock()
		w.Header().Set("X-Amzn-RequestId", "aws-req-1")
		if status != 200 {
			w.Header().Set("X-Amzn-ErrorType", "AccessDeniedException")
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func client(url string, xray bool) *lambda.Client {
	return lambda.New(lambda.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(url), Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "session"),
		APIOptions:  []func(*middleware.Stack) error{Middleware(xray)},
	})
}

func TestLambdaInvokeSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	srv := newLambdaServer(t, 200, `{"ok":true}`)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "invoke")
	_, err := client(srv.URL, true).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("whoami"), Payload: []byte(`{"secret":"caller data"}`)})
	parent.End()
	if err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the call's and its parent's", len(spans))
	}
	s := spans[0]
	if s.Name != "Lambda.Invoke" || s.SpanKind != trace.SpanKindClient || s.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("span %q kind %v parent %v; want Lambda.Invoke, client, child of invoke", s.Name, s.SpanKind, s.Parent.SpanID())
	}
	want := map[attribute.Key]string{"rpc.system": "aws-api", "rpc.service": "Lambda", "rpc.method": "Invoke", "cloud.region": "eu-west-1", "aws.request_id": "aws-req-1", "http.response.status_code": "200"}
	checkAttrs(t, s.Attributes, want)
	xray := srv.xrays[0]
	tid := s.SpanContext.TraceID().String()
	if wantX := "Root=1-" + tid[:8] + "-" + tid[8:] + ";Parent=" + s.SpanContext.SpanID().String() + ";Sampled=1"; xray != wantX {
		t.Errorf("X-Amzn-Trace-Id = %q, want %q", xray, wantX)
	}
}

func TestFailedCallNamesTheCodeOnly(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	srv := newLambdaServer(t, 403, `{"Type":"User","message":"User: arn:aws:sts::123456789012:assumed-role/reader/2d4acc68-9d83-4609-a6f0-96e989303d16 is not authorized"}`)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "invoke")
	_, err := client(srv.URL, false).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("whoami")})
	parent.End()
	if err == nil {
		t.Fatal("no error")
	}
	s := exp.GetSpans()[0]
	checkAttrs(t, s.Attributes, map[attribute.Key]string{"error.type": "AccessDeniedException", "http.response.status_code": "403"})
	for _, a := range s.Attributes {
		if strings.Contains(a.Value.String(), "2d4acc68") {
			t.Errorf("attribute %s carries the message: %s", a.Key, a.Value.String())
		}
	}
	if len(s.Events) != 0 || s.Status.Description != "" {
		t.Errorf("events %v, status %q: want none, no description", s.Events, s.Status.Description)
	}
	if x := srv.xrays[0]; x != "" {
		t.Errorf("X-Ray header %q without the option", x)
	}
}

func TestNoSpanNoTrace(t *testing.T) {
	srv := newLambdaServer(t, 200, `{}`)
	if _, err := client(srv.URL, true).Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("whoami")}); err != nil {
		t.Fatal(err)
	}
	if x := srv.xrays[0]; x != "" {
		t.Errorf("X-Ray header %q with no trace in the context", x)
	}
}

func TestUnsampledTraceStillPropagates(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	srv := newLambdaServer(t, 200, `{}`)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "invoke")
	defer parent.End()
	if _, err := client(srv.URL, true).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("whoami")}); err != nil {
		t.Fatal(err)
	}
	if x, want := srv.xrays[0], XRayHeader(parent.SpanContext()); x != want || !strings.HasSuffix(x, ";Sampled=0") {
		t.Errorf("X-Amzn-Trace-Id = %q, want %q (not sampled)", x, want)
	}
}

func checkAttrs(t *testing.T, attrs []attribute.KeyValue, want map[attribute.Key]string) {
	t.Helper()
	got := map[attribute.Key]string{}
	for _, a := range attrs {
		got[a.Key] = a.Value.String()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, got[k], v)
		}
	}
}
