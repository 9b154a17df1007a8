package invoke

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// Captured events (testdata/README.md says where they come from) survive a
// round trip through the events types, as aws-lambda-go's own tests check.
func TestCapturedEventsRoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/apigw-v2-request-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured events: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw := readCapture(t, file)
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(&ev)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(jsonValue(t, raw), jsonValue(t, out)); diff != "" {
				t.Errorf("round trip (-captured +re-encoded):\n%s", diff)
			}
		})
	}
}

func readCapture(t *testing.T, file string) []byte {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func loadCapture(t *testing.T, file string) *events.APIGatewayV2HTTPRequest {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(readCapture(t, file), &ev); err != nil {
		t.Fatal(err)
	}
	return &ev
}

// apiGatewayOnly replaces, in a captured event, what only API Gateway's own
// configuration decides (API id, mutual TLS, stage variables) with what
// gatehouse's event says, so the rest can be compared field by field.
func apiGatewayOnly(captured, got *events.APIGatewayV2HTTPRequest) {
	captured.RequestContext.APIID = got.RequestContext.APIID
	captured.RequestContext.Authentication = got.RequestContext.Authentication
	captured.StageVariables = got.StageVariables
}

// BuildEvent, given the request API Gateway received (curl, no authorizer),
// produces the event API Gateway produced.
func TestBuildEventMatchesCapturedRequest(t *testing.T) {
	captured := loadCapture(t, "testdata/apigw-v2-request-no-authorizer.json")

	r := testRequest("GET", "https://aaaaaaaaaa.execute-api.us-west-2.amazonaws.com/", nil)
	r.RemoteAddr = "1.2.3.4:41234"
	r.Header = http.Header{}
	r.Header.Set("Accept", "*/*")
	r.Header.Set("Content-Length", "0")
	r.Header.Set("User-Agent", "curl/7.58.0")
	r.Header.Set("X-Amzn-Trace-Id", "Root=1-5e9f0c65-1de4d666d4dd26aced652b6c")
	r.Header.Set("X-Forwarded-For", "203.0.113.66") // the caller's claim, replaced
	r.TLS = &tls.ConnectionState{}
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 443}))

	call := testCall()
	call.RouteKey, call.PathParameters, call.RawPath = "", nil, "/"
	call.Host = "aaaaaaaaaa.execute-api.us-west-2.amazonaws.com"
	call.RequestID = "LV7fzho-PHcEJPw="
	call.Credentials.AccountID = "123456789012"
	got, err := BuildEvent(r, nil, call, time.UnixMilli(1587481701067))
	if err != nil {
		t.Fatal(err)
	}
	apiGatewayOnly(captured, got)
	captured.RequestContext.Authorizer = got.RequestContext.Authorizer // none in the capture; tested elsewhere
	if diff := cmp.Diff(captured, got); diff != "" {
		t.Errorf("BuildEvent differs from the captured event (-captured +got):\n%s", diff)
	}
}

// With a JWT authorizer, the claims and scopes sit where API Gateway puts
// them; the query, cookies, path parameters and body match the capture.
func TestBuildEventMatchesCapturedJWTAuthorizer(t *testing.T) {
	captured := loadCapture(t, "testdata/apigw-v2-request-jwt-authorizer.json")

	r := testRequest("GET", "https://id.execute-api.us-east-1.amazonaws.com/my/path?parameter1=value1&parameter1=value2&parameter2=value", nil)
	r.RemoteAddr = "IP"
	r.Header = http.Header{}
	r.Header.Set("Header1", "value1")
	r.Header.Set("Header2", "value2")
	r.Header.Set("Cookie", "cookie1; cookie2")
	r.Header.Set("User-Agent", "agent")
	r.Header.Set("Authorization", "Bearer "+testToken)
	body := []byte("{\r\n\t\"a\": 1\r\n}")

	call := testCall()
	call.Principal = &authn.Principal{
		Subject: "s", Kind: authn.KindUser, Scopes: []string{"scope1", "scope2"},
		Claims: map[string]any{"claim1": "value1", "claim2": "value2"},
	}
	call.RouteKey, call.RawPath, call.RequestID = "", "/my/path", "id"
	call.Host = "id.execute-api.us-east-1.amazonaws.com"
	call.PathParameters = map[string]string{"proxy": "hello/world"}
	call.Credentials.AccountID = "123456789012"
	// The capture's own headers, which a route passes by name.
	hp, err := NewHeaderPolicy([]string{"Header1", "Header2"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := buildEvent(r, body, call, testNow, &hp)
	if err != nil {
		t.Fatal(err)
	}
	apiGatewayOnly(captured, got)
	// The capture's time fields disagree with each other (a hand-edited
	// sample); the time format is checked against the other capture.
	captured.RequestContext.Time, captured.RequestContext.TimeEpoch = got.RequestContext.Time, got.RequestContext.TimeEpoch
	// Its headers keep their case (also hand-edited: API Gateway
	// lower-cases names); gatehouse adds host and x-forwarded-*.
	for name, value := range captured.Headers {
		if got.Headers[strings.ToLower(name)] != value {
			t.Errorf("header %s = %q, want %q", strings.ToLower(name), got.Headers[strings.ToLower(name)], value)
		}
	}
	captured.Headers = got.Headers
	// The envelope is gatehouse's addition beside the claims.
	captured.RequestContext.Authorizer.Lambda = got.RequestContext.Authorizer.Lambda
	if diff := cmp.Diff(captured, got); diff != "" {
		t.Errorf("BuildEvent differs from the captured event (-captured +got):\n%s", diff)
	}
}
