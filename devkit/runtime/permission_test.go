package runtime

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/devkit/sts"
)

// TestPermitted: the role's Invoke list, the session policy, and which
// reason a refusal gives.
func TestPermitted(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:lambda:us-east-1:123456789012:function:"
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }
	tests := []struct {
		name     string
		invoke   []string
		policy   string
		function string
		resource string // "" means arn + function
		want     string // "" allowed, else the reason
	}{
		{name: "empty Invoke list", function: "a", want: noIdentityPolicy},
		{name: "exact name", invoke: []string{"a"}, function: "a"},
		{name: "names are case-sensitive", invoke: []string{"A"}, function: "a", want: noIdentityPolicy},
		{name: "star", invoke: []string{"*"}, function: "anything"},
		{name: "prefix", invoke: []string{"reports-*"}, function: "reports-x"},
		{name: "prefix mismatch", invoke: []string{"reports-*"}, function: "report", want: noIdentityPolicy},
		{name: "question mark", invoke: []string{"fn-?"}, function: "fn-1"},
		{name: "question mark is one character", invoke: []string{"fn-?"}, function: "fn-12", want: noIdentityPolicy},
		{name: "ARN pattern", invoke: []string{arn + "a*"}, function: "ab"},
		{name: "ARN pattern of another account", invoke: []string{"arn:aws:lambda:us-east-1:999999999999:function:*"}, function: "a", want: noIdentityPolicy},
		{name: "session policy allows", invoke: []string{"*"}, function: "a",
			policy: stmt(`{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"` + arn + `a"}`)},
		{name: "actions are case-insensitive", invoke: []string{"*"}, function: "a",
			policy: stmt(`{"Effect":"Allow","Action":"Lambda:invoke*","Resource":"*"}`)},
		{name: "session policy for other actions", invoke: []string{"*"}, function: "a",
			policy: stmt(`{"Effect":"Allow","Action":"lambda:GetFunction","Resource":"*"}`), want: noSessionPolicy},
		{name: "NotAction", invoke: []string{"*"}, function: "a",
			policy: stmt(`{"Effect":"Allow","NotAction":"lambda:GetFunction","Resource":"*"}`)},
		{name: "NotResource", invoke: []string{"*"}, function: "a",
			policy: stmt(`{"Effect":"Allow","Action":"*","NotResource":"` + arn + `a"}`), want: noSessionPolicy},
		{name: "deny wins", invoke: []string{"*"}, function: "a",
			policy: stmt(`{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"lambda:*","Resource":"` + arn + `*"}`), want: sessionDeny},
		{name: "deny wins over a missing role permission too", invoke: nil, function: "a",
			policy: stmt(`{"Effect":"Deny","Action":"*","Resource":"*"}`), want: sessionDeny},
		{name: "allow with a condition does not allow", invoke: []string{"*"}, function: "a",
			policy: stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}`), want: noSessionPolicy},
		{name: "deny with a condition denies", invoke: []string{"*"}, function: "a",
			policy: stmt(`{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`), want: sessionDeny},
		{name: "unreadable session policy denies", invoke: []string{"*"}, function: "a", policy: `{"Statement":`, want: noSessionPolicy},
		{name: "duplicate member denies", invoke: []string{"*"}, function: "a",
			policy: `{"Statement":[{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}]}`, want: noSessionPolicy},
		{name: "principal in a session policy denies", invoke: []string{"*"}, function: "a",
			policy: stmt(`{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}`), want: noSessionPolicy},
		{name: "qualified resource", invoke: []string{"*"}, function: "a", resource: arn + "a:$LATEST",
			policy: stmt(`{"Effect":"Allow","Action":"*","Resource":"` + arn + `a:*"}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.resource
			if res == "" {
				res = arn + tc.function
			}
			ok, why := permitted(&sts.Session{Invoke: tc.invoke, SessionPolicy: tc.policy}, tc.function, res)
			if ok != (tc.want == "") || why != tc.want {
				t.Errorf("permitted = %v %q, want %q", ok, why, tc.want)
			}
		})
	}
}

// TestParseFunctionName: the FunctionName forms Lambda accepts.
func TestParseFunctionName(t *testing.T) {
	t.Parallel()
	h, err := New(Config{AccountID: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	const arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"
	tests := []struct {
		in, qualifier string
		name          string // "" for an error
		resource      string
		code          string
	}{
		{in: "fn", name: "fn", resource: arn},
		{in: "fn:$LATEST", name: "fn", resource: arn + ":$LATEST"},
		{in: "fn", qualifier: "$LATEST", name: "fn", resource: arn + ":$LATEST"},
		{in: "123456789012:function:fn", name: "fn", resource: arn},
		{in: arn, name: "fn", resource: arn},
		{in: arn + ":$LATEST", name: "fn", resource: arn + ":$LATEST"},
		{in: "arn:aws-us-gov:lambda:us-east-1:123456789012:function:fn", name: "fn", resource: arn},
		{in: "fn:prod", code: CodeResourceNotFound},
		{in: "fn:$LATEST", qualifier: "prod", code: CodeInvalidParameterValue},
		{in: "arn:aws:lambda:eu-west-1:123456789012:function:fn", code: CodeResourceNotFound},
		{in: "", code: CodeInvalidParameterValue},
		{in: "a/b", code: CodeInvalidParameterValue},
		{in: "fn.x", code: CodeInvalidParameterValue},
		{in: "arn:aws:s3:::bucket", code: CodeInvalidParameterValue},
		{in: "1:2:3:4:5", code: CodeInvalidParameterValue},
		{in: "fn", qualifier: "bad qualifier", code: CodeInvalidParameterValue},
	}
	for _, tc := range tests {
		ref, e := h.parseFunctionName(tc.in, tc.qualifier)
		switch {
		case tc.code != "":
			if e == nil || e.Code != tc.code {
				t.Errorf("parseFunctionName(%q, %q) = %+v, %v; want %s", tc.in, tc.qualifier, ref, e, tc.code)
			}
		case e != nil || ref.name != tc.name || ref.resource != tc.resource:
			t.Errorf("parseFunctionName(%q, %q) = %+v, %v; want %s %s", tc.in, tc.qualifier, ref, e, tc.name, tc.resource)
		}
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"", "", true}, {"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true}, {"a*c", "abcd", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*:function:*", "arn:aws:lambda:r:1:function:x", true},
		{"ü?", "üx", true}, {"**a", "xa", true},
	} {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}
