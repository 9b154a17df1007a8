package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpCollector is an OTLP/HTTP receiver: it decodes each
// ExportTraceServiceRequest (protobuf, gzipped or not) and keeps its spans.
type otlpCollector struct {
	*httptest.Server
	mu    sync.Mutex
	spans []otlpSpan
}

type otlpSpan struct {
	TraceID, SpanID, ParentID string
	Name                      string
	Kind                      tracepb.Span_SpanKind
	Attrs                     map[string]string
	Service                   string
	Texts                     []string // name, attribute values, event names, status message
}

func newOTLPCollector(t *testing.T) *otlpCollector {
	c := &otlpCollector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not an OTLP/HTTP trace export", http.StatusNotFound)
			return
		}
		var body io.Reader = http.MaxBytesReader(w, r.Body, 16<<20)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.add(&req)
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *otlpCollector) add(req *coltracepb.ExportTraceServiceRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				sp := otlpSpan{TraceID: hex.EncodeToString(s.TraceId), SpanID: hex.EncodeToString(s.SpanId),
					ParentID: hex.EncodeToString(s.ParentSpanId), Name: s.Name, Kind: s.Kind, Service: service,
					Attrs: map[string]string{}, Texts: []string{s.Name, s.GetStatus().GetMessage()}}
				for _, a := range s.Attributes {
					v := anyValue(a.Value)
					sp.Attrs[a.Key] = v
					sp.Texts = append(sp.Texts, v)
				}
				for _, e := range s.Events {
					sp.Texts = append(sp.Texts, e.Name)
					for _, a := range e.Attributes {
						sp.Texts = append(sp.Texts, anyValue(a.Value))
					}
				}
				c.spans = append(c.spans, sp)
			}
		}
	}
}

