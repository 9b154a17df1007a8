package sts

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestTrustPolicy runs AssumeRoleWithWebIdentity through the SDK against a
// role whose trust policy is the case's statements; the token is the test
// issuer's with the case's claims.
func TestTrustPolicy(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	tags := map[string]any{claimTags: map[string]any{
		"principal_tags":      map[string]any{"team": []string{"payments"}, "tenant": []string{"contoso"}},
		"transitive_tag_keys": []string{"tenant"},
	}}
	const allowFederated = `"Effect":"Allow","Principal":{"Federated":"{arn}"}`
	tests := []struct {
		name        string
		statements  []string
		claims      map[string]any
		sessionName string
		wantDenied  bool
	}{
		{name: "StringEquals on aud and sub matches",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"StringEquals":{"{name}:aud":"sts.amazonaws.com","{name}:sub":"principal:ada:role:reader"}}}`}},
		{name: "StringEquals on sub of another principal refuses",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"StringEquals":{"{name}:aud":"sts.amazonaws.com","{name}:sub":"principal:bob:role:reader"}}}`},
			wantDenied: true},
		{name: "StringEquals on aud of another audience refuses",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"StringEquals":{"{name}:aud":"api://other"}}}`},
			wantDenied: true},
		{name: "values of a key are alternatives",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"StringEquals":{"{name}:sub":["principal:bob:role:reader","principal:ada:role:reader"]}}}`}},
		{name: "StringLike sub pattern matches",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"StringLike":{"{name}:sub":"principal:*:role:reader"}}}`}},
		{name: "StringLike ? matches exactly one character",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"StringLike":{"{name}:sub":"principal:a?a:role:reader"}}}`}},
		{name: "StringLike sub pattern refuses",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"StringLike":{"{name}:sub":"principal:*:role:admin"}}}`},
			wantDenied: true},
		{name: "StringNotLike refuses a matching subject",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"StringNotLike":{"{name}:sub":["principal:bob:*","principal:ada:*"]}}}`},
			wantDenied: true},
		{name: "explicit Deny wins over Allow",
			statements: []string{
				`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity"}`,
				`{"Sid":"NoAda","Effect":"Deny","Principal":{"Federated":"{arn}"},"Action":"sts:*","Condition":{"StringLike":{"{name}:sub":"principal:ada:*"}}}`},
			wantDenied: true},
		{name: "a Deny whose condition fails leaves the Allow",
			statements: []string{
				`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity"}`,
				`{"Effect":"Deny","Principal":{"Federated":"{arn}"},"Action":"sts:*","Condition":{"StringLike":{"{name}:sub":"principal:bob:*"}}}`}},
		{name: "tags need sts:TagSession",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity"}`},
			claims:     tags, wantDenied: true},
		{name: "tags with sts:TagSession pass",
			statements: []string{`{` + allowFederated + `,"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"]}`},
			claims:     tags},
		{name: "source identity needs sts:SetSourceIdentity",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity"}`},
			claims:     map[string]any{claimSourceIdentity: "ada"}, wantDenied: true},
		{name: "sts:TagSession denied in its own statement refuses",
			statements: []string{`{` + allowFederated + `,"Action":"sts:*"}`,
				`{"Effect":"Deny","Principal":"*","Action":"sts:TagSession","Condition":{"StringEquals":{"aws:RequestTag/team":"payments"}}}`},
			claims: tags, wantDenied: true},
		{name: "aws:RequestTag matches the token's tag",
			statements: []string{`{` + allowFederated + `,"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"],
				"Condition":{"StringEquals":{"aws:RequestTag/team":"payments"}}}`},
			claims: tags},
		{name: "aws:RequestTag of another value refuses",
			statements: []string{`{` + allowFederated + `,"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"],
				"Condition":{"StringEquals":{"aws:RequestTag/team":"billing"}}}`},
			claims: tags, wantDenied: true},
		{name: "ForAllValues on aws:TagKeys allows listed keys",
			statements: []string{`{` + allowFederated + `,"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"],
				"Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team","tenant","kind"]}}}`},
			claims: tags},
		{name: "ForAllValues on aws:TagKeys refuses an unlisted key",
			statements: []string{`{` + allowFederated + `,"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"],
				"Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team"]}}}`},
			claims: tags, wantDenied: true},
		{name: "sts:TransitiveTagKeys names the transitive keys",
			statements: []string{`{` + allowFederated + `,"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"],
				"Condition":{"ForAnyValue:StringEquals":{"sts:TransitiveTagKeys":"tenant"}}}`},
			claims: tags},
		{name: "ForAnyValue on amr matches one method",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"ForAnyValue:StringEquals":{"{name}:amr":"mfa"}}}`},
			claims: map[string]any{"amr": []string{"pwd", "mfa"}}},
		{name: "ForAnyValue on amr refuses a token without amr",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"ForAnyValue:StringEquals":{"{name}:amr":"mfa"}}}`},
			wantDenied: true},
		{name: "condition key names are case-insensitive",
			statements: []string{`{` + allowFederated + `,"Action":"STS:AssumeRoleWithWebIdentity",
				"Condition":{"StringEquals":{"{name}:AUD":"sts.amazonaws.com","STS:ROLESESSIONNAME":"ada"}}}`}},
		{name: "condition values are case-sensitive",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"StringEquals":{"{name}:aud":"STS.amazonaws.com"}}}`},
			wantDenied: true},
		{name: "StringEqualsIgnoreCase ignores the case of values",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"StringEqualsIgnoreCase":{"{name}:aud":"STS.amazonaws.com"}}}`}},
		{name: "sts:RoleSessionName pattern refuses another session name",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"StringLike":{"sts:RoleSessionName":"ci-*"}}}`},
			wantDenied: true},
		{name: "sts:SourceIdentity must match",
			statements: []string{`{` + allowFederated + `,"Action":["sts:AssumeRoleWithWebIdentity","sts:SetSourceIdentity"],
				"Condition":{"StringLike":{"sts:SourceIdentity":"ada*"}}}`},
			claims: map[string]any{claimSourceIdentity: "ada"}},
		{name: "a Null condition requires the source identity",
			statements: []string{`{` + allowFederated + `,"Action":["sts:AssumeRoleWithWebIdentity","sts:SetSourceIdentity"],
				"Condition":{"Null":{"sts:SourceIdentity":"false"}}}`},
			wantDenied: true},
		{name: "StringNotEquals on an absent key holds",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"StringNotEquals":{"sts:SourceIdentity":"mallory"}}}`}},
		{name: "an AWS principal is not a web identity",
			statements: []string{`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{acct}:root"},"Action":"sts:AssumeRoleWithWebIdentity"}`},
			wantDenied: true},
		{name: "Principal AWS * is Principal *",
			statements: []string{`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRoleWithWebIdentity"}`}},
		{name: "Principal * matches a web identity",
			statements: []string{`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRoleWithWebIdentity"}`}},
		{name: "another action does not allow AssumeRoleWithWebIdentity",
			statements: []string{`{` + allowFederated + `,"Action":"sts:AssumeRole"}`},
			wantDenied: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, iss, []Role{{Name: "gatehouse-reader", TrustPolicy: iss.policy(tc.statements...)}})
			sessionName := "ada"
			if tc.sessionName != "" {
				sessionName = tc.sessionName
			}
			_, err := f.webIdentity(t, &sts.AssumeRoleWithWebIdentityInput{
				RoleArn:          aws.String(roleARN("gatehouse-reader")),
				RoleSessionName:  aws.String(sessionName),
				WebIdentityToken: aws.String(iss.token(tc.claims)),
			})
			if tc.wantDenied {
				wantAPIError(t, err, codeAccessDenied, 403)
			} else if err != nil {
				t.Fatalf("AssumeRoleWithWebIdentity: %v, want allowed", err)
			}
		})
	}
}

