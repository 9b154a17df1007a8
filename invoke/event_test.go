package invoke

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/authn"
)

const testToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdWItMSJ9.c2lnbmF0dXJl"

var testNow = time.Date(2024, time.March, 12, 19, 3, 58, 0, time.UTC)

func testPrincipal() *authn.Principal {
	return &authn.Principal{
		IssuerName: "entra",
		Issuer:     "https://login.microsoftonline.com/tid-1/v2.0",
		Subject:    "oid-1",
		Tenant:     "tid-1",
		Kind:       authn.KindUser,
		App:        "client-app",
		Groups:     []string{"g1", "g2"},
		Roles:      []string{"Reader"},
		Scopes:     []string{"access_as_user", "reports.read"},
		Actors:     []authn.Actor{{Subject: "agent-sp", App: "agent-app", Via: authn.ActorViaAct}},
		Claims: map[string]any{
			"iss":    "https://login.microsoftonline.com/tid-1/v2.0",
			"sub":    "sub-1",
			"oid":    "oid-1",
			"tid":    "tid-1",
			"scp":    "access_as_user reports.read",
			"groups": []any{"g1", "g2"},
			"roles":  []any{"Reader"},
			"exp":    float64(1710270238),
			"act":    map[string]any{"sub": "agent-sp"},
			"xms_cc": nil,
		},
	}
}

func testCall() Call {
	return Call{
		Principal: testPrincipal(),
		Credentials: aws.Credentials{
			AccessKeyID: "ASIATESTKEY", SecretAccessKey: "secret", SessionToken: "session",
		},
		Role:           "reports-reader",
		RoleSession:    "arn:aws:sts::123456789012:assumed-role/gatehouse-reports-reader/gh-oid-1",
		Policies:       []string{"reports.read"},
		RequestID:      "gh-req-1",
		RouteKey:       "POST /reports/{id}",
		PathParameters: map[string]string{"id": "42"},
		RawPath:        "/reports/42",
		Host:           "api.example.test",
	}
}

// testRequest is a request as the gateway's http.Server hands it over.
func testRequest(method, target string, body []byte) *http.Request {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	r.RemoteAddr = "192.0.2.10:50123"
	r.Header.Set("User-Agent", "curl/8.5")
	return r
}