func anyValue(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// trace waits until the trace of the request span with request id id has
// all of names, and returns its spans by name.
func (c *otlpCollector) trace(t *testing.T, requestID string, names ...string) map[string]otlpSpan {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.mu.Lock()
		traceID := ""
		for _, s := range c.spans {
			if s.Attrs["gatehouse.request_id"] == requestID && s.Kind == tracepb.Span_SPAN_KIND_SERVER {
				traceID = s.TraceID
			}
		}
		byName := map[string]otlpSpan{}
		for _, s := range c.spans {
			if traceID != "" && s.TraceID == traceID {
				if _, dup := byName[s.Name]; dup {
					t.Errorf("two spans named %s in trace %s", s.Name, traceID)
				}
				byName[s.Name] = s
			}
		}
		c.mu.Unlock()
		missing := ""
		for _, n := range names {
			if _, ok := byName[n]; !ok {
				missing = n
			}
		}
		if traceID != "" && missing == "" {
			return byName
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete trace for request %s after 20s (trace %q, missing %q; have %v)", requestID, traceID, missing, keys(byName))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *otlpCollector) all() []otlpSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]otlpSpan(nil), c.spans...)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// startDevTraced runs `gatehouse dev` with tracing to the collector.
func startDevTraced(t *testing.T, collector string) *devProcess {
	t.Helper()
	cfg, _, _ := run(t, "", "dev", "--print-config")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cfg = strings.ReplaceAll(cfg, "package: examples/", "package: "+filepath.Join(root, "examples")+"/")
	cfg += "telemetry:\n  tracing:\n    exporter: otlp_http\n    endpoint: " + collector + "\n    sample_ratio: 1\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startDevConfig(t, filepath.Join(dir, "state"), path)
}

// callerTrace is a trace context the caller sends: gatehouse, which does
// not trust callers' traces by default, must start its own.
const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"

func tracedCall(t *testing.T, c *http.Client, method, url, bearer string) gwResponse {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	req.Header.Set("Baggage", "user=alice@contoso.example")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return gwResponse{resp.StatusCode, resp.Header, string(b)}
}

// TestTracing: `gatehouse dev` with tracing on, exporting over OTLP/HTTP to
// a collector double. A call to a Lambda route is one trace: the request's
// span, the five steps as its children, the STS call under creds and the
// Lambda call under invoke; the function's event carries that trace's
// traceparent (and its invocation the X-Ray header); the audit event holds
// the trace id; no span names the caller. A call to the HTTP upstream
// carries gatehouse's traceparent, not the caller's; a refusal's log line
// names its request and trace.
func TestTracing(t *testing.T) {
	col := newOTLPCollector(t)
	d := startDevTraced(t, col.URL)
	c := gatewayClient(t, d)
	gw := d.ready.Gateway
	alice, bob := token(t, d.stateDir, "--user", "alice"), token(t, d.stateDir, "--user", "bob")

	// A Lambda route.
	r := tracedCall(t, c, "GET", gw+"/whoami", alice)
	if r.status != 200 {
		t.Fatalf("alice GET /whoami: %d %s", r.status, r.body)
	}
	reqID := r.header.Get("X-Request-Id")
	spans := col.trace(t, reqID, "GET /whoami", "authn", "authz", "creds", "invoke", "audit", "STS.AssumeRoleWithWebIdentity", "Lambda.Invoke")
	root := spans["GET /whoami"]
	if root.ParentID != "" || root.TraceID == callerTrace {
		t.Errorf("request span: parent %q in trace %s; want the root of a trace of gatehouse's own", root.ParentID, root.TraceID)
	}
	if root.Service != "gatehouse" {
		t.Errorf("service.name %q", root.Service)
	}
	for _, step := range []string{"authn", "authz", "creds", "invoke", "audit"} {
		if spans[step].ParentID != root.SpanID {
			t.Errorf("%s: parent %s, want the request span %s", step, spans[step].ParentID, root.SpanID)
		}
	}
	if sts := spans["STS.AssumeRoleWithWebIdentity"]; sts.ParentID != spans["creds"].SpanID || sts.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("STS call: parent %s kind %v, want a client span under creds (%s)", sts.ParentID, sts.Kind, spans["creds"].SpanID)
	}
	lambdaCall := spans["Lambda.Invoke"]
	if lambdaCall.ParentID != spans["invoke"].SpanID || lambdaCall.Attrs["rpc.service"] != "Lambda" {
		t.Errorf("Lambda call: parent %s attrs %v, want Lambda's client span under invoke", lambdaCall.ParentID, lambdaCall.Attrs)
	}
	for k, want := range map[string]string{"http.route": "/whoami", "gatehouse.route": "whoami", "gatehouse.decision": "allow",
		"gatehouse.role": "reader", "http.response.status_code": "200", "gatehouse.principal_kind": "user"} {
		if got := root.Attrs[k]; got != want {
			t.Errorf("request span %s = %q, want %q", k, got, want)
		}
	}
	var who struct {
		Traceparent string `json:"traceparent"`
		XRay        string `json:"xrayTraceId"`
	}
	if err := json.Unmarshal([]byte(r.body), &who); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(who.Traceparent, "00-"+root.TraceID+"-") {
		t.Errorf("the function's event traceparent %q, want one of trace %s", who.Traceparent, root.TraceID)
	}
	if want := "Root=1-" + root.TraceID[:8] + "-" + root.TraceID[8:] + ";Parent=" + lambdaCall.SpanID; !strings.HasPrefix(who.XRay, want) {
		t.Errorf("the invocation's X-Ray header %q, want %q…", who.XRay, want)
	}

	// The audit event holds the trace id.
	out, errOut, code := run(t, "", "audit", "query", "--state-dir", d.stateDir, "--format", "json")
	if code != 0 {
		t.Fatalf("audit query: exit %d %s", code, errOut)
	}
	found := false
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var ev struct {
			RequestID string `json:"request_id"`
			TraceID   string `json:"trace_id"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.RequestID == reqID {
			found = true
			if ev.TraceID != root.TraceID {
				t.Errorf("audit event trace_id %q, want %s", ev.TraceID, root.TraceID)
			}
		}
	}
	if !found {
		t.Errorf("no audit event for request %s:\n%s", reqID, out)
	}

	// An HTTP upstream gets gatehouse's traceparent, not the caller's, and
	// no baggage.
	r = tracedCall(t, c, "GET", gw+"/api/reports/7?owner=alice@contoso.example", bob)
	var v upstreamView
	if err := json.Unmarshal([]byte(r.body), &v); err != nil || r.status != 200 {
		t.Fatalf("bob GET /api/reports/7: %d %s", r.status, r.body)
	}
	spans = col.trace(t, r.header.Get("X-Request-Id"), "GET /api/{rest...}", "authn", "authz", "invoke", "audit", "GET")
	up := spans["GET"]
	if got := v.Headers["Traceparent"]; len(got) != 1 || got[0] != "00-"+up.TraceID+"-"+up.SpanID+"-01" {
		t.Errorf("upstream traceparent %q, want gatehouse's upstream call span 00-%s-%s-01", got, up.TraceID, up.SpanID)
	}
	if up.ParentID != spans["invoke"].SpanID || up.Attrs["server.address"] != "127.0.0.1" {
		t.Errorf("upstream call span: parent %s attrs %v", up.ParentID, up.Attrs)
	}

	// A refusal's log line names its request and trace.
	dave := token(t, d.stateDir, "--user", "dave")
	r = tracedCall(t, c, "GET", gw+"/whoami", dave)
	if r.status != 403 {
		t.Fatalf("dave: %d, want 403", r.status)
	}
	spans = col.trace(t, r.header.Get("X-Request-Id"), "GET /whoami", "authn", "authz", "audit")
	if _, ok := spans["creds"]; ok {
		t.Error("a denied request has a creds span")
	}
	logged := false
	for line := range strings.SplitSeq(d.stderr.String(), "\n") {
		var l struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
			TraceID   string `json:"trace_id"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.RequestID == r.header.Get("X-Request-Id") {
			logged = true
			if l.TraceID != spans["GET /whoami"].TraceID {
				t.Errorf("log line %q: trace_id %q, want %s", l.Msg, l.TraceID, spans["GET /whoami"].TraceID)
			}
		}
	}
	if !logged {
		t.Errorf("no log line names dave's request %s:\n%s", r.header.Get("X-Request-Id"), d.stderr.String())
	}

	// No span anywhere names the callers or carries their tokens.
	for _, s := range col.all() {
		for _, text := range s.Texts {
			for _, personal := range []string{alice, bob, dave, "alice@contoso.example", "Alice Example", "bob@", "dave@",
				"2d4acc68-9d83-4609-a6f0-96e989303d16", "1ee840e4-61de-4634-b1e6-1e29799b084f", "owner="} {
				if strings.Contains(text, personal) {
					t.Errorf("span %s carries %q: %s", s.Name, shorten(personal), shorten(text))
				}
			}
		}
	}
	if bytes.Contains([]byte(d.stderr.String()), []byte(alice)) {
		t.Error("the log holds a token")
	}
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