// TestNewRefusesTrustPolicy: a trust policy New cannot evaluate exactly is
// refused with MalformedPolicyDocument, naming the problem.
func TestNewRefusesTrustPolicy(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	const ok = `"Effect":"Allow","Principal":{"Federated":"{arn}"},"Action":"sts:AssumeRoleWithWebIdentity"`
	tests := []struct {
		name, policy, want string
	}{
		{"unknown condition operator", `{` + ok + `,"Condition":{"StringMatches":{"{name}:sub":"x"}}}`, `operator "StringMatches" is not supported`},
		{"operator names are case-sensitive", `{` + ok + `,"Condition":{"stringequals":{"{name}:sub":"x"}}}`, `operator "stringequals"`},
		{"Null with a set qualifier", `{` + ok + `,"Condition":{"ForAnyValue:Null":{"{name}:amr":"true"}}}`, `operator "ForAnyValue:Null"`},
		{"Null with a value other than true or false", `{` + ok + `,"Condition":{"Null":{"{name}:amr":"yes"}}}`, `true or false`},
		{"unknown condition key", `{` + ok + `,"Condition":{"StringEquals":{"{name}:oid":"x"}}}`, `condition key "`},
		{"condition key of an unknown provider", `{` + ok + `,"Condition":{"StringEquals":{"accounts.google.com:aud":"x"}}}`, `accounts.google.com:aud`},
		{"Federated principal that is no provider", `{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::{acct}:oidc-provider/example.com"},"Action":"sts:AssumeRoleWithWebIdentity"}`, `is not an OIDC provider of this STS`},
		{"AWS principal naming an unknown role", `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{acct}:role/ghost"},"Action":"sts:AssumeRole"}`, `names no role`},
		{"AWS principal with a wildcard", `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{acct}:role/*"},"Action":"sts:AssumeRole"}`, `no wildcards`},
		{"NotPrincipal", `{"Effect":"Allow","NotPrincipal":{"AWS":"*"},"Principal":"*","Action":"sts:AssumeRole"}`, `NotPrincipal is not supported`},
		{"Resource in a trust policy", `{` + ok + `,"Resource":"*"}`, `has no Resource`},
		{"Effect in lower case", `{"Effect":"allow","Principal":"*","Action":"sts:AssumeRole"}`, `Effect must be`},
		{"no Action", `{"Effect":"Allow","Principal":"*"}`, `Action is missing`},
		{"Action without a service", `{"Effect":"Allow","Principal":"*","Action":"AssumeRole"}`, `service:action`},
		{"policy variables", `{` + ok + `,"Condition":{"StringEquals":{"{name}:sub":"${aws:username}"}}}`, `policy variables`},
		{"duplicate member names", `{"Effect":"Allow","Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}`, `not valid JSON`},
		{"unknown element", `{` + ok + `,"Conditions":{}}`, `unknown element "Conditions"`},
		{"empty value list", `{` + ok + `,"Condition":{"StringEquals":{"{name}:sub":[]}}}`, `empty list`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{
				AccountID: testAccount,
				Providers: []Provider{{URL: iss.URL(), ClientIDs: []string{stsAudience}}},
				Roles:     []Role{{Name: "r", TrustPolicy: iss.policy(tc.policy)}},
			})
			if err == nil {
				t.Fatalf("New accepted the policy, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "MalformedPolicyDocument") {
				t.Errorf("New: %v\nwant MalformedPolicyDocument and %q", err, tc.want)
			}
		})
	}
	t.Run("a document that is no policy", func(t *testing.T) {
		t.Parallel()
		for _, doc := range []string{``, `[]`, `{}`, `{"Statement":[]}`, `{"Version":"2020-01-01","Statement":{}}`, `{"Statement":{}} x`} {
			if _, err := New(Config{Roles: []Role{{Name: "r", TrustPolicy: []byte(doc)}}}); err == nil {
				t.Errorf("New accepted trust policy %q", doc)
			}
		}
	})
}

