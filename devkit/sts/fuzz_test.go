package sts

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHandler: no form body makes the handler panic or answer anything but
// an STS response; nothing is issued without a valid token.
func FuzzHandler(f *testing.F) {
	for _, seed := range []string{
		"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/r&RoleSessionName=ada&WebIdentityToken=eyJhbGciOiJFUzI1NiJ9.e30.AA",
		"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/r&RoleSessionName=ada&WebIdentityToken=a.b.c&Policy=%7B%7D&PolicyArns.member.1.arn=x&DurationSeconds=900",
		"Action=AssumeRole&Version=2011-06-15&Tags.member.1.Key=a&Tags.member.1.Value=b&TransitiveTagKeys.member.1=a",
		"Action=GetCallerIdentity&Version=2011-06-15",
		"Action=%00&Version=%ff",
		"PolicyArns.member.0.arn=x&PolicyArns.member.99999.arn=y&Action=AssumeRoleWithWebIdentity&Version=2011-06-15",
	} {
		f.Add(seed, "AWS4-HMAC-SHA256 Credential=ASIAAAAAAAAAAAAAAAAA/20300102/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	}
	f.Add("Action=GetCallerIdentity&Version=2011-06-15", "AWS4-HMAC-SHA256 Credential=a/b, Signature=, SignedHeaders=,,")
	policy := []byte(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}`)
	srv, err := New(Config{
		AccountID: testAccount,
		Providers: []Provider{{URL: "https://127.0.0.1:1/never", ClientIDs: []string{stsAudience}}},
		Roles:     []Role{{Name: "r", TrustPolicy: policy}},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, body, authorization string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", authorization)
		r.Header.Set("X-Amz-Date", "20300102T030405Z")
		r.Header.Set("X-Amz-Security-Token", "t")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusOK || w.Code >= 500 {
			t.Errorf("status %d for body %q: %s", w.Code, body, w.Body.String())
		}
		if !strings.Contains(w.Body.String(), "<ErrorResponse") || w.Header().Get("x-amzn-RequestId") == "" {
			t.Errorf("not an STS error response: %s", w.Body.String())
		}
		if srv.sessions.len() != 0 {
			t.Fatalf("a session was issued for body %q", body)
		}
	})
}

// FuzzTrustPolicy: no document makes parsing or evaluation panic, as a
// trust, identity or session policy.
func FuzzTrustPolicy(f *testing.F) {
	for _, seed := range []string{
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/issuer.example"},"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"],"Condition":{"StringLike":{"issuer.example:sub":"a*?"},"ForAllValues:StringEquals":{"aws:TagKeys":["x"]}}}]}`,
		`{"Statement":{"Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"Null":{"sts:SourceIdentity":true},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"}}}}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws:sts::123456789012:assumed-role/r/s"]},"Action":"*","Condition":{"StringNotEqualsIfExists":{"sts:ExternalId":[1,true]}}}]}`,
		`{"Statement":[]}`, `[]`, `{"Statement":{"Effect":"Allow","Effect":"Allow"}}`, "\xff",
	} {
		f.Add(seed, "sts:AssumeRoleWithWebIdentity", "a*b?c")
	}
	env := &policyEnv{account: testAccount, providers: map[string]bool{"issuer.example": true},
		providerARNs: []string{"arn:aws:iam::123456789012:oidc-provider/issuer.example"},
		roleARNs:     map[string]bool{"arn:aws:iam::123456789012:role/r": true}, roleNames: map[string]bool{"r": true}}
	f.Fuzz(func(t *testing.T, doc, action, value string) {
		p, err := parseTrustPolicy([]byte(doc), env)
		if err != nil {
			return
		}
		rc := &requestContext{federated: env.providerARNs[0], aws: []string{"arn:aws:iam::123456789012:role/r"}, keys: map[string][]string{}}
		for _, k := range []string{"issuer.example:sub", "aws:tagkeys", "sts:sourceidentity", "aws:principalarn", "sts:externalid"} {
			rc.keys[k] = []string{value}
		}
		p.evaluate(action, rc)
		_ = validateSessionPolicy(doc)
		_, _ = parseIdentityPolicy([]byte(doc))
		(&Session{Policy: doc, SessionPolicy: doc}).Allowed(action, value)
	})
}
