package sts

import (
	"encoding/xml"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/go-cmp/cmp"
)

// chainRoles are a web-identity role and roles it may chain into.
func chainRoles(iss *testIssuer) []Role {
	return []Role{
		{Name: "gatehouse-reader", TrustPolicy: iss.policy(allowWebIdentity)},
		{Name: "svc/reports", Invoke: []string{"reports"}, TrustPolicy: iss.policy(`{"Effect":"Allow",
			"Principal":{"AWS":"arn:aws:iam::{acct}:role/gatehouse-reader"},
			"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],
			"Condition":{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::{acct}:role/gatehouse-reader"}}}`)},
		{Name: "no-source-identity", TrustPolicy: iss.policy(`{"Effect":"Allow",
			"Principal":{"AWS":"{acct}"},"Action":["sts:AssumeRole","sts:TagSession"]}`)},
		{Name: "other-caller", TrustPolicy: iss.policy(`{"Effect":"Allow",
			"Principal":{"AWS":"arn:aws:sts::{acct}:assumed-role/reports/x"},"Action":"sts:AssumeRole"}`)},
	}
}

// TestAssumeRoleChainingKeepsSourceIdentity: a web-identity session with a
// source identity and tags assumes another role with the SDK's
// AssumeRoleProvider; the chained session keeps the source identity and
// the transitive tags (and only those), as GetCallerIdentity shows.
func TestAssumeRoleChainingKeepsSourceIdentity(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	f := newFixture(t, iss, chainRoles(iss))
	first := f.assume(t, iss, "gatehouse-reader", "ada", map[string]any{
		claimSourceIdentity: "ada",
		claimTags: map[string]any{
			"principal_tags":      map[string]any{"tenant": []string{"contoso"}, "team": []string{"payments"}},
			"transitive_tag_keys": []string{"tenant"},
		},
	})
	chained := stscreds.NewAssumeRoleProvider(f.sessionClient(first), roleARN("svc/reports"), func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "ada-reports"
		o.Tags = []types.Tag{{Key: aws.String("purpose"), Value: aws.String("monthly")}}
		o.TransitiveTagKeys = []string{"purpose"}
	})
	creds, err := aws.NewCredentialsCache(chained).Retrieve(callContext(t))
	if err != nil {
		t.Fatalf("AssumeRoleProvider.Retrieve: %v", err)
	}
	id, err := f.sessionClient(creds).GetCallerIdentity(callContext(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if a := aws.ToString(id.Arn); a != "arn:aws:sts::123456789012:assumed-role/reports/ada-reports" {
		t.Errorf("Arn = %s, want the chained session", a)
	}
	var body callerIdentityXML
	if err := xml.Unmarshal([]byte(f.rec.lastBody()), &body); err != nil {
		t.Fatal(err)
	}
	if body.Result.SourceIdentity != "ada" {
		t.Errorf("SourceIdentity = %q, want ada kept through role chaining", body.Result.SourceIdentity)
	}
	wantTags := []struct{ Key, Value string }{{"purpose", "monthly"}, {"tenant", "contoso"}}
	if d := cmp.Diff(wantTags, body.Result.Tags); d != "" {
		t.Errorf("tags: the transitive tenant and the new purpose, not team (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"tenant", "purpose"}, body.Result.Transitive); d != "" {
		t.Errorf("transitive keys (-want +got):\n%s", d)
	}
	sess := f.srv.sessions.get(creds.AccessKeyID, f.clock.Now())
	if sess == nil || !cmp.Equal(sess.Invoke, []string{"reports"}) || sess.RoleARN != roleARN("svc/reports") {
		t.Errorf("stored session = %+v, want role svc/reports invoking reports", sess)
	}
}

func TestAssumeRoleRefusals(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	f := newFixture(t, iss, chainRoles(iss))
	withSI := f.assume(t, iss, "gatehouse-reader", "ada", map[string]any{
		claimSourceIdentity: "ada",
		claimTags:           map[string]any{"principal_tags": map[string]any{"tenant": []string{"contoso"}}, "transitive_tag_keys": []string{"tenant"}},
	})
	plain := f.assume(t, iss, "gatehouse-reader", "bob", nil)
	tests := []struct {
		name       string
		caller     aws.Credentials
		in         sts.AssumeRoleInput
		wantCode   string
		wantStatus int
	}{
		{name: "the source identity cannot change",
			caller:   withSI,
			in:       sts.AssumeRoleInput{RoleArn: aws.String(roleARN("svc/reports")), SourceIdentity: aws.String("mallory")},
			wantCode: codeAccessDenied, wantStatus: 403},
		{name: "a kept source identity needs sts:SetSourceIdentity",
			caller:   withSI,
			in:       sts.AssumeRoleInput{RoleArn: aws.String(roleARN("no-source-identity"))},
			wantCode: codeAccessDenied, wantStatus: 403},
		{name: "trust policy names another caller",
			caller:   plain,
			in:       sts.AssumeRoleInput{RoleArn: aws.String(roleARN("other-caller"))},
			wantCode: codeAccessDenied, wantStatus: 403},
		{name: "role chaining caps the duration at one hour",
			caller:   plain,
			in:       sts.AssumeRoleInput{RoleArn: aws.String(roleARN("svc/reports")), DurationSeconds: aws.Int32(3601)},
			wantCode: codeValidationError, wantStatus: 400},
		{name: "a transitive tag cannot be overridden",
			caller:   withSI,
			in:       sts.AssumeRoleInput{RoleArn: aws.String(roleARN("svc/reports")), Tags: []types.Tag{{Key: aws.String("Tenant"), Value: aws.String("fabrikam")}}},
			wantCode: codeInvalidParameterValue, wantStatus: 400},
		{name: "a transitive key must be a tag of the request",
			caller:   plain,
			in:       sts.AssumeRoleInput{RoleArn: aws.String(roleARN("svc/reports")), TransitiveTagKeys: []string{"team"}},
			wantCode: codeInvalidParameterValue, wantStatus: 400},
		{name: "bad session name",
			caller:   plain,
			in:       sts.AssumeRoleInput{RoleArn: aws.String(roleARN("svc/reports")), RoleSessionName: aws.String("ada/reports")},
			wantCode: codeValidationError, wantStatus: 400},
		{name: "unknown role",
			caller:   plain,
			in:       sts.AssumeRoleInput{RoleArn: aws.String(roleARN("ghost"))},
			wantCode: codeAccessDenied, wantStatus: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.in
			if in.RoleSessionName == nil {
				in.RoleSessionName = aws.String("chained")
			}
			_, err := f.sessionClient(tc.caller).AssumeRole(callContext(t), &in)
			wantAPIError(t, err, tc.wantCode, tc.wantStatus)
		})
	}
	t.Run("a caller without a source identity may set one", func(t *testing.T) {
		t.Parallel()
		out, err := f.sessionClient(plain).AssumeRole(callContext(t), &sts.AssumeRoleInput{
			RoleArn: aws.String(roleARN("svc/reports")), RoleSessionName: aws.String("bob"), SourceIdentity: aws.String("bob"),
		})
		if err != nil {
			t.Fatalf("AssumeRole: %v", err)
		}
		if aws.ToString(out.SourceIdentity) != "bob" {
			t.Errorf("SourceIdentity = %q, want bob", aws.ToString(out.SourceIdentity))
		}
	})
}