// TestConditionSemantics checks IAM's rules for absent keys, negated
// operators, set qualifiers and IfExists on the evaluator directly: the
// combinations are many and the request contexts that reach them through
// the SDK would hide which rule failed.
func TestConditionSemantics(t *testing.T) {
	t.Parallel()
	multi := []string{"pwd", "mfa"}
	tests := []struct {
		name   string
		op     string
		values []string
		have   []string // nil: the key is absent
		want   bool
	}{
		{"StringEquals on an absent key fails", "StringEquals", []string{"x"}, nil, false},
		{"StringEqualsIfExists on an absent key holds", "StringEqualsIfExists", []string{"x"}, nil, true},
		{"StringEqualsIfExists on a present key compares", "StringEqualsIfExists", []string{"x"}, []string{"y"}, false},
		{"StringNotEquals on an absent key holds", "StringNotEquals", []string{"x"}, nil, true},
		{"StringNotEquals fails when any value matches", "StringNotEquals", []string{"a", "y"}, []string{"y"}, false},
		{"StringNotEquals holds when no value matches", "StringNotEquals", []string{"a", "b"}, []string{"y"}, true},
		{"ForAnyValue holds when one request value matches", "ForAnyValue:StringEquals", []string{"mfa"}, multi, true},
		{"ForAnyValue fails on an absent key", "ForAnyValue:StringEquals", []string{"mfa"}, nil, false},
		{"ForAllValues holds when every request value matches", "ForAllValues:StringEquals", []string{"pwd", "mfa", "otp"}, multi, true},
		{"ForAllValues fails when one request value does not match", "ForAllValues:StringEquals", []string{"pwd"}, multi, false},
		{"ForAllValues holds on an absent key", "ForAllValues:StringEquals", []string{"pwd"}, nil, true},
		{"ForAllValues holds on an empty set", "ForAllValues:StringEquals", []string{"pwd"}, []string{}, true},
		{"ForAnyValue:StringNotEquals holds when one value is unlisted", "ForAnyValue:StringNotEquals", []string{"pwd"}, multi, true},
		{"ForAllValues:StringNotEquals fails when one value is listed", "ForAllValues:StringNotEquals", []string{"pwd"}, multi, false},
		{"StringLike without a qualifier matches any request value", "StringLike", []string{"m*"}, multi, true},
		{"StringNotLike without a qualifier fails when any value matches", "StringNotLike", []string{"m*"}, multi, false},
		{"Null true holds on an absent key", "Null", []string{"true"}, nil, true},
		{"Null true fails on a present key", "Null", []string{"true"}, []string{"x"}, false},
		{"Null false holds on a present key", "Null", []string{"false"}, []string{"x"}, true},
		{"StringEqualsIgnoreCase folds case", "StringEqualsIgnoreCase", []string{"ADA"}, []string{"ada"}, true},
		{"ArnLike matches component-wise", "ArnLike", []string{"arn:aws:iam::*:role/svc/*"}, []string{"arn:aws:iam::123456789012:role/svc/reader"}, true},
		{"ArnLike wildcards do not cross components", "ArnLike", []string{"arn:aws:iam::*"}, []string{"arn:aws:iam::123456789012:role/x"}, false},
		{"ArnNotEquals holds for another ARN", "ArnNotEquals", []string{"arn:aws:iam::123456789012:role/a"}, []string{"arn:aws:iam::123456789012:role/b"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseOperator(tc.op)
			if err != nil {
				t.Fatal(err)
			}
			c.key, c.values = "k", tc.values
			rc := &requestContext{keys: map[string][]string{}}
			if tc.have != nil {
				rc.keys["k"] = tc.have
			}
			if got := c.holds(rc); got != tc.want {
				t.Errorf("%s %v with request %v = %t, want %t", tc.op, tc.values, tc.have, got, tc.want)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"*", "", true},
		{"*", "anything", true},
		{"a*", "abc", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"?", "é", true}, // one character, two bytes
		{"*a*b*c*", "xxaxxbxxcxx", true},
		{"*a*b*c*", "xxaxxcxxbxx", false},
		{"abc", "ABC", false},
		{strings.Repeat("*a", 30) + "b", strings.Repeat("a", 200), false}, // no exponential backtracking
	}
	for _, tc := range tests {
		if got := glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %t, want %t", tc.pattern, tc.s, got, tc.want)
		}
	}
}
