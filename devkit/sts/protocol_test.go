package sts

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"
)

// post sends a raw form to the fixture.
func (f *fixture) post(t *testing.T, method, path, contentType, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(callContext(t), method, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// elementPaths lists the element paths of an XML document
// ("{ns}Root/Child/..."), sorted, without duplicates: its shape.
func elementPaths(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var stack, paths []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, doc)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			name := e.Name.Local
			if len(stack) == 0 {
				name = "{" + e.Name.Space + "}" + name
			}
			stack = append(stack, name)
			paths = append(paths, strings.Join(stack, "/"))
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWireShapes compares this STS's bodies with captured STS payloads:
// same elements, nesting and namespace; request id in header and body.
func TestWireShapes(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	f := newFixture(t, iss, []Role{{Name: "gatehouse-reader", TrustPolicy: iss.policy(allowWebIdentity)}})
	form := url.Values{
		"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"},
		"RoleArn": {roleARN("gatehouse-reader")}, "RoleSessionName": {"ada"},
		"WebIdentityToken": {iss.token(map[string]any{claimSourceIdentity: "ada"})},
		"Policy":           {`{"Statement":[{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"*"}]}`},
	}
	resp, body := f.post(t, http.MethodPost, "/", "application/x-www-form-urlencoded; charset=utf-8", form.Encode())
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml" {
		t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// The captured payload predates SessionTokenSize and
	// SessionTokenUtilization (STS and SDK v1.51.0, 2026-09).
	const result = "{" + namespace + "}AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult"
	want := append(elementPaths(t, readTestdata(t, "assume_role_with_web_identity_response.xml")),
		result+"/SessionTokenSize", result+"/SessionTokenUtilization")
	slices.Sort(want)
	if d := cmp.Diff(want, elementPaths(t, body)); d != "" {
		t.Errorf("AssumeRoleWithWebIdentity response shape differs from STS's (-sts +ours):\n%s", d)
	}
	var ok struct {
		Expiration string `xml:"AssumeRoleWithWebIdentityResult>Credentials>Expiration"`
		RequestID  string `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.Unmarshal(body, &ok); err != nil {
		t.Fatal(err)
	}
	if ok.RequestID == "" || ok.RequestID != resp.Header.Get("x-amzn-RequestId") {
		t.Errorf("RequestId %q, header x-amzn-RequestId %q: want the same id", ok.RequestID, resp.Header.Get("x-amzn-RequestId"))
	}
	if len(ok.Expiration) != len("2006-01-02T15:04:05Z") || !strings.HasSuffix(ok.Expiration, "Z") {
		t.Errorf("Expiration %q, want RFC 3339 in UTC, whole seconds", ok.Expiration)
	}

	// An error: STS's ErrorResponse, Type Sender, the id in header and body.
	form.Set("WebIdentityToken", iss.token(map[string]any{"aud": "api://other"}))
	resp, body = f.post(t, http.MethodPost, "/", "application/x-www-form-urlencoded", form.Encode())
	if d := cmp.Diff(elementPaths(t, readTestdata(t, "error_response.xml")), elementPaths(t, body)); d != "" {
		t.Errorf("error response shape differs from STS's (-sts +ours):\n%s", d)
	}
	var e errorResponse
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	wantErr := errorDetail{Type: "Sender", Code: "InvalidIdentityToken", Message: "Incorrect token audience"}
	if e.Error != wantErr || resp.StatusCode != 400 || e.RequestID != resp.Header.Get("x-amzn-RequestId") {
		t.Errorf("error %+v, status %d, ids %q/%q; want %+v, 400, one id", e.Error, resp.StatusCode, e.RequestID, resp.Header.Get("x-amzn-RequestId"), wantErr)
	}

	// GetCallerIdentity: STS's elements, plus this STS's extensions.
	out, err := f.webIdentity(t, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(roleARN("gatehouse-reader")),
		RoleSessionName: aws.String("ada"), WebIdentityToken: aws.String(iss.token(nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sessionClient(credsFrom(out.Credentials)).GetCallerIdentity(callContext(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(elementPaths(t, readTestdata(t, "get_caller_identity_response.xml")), elementPaths(t, []byte(f.rec.lastBody()))); d != "" {
		t.Errorf("GetCallerIdentity shape of a session without tags differs from STS's (-sts +ours):\n%s", d)
	}
}

// TestProtocolRefusals: what reaches the endpoint that is no STS request.
func TestProtocolRefusals(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	f := newFixture(t, iss, nil)
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name, method, path, contentType, body string
		wantStatus                            int
		wantCode                              string
	}{
		{"GET is not allowed", http.MethodGet, "/", "", "", 405, codeMethodNotAllowed},
		{"another path", http.MethodPost, "/sts", form, "Action=GetCallerIdentity&Version=2011-06-15", 404, codeNotFound},
		{"JSON body", http.MethodPost, "/", "application/json", `{"Action":"GetCallerIdentity"}`, 400, codeValidationError},
		{"no Action", http.MethodPost, "/", form, "Version=2011-06-15", 400, codeMissingAction},
		{"unknown Action", http.MethodPost, "/", form, "Action=GetSessionToken&Version=2011-06-15", 400, codeInvalidAction},
		{"another Version", http.MethodPost, "/", form, "Action=GetCallerIdentity&Version=2010-01-01", 400, codeInvalidAction},
		{"a parameter given twice", http.MethodPost, "/", form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=a&RoleArn=b", 400, codeValidationError},
		{"a malformed form", http.MethodPost, "/", form, "Action=%zz", 400, codeValidationError},
		{"a body over the limit", http.MethodPost, "/", form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=" + strings.Repeat("a", maxBodyBytes), 413, codeRequestTooLarge},
		{"an unsigned GetCallerIdentity", http.MethodPost, "/", form, "Action=GetCallerIdentity&Version=2011-06-15", 403, CodeMissingAuthenticationToken},
		{"an unsigned AssumeRole", http.MethodPost, "/", form, "Action=AssumeRole&Version=2011-06-15", 403, CodeMissingAuthenticationToken},
		{"policy ARN list with a gap", http.MethodPost, "/", form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/x&RoleSessionName=ada&WebIdentityToken=abcd&PolicyArns.member.2.arn=arn:aws:iam::aws:policy/ReadOnlyAccess", 400, codeValidationError},
		{"duration that is not a number", http.MethodPost, "/", form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/x&RoleSessionName=ada&WebIdentityToken=abcd&DurationSeconds=+900", 400, codeValidationError},
		{"a token that is no JWT", http.MethodPost, "/", form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/x&RoleSessionName=ada&WebIdentityToken=abcd", 400, codeInvalidIdentityToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := f.post(t, tc.method, tc.path, tc.contentType, tc.body)
			var e errorResponse
			if err := xml.Unmarshal(body, &e); err != nil {
				t.Fatalf("body is not an ErrorResponse: %v: %.200s", err, body)
			}
			if resp.StatusCode != tc.wantStatus || e.Error.Code != tc.wantCode || e.Error.Type != "Sender" {
				t.Errorf("status %d, code %s (%s), type %s; want %d %s Sender", resp.StatusCode, e.Error.Code, e.Error.Message, e.Error.Type, tc.wantStatus, tc.wantCode)
			}
			if id := resp.Header.Get("x-amzn-RequestId"); id == "" || id != e.RequestID {
				t.Errorf("x-amzn-RequestId %q, body RequestId %q: want one id", id, e.RequestID)
			}
		})
	}
}

// failingReader is a Config.Rand that has run dry.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

// TestRandFailure: when credentials cannot be minted, the caller gets a
// Receiver fault with the request id, and nothing is issued.
func TestRandFailure(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	f := newFixture(t, iss, []Role{{Name: "gatehouse-reader", TrustPolicy: iss.policy(allowWebIdentity)}},
		func(c *Config) { c.Rand = failingReader{} })
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {roleARN("gatehouse-reader")},
		"RoleSessionName": {"ada"}, "WebIdentityToken": {iss.token(nil)}}
	resp, body := f.post(t, http.MethodPost, "/", "application/x-www-form-urlencoded", form.Encode())
	var e errorResponse
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 500 || e.Error.Type != "Receiver" || e.Error.Code != codeInternalFailure || strings.Contains(e.Error.Message, "entropy") {
		t.Errorf("status %d, error %+v; want 500 Receiver InternalFailure without the cause", resp.StatusCode, e.Error)
	}
	if n := f.srv.sessions.len(); n != 0 {
		t.Errorf("%d sessions issued, want none", n)
	}
}

// TestLogsCarryNoSecrets: issuing, using and refusing sessions logs no
// token, secret key or session token.
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	var logs syncBuffer
	f := newFixture(t, iss, []Role{{Name: "gatehouse-reader", TrustPolicy: iss.policy(allowWebIdentity)}},
		func(c *Config) {
			c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
	token := iss.token(map[string]any{claimSourceIdentity: "ada"})
	out, err := f.webIdentity(t, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(roleARN("gatehouse-reader")),
		RoleSessionName: aws.String("ada"), WebIdentityToken: aws.String(token)})
	if err != nil {
		t.Fatal(err)
	}
	c := credsFrom(out.Credentials)
	if _, err := f.sessionClient(c).GetCallerIdentity(callContext(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	bad := c
	bad.SecretAccessKey = "not-the-secret"
	_, _ = f.sessionClient(bad).GetCallerIdentity(callContext(t), &sts.GetCallerIdentityInput{})
	_, _ = f.webIdentity(t, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(roleARN("gatehouse-reader")),
		RoleSessionName: aws.String("ada"), WebIdentityToken: aws.String(token + "x")})
	got := logs.String()
	if !strings.Contains(got, "sts: session issued") || !strings.Contains(got, "sts: request refused") {
		t.Fatalf("logs lack the issue and refusal records:\n%s", got)
	}
	for what, secret := range map[string]string{"token": token[strings.LastIndexByte(token, '.')+1:], "secret key": c.SecretAccessKey, "session token": c.SessionToken} {
		if strings.Contains(got, secret) {
			t.Errorf("the logs contain the %s", what)
		}
	}
}
