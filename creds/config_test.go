package creds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// stsClient is an SDK client that must never be called (New makes no calls).
var stsClient = sts.New(sts.Options{Region: "us-east-1"})

func TestNewRejects(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com")
	arn := "arn:aws:iam::123456789012:role/gatehouse-reader"
	tests := []struct {
		name string
		cfg  Config
		want []string // each must appear in the joined error
	}{
		{"no STS client", Config{}, []string{"STS client is required"}},
		{"bad role name", Config{STS: stsClient, Roles: []Role{{Name: "read:er", ARN: arn, Mode: ModeAssumeRole}}}, []string{`role name "read:er"`}},
		{"duplicate role", Config{STS: stsClient, Roles: []Role{{Name: "r", ARN: arn, Mode: ModeAssumeRole}, {Name: "r", ARN: arn, Mode: ModeAssumeRole}}}, []string{`"r" defined twice`}},
		{"broker without issuer", Config{STS: stsClient, Roles: []Role{{Name: "r", ARN: arn}}}, []string{"broker mode needs an Issuer"}},
		{"unknown mode", Config{STS: stsClient, Roles: []Role{{Name: "r", ARN: arn, Mode: "federation"}}}, []string{`unknown mode "federation"`}},
		{"user ARN", Config{STS: stsClient, Issuer: iss, Roles: []Role{{Name: "r", ARN: "arn:aws:iam::123456789012:user/bob"}}}, []string{"not an IAM role ARN"}},
		{"short account", Config{STS: stsClient, Issuer: iss, Roles: []Role{{Name: "r", ARN: "arn:aws:iam::12345678901:role/x"}}}, []string{"not an IAM role ARN"}},
		{"duration too short", Config{STS: stsClient, Issuer: iss, Roles: []Role{{Name: "r", ARN: arn, Duration: 10 * time.Minute}}}, []string{"duration 10m0s"}},
		{"duration too long", Config{STS: stsClient, Issuer: iss, Roles: []Role{{Name: "r", ARN: arn, Duration: 13 * time.Hour}}}, []string{"duration 13h0m0s"}},
		{"fractional duration", Config{STS: stsClient, Issuer: iss, Roles: []Role{{Name: "r", ARN: arn, Duration: time.Hour + time.Millisecond}}}, []string{"whole seconds"}},
		{"margin above duration", Config{STS: stsClient, Issuer: iss, RefreshMargin: 20 * time.Minute, Roles: []Role{{Name: "r", ARN: arn, Duration: 15 * time.Minute}}}, []string{"not above the refresh margin"}},
		{"negative margin", Config{STS: stsClient, RefreshMargin: -time.Second}, []string{"negative"}},
		{"group names too long together", Config{STS: stsClient, Issuer: iss, Roles: []Role{{Name: "r", ARN: arn, SessionTags: []string{"groups"},
			GroupTags: map[string]string{"g1": strings.Repeat("a", 64), "g2": strings.Repeat("b", 64), "g3": strings.Repeat("c", 64), "g4": strings.Repeat("d", 64)}}}},
			[]string{"256"}},
		{"every problem at once", Config{Roles: []Role{{Name: "1", ARN: "x"}, {Name: "ok", ARN: arn, Mode: "x"}}},
			[]string{"STS client", `role name "1"`, "not an IAM role ARN", `unknown mode "x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: %v\nwant it to mention %q", err, w)
				}
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	b, err := New(Config{STS: stsClient, Issuer: newTestIssuer(t, "https://gatehouse.example.com"), Roles: []Role{
		{Name: "reader", ARN: "arn:aws:iam::123456789012:role/gatehouse-reader"},
		{Name: "ops.admin", ARN: "arn:aws-us-gov:iam::123456789012:role/path/to/admin", Mode: ModeAssumeRole, Duration: 12 * time.Hour},
		{Name: "entra", ARN: "arn:aws:iam::123456789012:role/entra", Mode: ModeWebIdentity, Duration: 15 * time.Minute},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := b.roles["reader"]; r.Mode != ModeBroker || r.duration != 3600 || len(r.tagKeys) != 3 {
		t.Errorf("defaults: mode %q duration %d tags %v", r.Mode, r.duration, r.tagKeys)
	}
	if b.cache.max != 10000 || b.margin != 5*time.Minute {
		t.Errorf("defaults: cache %d margin %v", b.cache.max, b.margin)
	}
}

func TestRequestErrors(t *testing.T) {
	b, err := New(Config{STS: stsClient, Roles: []Role{{Name: "entra", ARN: "arn:aws:iam::123456789012:role/entra", Mode: ModeWebIdentity}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := testPrincipal()
	for _, tt := range []struct {
		name string
		req  Request
		want error
	}{
		{"no principal", Request{Role: "entra", Token: "t"}, ErrNoPrincipal},
		{"unknown role", Request{Principal: p, Role: "admin", Token: "t"}, ErrUnknownRole},
		{"web identity without token", Request{Principal: p, Role: "entra"}, ErrNoToken},
		{"policy not JSON", Request{Principal: p, Role: "entra", Token: "t", SessionPolicy: "allow all"}, ErrSessionPolicy},
		{"policy too long", Request{Principal: p, Role: "entra", Token: "t", SessionPolicy: `{"x":"` + strings.Repeat("a", 2048) + `"}`}, ErrSessionPolicy},
		{"policy outside Latin-1", Request{Principal: p, Role: "entra", Token: "t", SessionPolicy: `{"Sid":"✓"}`}, ErrSessionPolicy},
		{"policy with a control character", Request{Principal: p, Role: "entra", Token: "t", SessionPolicy: "{\"a\":\x01}"}, ErrSessionPolicy},
		{"session name of one character", Request{Principal: p, Role: "entra", Token: "t", SessionName: "x"}, ErrSessionName},
		{"session name with a space", Request{Principal: p, Role: "entra", Token: "t", SessionName: "a b"}, ErrSessionName},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := b.Credentials(ctx, tt.req); !errors.Is(err, tt.want) {
				t.Errorf("Credentials: err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestInvokePolicy(t *testing.T) {
	fn := "arn:aws:lambda:eu-west-1:123456789012:function:reports-daily"
	got := InvokePolicy(fn)
	want := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"` + fn + `"}]}`
	if got != want {
		t.Errorf("InvokePolicy = %s\nwant %s", got, want)
	}
	if err := checkSessionPolicy(got); err != nil {
		t.Error(err)
	}
	// Quotes in an ARN cannot break out of the string.
	var v map[string]any
	if err := json.Unmarshal([]byte(InvokePolicy(`x","Resource":"*`)), &v); err != nil {
		t.Fatal(err)
	}
	st := v["Statement"].([]any)[0].(map[string]any)
	if st["Resource"] != `x","Resource":"*` || len(st) != 3 {
		t.Errorf("statement = %v", st)
	}
}

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
		code   string
	}{
		{&smithy.GenericAPIError{Code: "AccessDenied", Message: "Not authorized"}, 403, "AccessDenied"},
		{&smithy.GenericAPIError{Code: "InvalidIdentityToken"}, 403, "InvalidIdentityToken"},
		{&smithy.GenericAPIError{Code: "ExpiredTokenException"}, 403, "ExpiredTokenException"},
		{&smithy.GenericAPIError{Code: "MalformedPolicyDocument"}, 403, "MalformedPolicyDocument"},
		{&smithy.GenericAPIError{Code: "ValidationError"}, 403, "ValidationError"},
		{&smithy.GenericAPIError{Code: "Throttling"}, 503, "Throttling"},
		{&smithy.GenericAPIError{Code: "ThrottlingException"}, 503, "ThrottlingException"},
		{&smithy.GenericAPIError{Code: "RequestLimitExceeded"}, 503, "RequestLimitExceeded"},
		{&smithy.GenericAPIError{Code: "IDPCommunicationError"}, 503, "IDPCommunicationError"},
		{&smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole", Err: &smithy.GenericAPIError{Code: "Throttling"}}, 503, "Throttling"},
		{context.DeadlineExceeded, 503, ""},
		{errors.New("dial tcp: connection refused"), 503, ""},
	} {
		got := classify("reader", tt.err)
		if got.Status != tt.status || got.Code != tt.code || got.Role != "reader" || !errors.Is(got, tt.err) {
			t.Errorf("classify(%v) = %d %q %q, want %d %q", tt.err, got.Status, got.Code, got.Role, tt.status, tt.code)
		}
	}
}

func TestSecretsStayOutOfLogs(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	token := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJl"
	req := Request{Principal: testPrincipal(), Role: "reader", Token: token}
	s := &Session{Credentials: aws.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG", SessionToken: "IQoJb3JpZ2luX2Vj"},
		AssumedRoleARN: "arn:aws:sts::123456789012:assumed-role/r/s"}
	log.Info("x", "request", req, "session", s)
	out := buf.String() + fmt.Sprint(req) + fmt.Sprintf("%v %+v", s, s)
	for _, secret := range []string{token, "wJalrXUtnFEMI/K7MDENG", "IQoJb3JpZ2luX2Vj", "Ada Lovelace", "ada@contoso.example"} {
		if strings.Contains(out, secret) {
			t.Errorf("log or print output holds %q:\n%s", secret, out)
		}
	}
}