func TestBuildEventMapsTheRequest(t *testing.T) {
	r := testRequest("POST", "https://api.example.test/reports/42?dry=1&tag=a&tag=b&empty=", []byte(`{"run":true}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Add("X-Multi", "v1")
	r.Header.Add("X-Multi", "v2")
	r.Header.Add("Cookie", "sid=abc; theme=dark")
	r.Header.Add("Cookie", "lang=en")
	r.Header.Set("Authorization", "Bearer "+testToken)
	r.Header.Set("X-Request-Id", "client-chosen") // the gateway's own id is requestContext.requestId: a caller's is dropped

	hp, err := NewHeaderPolicy([]string{"X-Multi"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := buildEvent(r, []byte(`{"run":true}`), testCall(), testNow, &hp)
	if err != nil {
		t.Fatal(err)
	}
	want := &events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "POST /reports/{id}",
		RawPath:        "/reports/42",
		RawQueryString: "dry=1&tag=a&tag=b&empty=",
		Cookies:        []string{"sid=abc", "theme=dark", "lang=en"},
		Headers: map[string]string{
			"content-type":      "application/json",
			"content-length":    "12",
			"user-agent":        "curl/8.5",
			"x-multi":           "v1,v2",
			"host":              "api.example.test",
			"x-forwarded-for":   "192.0.2.10",
			"x-forwarded-proto": "https",
			"x-forwarded-port":  "443",
		},
		QueryStringParameters: map[string]string{"dry": "1", "tag": "a,b", "empty": ""},
		PathParameters:        map[string]string{"id": "42"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "POST /reports/{id}",
			AccountID:    "123456789012",
			Stage:        "$default",
			RequestID:    "gh-req-1",
			APIID:        "gatehouse",
			DomainName:   "api.example.test",
			DomainPrefix: "api",
			Time:         "12/Mar/2024:19:03:58 +0000",
			TimeEpoch:    1710270238000,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: "POST", Path: "/reports/42", Protocol: "HTTP/1.1", SourceIP: "192.0.2.10", UserAgent: "curl/8.5",
			},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
					Claims: map[string]string{
						"iss":    "https://login.microsoftonline.com/tid-1/v2.0",
						"sub":    "sub-1",
						"oid":    "oid-1",
						"tid":    "tid-1",
						"scp":    "access_as_user reports.read",
						"groups": "[g1 g2]",
						"roles":  "[Reader]",
						"exp":    "1710270238",
						"act":    "map[sub:agent-sp]",
					},
					Scopes: []string{"access_as_user", "reports.read"},
				},
				Lambda: map[string]any{"gatehouse": Envelope{
					Version:     1,
					Principal:   "oid-1",
					Issuer:      "https://login.microsoftonline.com/tid-1/v2.0",
					Tenant:      "tid-1",
					Kind:        "user",
					App:         "client-app",
					Groups:      []string{"g1", "g2"},
					Roles:       []string{"Reader"},
					Scopes:      []string{"access_as_user", "reports.read"},
					Agents:      []Agent{{Subject: "agent-sp", App: "agent-app", Via: "act"}},
					Role:        "reports-reader",
					RoleSession: "arn:aws:sts::123456789012:assumed-role/gatehouse-reports-reader/gh-oid-1",
					Policies:    []string{"reports.read"},
					RequestID:   "gh-req-1",
				}},
			},
		},
		Body: `{"run":true}`,
	}
	if diff := cmp.Diff(want, ev); diff != "" {
		t.Errorf("BuildEvent mismatch (-want +got):\n%s", diff)
	}
}

func TestBuildEventNeverCarriesTheToken(t *testing.T) {
	r := testRequest("GET", "https://api.example.test/reports/42", nil)
	r.Header.Set("Authorization", "Bearer "+testToken)
	r.Header.Set("Proxy-Authorization", "Basic "+testToken)
	ev, err := BuildEvent(r, nil, testCall(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	for name := range ev.Headers {
		if name == "authorization" || name == "proxy-authorization" {
			t.Errorf("event headers carry %s", name)
		}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range strings.Split(testToken, ".") {
		if bytes.Contains(b, []byte(part)) {
			t.Errorf("event JSON contains part of the raw token %q", part)
		}
	}
}

func TestBuildEventStripsIdentityAndForwardingHeaders(t *testing.T) {
	spoofed := []string{
		"X-Gatehouse-User", "x-gatehouse-principal", "X_Gatehouse_Tenant", "X-Amzn-Oidc-Data",
		"X-Amzn-Oidc-Identity", "x_amzn_oidc_accesstoken", "X-Forwarded-User", "X-Forwarded-Email",
		"X-Forwarded-Access-Token", "X-Forwarded-Host", "X-Forwarded-For", "X_Forwarded_Proto", "Forwarded",
		"X-Real-Ip", "X-Remote-User", "Remote-User", "Remote-Groups", "X-Auth-Request-User",
		"X-Ms-Client-Principal", "X-Ms-Client-Principal-Id", "X-Ms-Token-Aad-Access-Token",
		"X-Goog-Authenticated-User-Email", "X-Goog-Iap-Jwt-Assertion", "Cf-Access-Jwt-Assertion",
		"X-Pomerium-Jwt-Assertion", "X-Original-Url", "X-Apigateway-Event",
	}
	spoofed = append(spoofed, probeFoundHeaders...)
	r := testRequest("GET", "http://127.0.0.1:8443/reports/42", nil)
	for _, name := range spoofed {
		r.Header[name] = []string{"spoofed"} // exactly as sent, no canonicalisation
	}
	r.Header.Set("Connection", "keep-alive, X-Hop")
	r.Header.Set("X-Hop", "hop")
	r.Header.Set("Keep-Alive", "timeout=5")
	r.Header.Set("Upgrade", "h2c")
	r.Header.Set("X-Custom", "not passed: no route named it")
	r.Header.Set("Accept-Language", "de")
	r.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	r.Host = "evil.example" // the caller's: the event says the configured host
	call := testCall()
	call.Host = "127.0.0.1:8443"
	ev, err := BuildEvent(r, nil, call, testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"user-agent":        "curl/8.5",
		"accept-language":   "de",
		"traceparent":       "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"host":              "127.0.0.1:8443",
		"x-forwarded-for":   "192.0.2.10",
		"x-forwarded-proto": "http",
		"x-forwarded-port":  "8443",
	}
	if diff := cmp.Diff(want, ev.Headers); diff != "" {
		t.Errorf("event headers (-want +got):\n%s", diff)
	}
	if ev.RequestContext.DomainPrefix != "127.0.0.1" {
		t.Errorf("domainPrefix = %q, want the IP address", ev.RequestContext.DomainPrefix)
	}
}

func TestBuildEventBodies(t *testing.T) {
	png := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0x0d}
	latin1 := []byte("caf\xe9")
	tests := []struct {
		name        string
		contentType string
		body        []byte
		wantBase64  bool
	}{
		{"json", "application/json", []byte(`{"a":1}`), false},
		{"json with charset", "application/json; charset=utf-8", []byte(`{"a":1}`), false},
		{"problem json", "application/problem+json", []byte(`{"a":1}`), false},
		{"form", "application/x-www-form-urlencoded", []byte("a=1&b=2"), false},
		{"text", "text/plain", []byte("héllo"), false},
		{"no content type, UTF-8", "", []byte("{\r\n\t\"a\": 1\r\n}"), false},
		{"png", "image/png", png, true},
		{"octet stream of text", "application/octet-stream", []byte("hello"), true},
		{"multipart", "multipart/form-data; boundary=x", []byte("--x\r\n\r\nv\r\n--x--"), true},
		{"text but not UTF-8", "text/plain", latin1, true},
		{"no content type, not UTF-8", "", latin1, true},
		{"malformed content type", "text/plain; ===", []byte("hi"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRequest("POST", "https://api.example.test/upload", tt.body)
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			ev, err := BuildEvent(r, tt.body, testCall(), testNow)
			if err != nil {
				t.Fatal(err)
			}
			if ev.IsBase64Encoded != tt.wantBase64 {
				t.Fatalf("isBase64Encoded = %v, want %v", ev.IsBase64Encoded, tt.wantBase64)
			}
			got := []byte(ev.Body)
			if ev.IsBase64Encoded {
				if got, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, tt.body) {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		ev, err := BuildEvent(testRequest("GET", "https://api.example.test/", nil), nil, testCall(), testNow)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(ev)
		if ev.Body != "" || ev.IsBase64Encoded || bytes.Contains(b, []byte(`"body"`)) {
			t.Errorf("empty body: body %q, isBase64Encoded %v; want omitted", ev.Body, ev.IsBase64Encoded)
		}
	})
}

func TestFlattenClaimAsAPIGateway(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"string", "alice", "alice"},
		{"NumericDate", float64(1710270238), "1710270238"},
		{"large integer", float64(12345678901234), "12345678901234"},
		{"fraction", 1.5, "1.5"},
		{"json.Number", json.Number("1710270238"), "1710270238"},
		{"true", true, "true"},
		{"false", false, "false"},
		{"array of strings", []any{"a", "b"}, "[a b]"},
		{"one-element array", []any{"Reader"}, "[Reader]"},
		{"empty array", []any{}, "[]"},
		{"array of numbers", []any{float64(1), float64(2)}, "[1 2]"},
		{"object, keys sorted", map[string]any{"sub": "x", "iss": "y"}, "map[iss:y sub:x]"},
		{"nested", map[string]any{"act": map[string]any{"sub": "a"}, "l": []any{"p", nil}}, "map[act:map[sub:a] l:[p <nil>]]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FlattenClaim(tt.in); got != tt.want {
				t.Errorf("FlattenClaim(%#v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestBuildEventScopes(t *testing.T) {
	tests := []struct {
		name   string
		kind   authn.Kind
		scopes []string
		want   string // the JSON of requestContext.authorizer.jwt.scopes, "" if omitted
	}{
		{"user token", authn.KindUser, []string{"a", "b"}, `["a","b"]`},
		{"user token without scopes", authn.KindUser, nil, ""},
		{"app token", authn.KindApp, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := testCall()
			call.Principal.Kind, call.Principal.Scopes = tt.kind, tt.scopes
			ev, err := BuildEvent(testRequest("GET", "https://api.example.test/", nil), nil, call, testNow)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if s := ev.RequestContext.Authorizer.JWT.Scopes; s != nil {
				b, _ := json.Marshal(s)
				got = string(b)
			}
			if got != tt.want {
				t.Errorf("scopes = %s, want %s", got, tt.want)
			}
		})
	}
}

// The envelope's lists are JSON arrays (never strings, never null), so a
// function can read them without parsing API Gateway's flattening.
func TestEnvelopeHasRealArrays(t *testing.T) {
	call := testCall()
	call.Principal.Groups, call.Principal.GroupsOverage = nil, true
	call.Principal.Actors = nil
	call.Policies = nil
	ev, err := BuildEvent(testRequest("GET", "https://api.example.test/", nil), nil, call, testNow)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		RequestContext struct {
			Authorizer struct {
				Lambda map[string]any `json:"lambda"`
			} `json:"authorizer"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"gatehouse": map[string]any{
			"version":        float64(1),
			"principal":      "oid-1",
			"issuer":         "https://login.microsoftonline.com/tid-1/v2.0",
			"tenant":         "tid-1",
			"kind":           "user",
			"app":            "client-app",
			"groups":         []any{},
			"groups_overage": true,
			"roles":          []any{"Reader"},
			"scopes":         []any{"access_as_user", "reports.read"},
			"agents":         []any{},
			"role":           "reports-reader",
			"role_session":   "arn:aws:sts::123456789012:assumed-role/gatehouse-reports-reader/gh-oid-1",
			"policies":       []any{},
			"request_id":     "gh-req-1",
		},
	}
	if diff := cmp.Diff(want, doc.RequestContext.Authorizer.Lambda); diff != "" {
		t.Errorf("requestContext.authorizer.lambda (-want +got):\n%s", diff)
	}
}

// An event survives JSON and the events types unchanged, and a function
// reading it with aws-lambda-go gets the envelope back with ReadEnvelope.
func TestBuildEventRoundTripsThroughEventsTypes(t *testing.T) {
	r := testRequest("PUT", "https://api.example.test/reports/42?q=1", []byte{0xff, 0xfe})
	r.Header.Set("Content-Type", "application/octet-stream")
	r.Header.Set("Cookie", "a=1")
	ev, err := BuildEvent(r, []byte{0xff, 0xfe}, testCall(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	first, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var decoded events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(first, &decoded); err != nil {
		t.Fatal(err)
	}
	second, err := json.Marshal(&decoded)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jsonValue(t, first), jsonValue(t, second)); diff != "" {
		t.Errorf("round trip changed the event (-first +second):\n%s", diff)
	}
	got, err := ReadEnvelope(&decoded)
	if err != nil {
		t.Fatal(err)
	}
	want := newEnvelope(testCall())
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("ReadEnvelope (-want +got):\n%s", diff)
	}
	if got, err := ReadEnvelope(ev); err != nil || got.Principal != "oid-1" {
		t.Errorf("ReadEnvelope(typed) = %v, %v", got, err)
	}
}

func TestReadEnvelopeRefusesOthers(t *testing.T) {
	tests := []struct {
		name string
		ev   events.APIGatewayV2HTTPRequest
	}{
		{"no authorizer", events.APIGatewayV2HTTPRequest{}},
		{"another lambda authorizer", events.APIGatewayV2HTTPRequest{RequestContext: events.APIGatewayV2HTTPRequestContext{
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: map[string]any{"key": "value"}}}}},
		{"another version", events.APIGatewayV2HTTPRequest{RequestContext: events.APIGatewayV2HTTPRequestContext{
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: map[string]any{"gatehouse": map[string]any{"version": 2}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if env, err := ReadEnvelope(&tt.ev); err == nil {
				t.Errorf("ReadEnvelope = %+v, want an error", env)
			}
		})
	}
}

func TestBuildEventRefuses(t *testing.T) {
	noPrincipal := testCall()
	noPrincipal.Principal = nil
	noPath := testCall()
	noPath.RawPath = ""
	tests := []struct {
		name       string
		target     string
		call       Call
		wantStatus int // 0: a plain error (the gateway's programming mistake)
	}{
		{"malformed query escape", "https://api.example.test/r?a=%zz", testCall(), 400},
		{"semicolon in query", "https://api.example.test/r?a=1;b=2", testCall(), 400},
		{"no principal", "https://api.example.test/r", noPrincipal, 0},
		{"no raw path", "https://api.example.test/r", noPath, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := BuildEvent(testRequest("GET", tt.target, nil), nil, tt.call, testNow)
			if err == nil {
				t.Fatalf("BuildEvent = %+v, want an error", ev)
			}
			var ie *Error
			if got := errors.As(err, &ie); got != (tt.wantStatus != 0) {
				t.Fatalf("BuildEvent error %v: *Error %v, want %v", err, got, tt.wantStatus != 0)
			}
			if ie != nil && (ie.Status != tt.wantStatus || ie.Code != CodeBadRequest) {
				t.Errorf("BuildEvent error = %d %s, want %d %s", ie.Status, ie.Code, tt.wantStatus, CodeBadRequest)
			}
		})
	}
}

func TestBuildEventAccountAndStage(t *testing.T) {
	call := testCall()
	call.Credentials.AccountID = "210987654321"
	call.Stage = "prod"
	call.RouteKey = ""
	ev, err := BuildEvent(testRequest("GET", "https://api.example.test/", nil), nil, call, testNow)
	if err != nil {
		t.Fatal(err)
	}
	rc := ev.RequestContext
	if rc.AccountID != "210987654321" || rc.Stage != "prod" || rc.RouteKey != "$default" || ev.RouteKey != "$default" {
		t.Errorf("accountId %q stage %q routeKey %q/%q, want 210987654321 prod $default", rc.AccountID, rc.Stage, rc.RouteKey, ev.RouteKey)
	}
	call.Credentials.AccountID = ""
	call.RoleSession = "gh-session-name"
	if ev, _ = BuildEvent(testRequest("GET", "https://api.example.test/", nil), nil, call, testNow); ev.RequestContext.AccountID != "" {
		t.Errorf("accountId = %q from a session name, want empty", ev.RequestContext.AccountID)
	}
}

// jsonValue decodes JSON for a comparison that ignores member order.
func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return v
}
