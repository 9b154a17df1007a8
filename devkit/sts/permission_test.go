package sts

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
)

const secretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf"

// TestNewRefusesIdentityPolicy: a role's identity policy that cannot be
// evaluated exactly is refused at New, naming the role and the problem.
func TestNewRefusesIdentityPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, policy, want string }{
		{"condition", `{"Statement":{"Effect":"Allow","Action":"kms:Sign","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}}`, "Condition is not supported"},
		{"not action", `{"Statement":{"Effect":"Allow","NotAction":"kms:Sign","Resource":"*"}}`, "NotAction is not supported"},
		{"not resource", `{"Statement":{"Effect":"Deny","Action":"kms:*","NotResource":"*"}}`, "NotResource is not supported"},
		{"principal", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:Sign","Resource":"*"}}`, "no Principal"},
		{"unknown element", `{"Statement":{"Effect":"Allow","Action":"kms:Sign","Resource":"*","Extra":1}}`, "unknown element"},
		{"no resource", `{"Statement":{"Effect":"Allow","Action":"kms:Sign"}}`, "want exactly one of Resource and NotResource"},
		{"action without service", `{"Statement":{"Effect":"Allow","Action":"Sign","Resource":"*"}}`, "not \"*\" or service:action"},
		{"resource not an ARN", `{"Statement":{"Effect":"Allow","Action":"kms:Sign","Resource":"key/1"}}`, "not \"*\" or an ARN pattern"},
		{"policy variable", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}"}}`, "policy variables"},
		{"effect", `{"Statement":{"Effect":"allow","Action":"kms:Sign","Resource":"*"}}`, "Effect"},
		{"not JSON", `{`, "not valid JSON"},
		{"empty", ``, "policy is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{Roles: []Role{{Name: "signer", TrustPolicy: []byte(anyTrust), Policy: []byte(tc.policy)}}})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Roles[0]") ||
				!strings.Contains(err.Error(), "MalformedPolicyDocument") {
				t.Errorf("New: %v, want MalformedPolicyDocument for Roles[0] naming %q", err, tc.want)
			}
		})
	}
}

// TestAllowed: IAM's evaluation for a role session: explicit Deny wins,
// the identity policy must allow, a session policy narrows.
func TestAllowed(t *testing.T) {
	t.Parallel()
	const identity = `{"Version":"2012-10-17","Statement":[
		{"Sid":"Read","Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:Describe*"],"Resource":"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/*"},
		{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"},
		{"Effect":"Allow","Action":"kms:Sign","Resource":"arn:aws:kms:us-east-1:123456789012:key/????????-*"},
		{"Sid":"NoAdmin","Effect":"Deny","Action":"secretsmanager:*","Resource":"arn:aws:secretsmanager:*:*:secret:app/admin-*"}]}`
	tests := []struct {
		name, session, action, resource string
		want                            bool
		reason                          string
	}{
		{name: "allowed", action: "secretsmanager:GetSecretValue", resource: secretARN, want: true},
		{name: "action case-insensitive", action: "SecretsManager:getsecretvalue", resource: secretARN, want: true},
		{name: "action wildcard", action: "secretsmanager:DescribeSecret", resource: secretARN, want: true},
		{name: "resource case-sensitive", action: "secretsmanager:GetSecretValue", resource: strings.Replace(secretARN, "app/", "App/", 1),
			reason: "because no identity-based policy allows the secretsmanager:GetSecretValue action"},
		{name: "other action", action: "secretsmanager:PutSecretValue", resource: secretARN,
			reason: "because no identity-based policy allows the secretsmanager:PutSecretValue action"},
		{name: "star resource", action: "secretsmanager:ListSecrets", resource: "*", want: true},
		{name: "ARN pattern does not match star", action: "secretsmanager:GetSecretValue", resource: "*",
			reason: "because no identity-based policy allows the secretsmanager:GetSecretValue action"},
		{name: "question marks", action: "kms:Sign", resource: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", want: true},
		{name: "question marks too few", action: "kms:Sign", resource: "arn:aws:kms:us-east-1:123456789012:key/1234abc-12ab", reason: "because no identity-based policy allows the kms:Sign action"},
		{name: "explicit deny wins", action: "secretsmanager:GetSecretValue", resource: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/admin-AbCdEf",
			reason: "with an explicit deny in an identity-based policy"},
		{name: "session policy narrows", session: `{"Statement":{"Effect":"Allow","Action":"secretsmanager:DescribeSecret","Resource":"*"}}`,
			action: "secretsmanager:GetSecretValue", resource: secretARN, reason: "because no session policy allows the secretsmanager:GetSecretValue action"},
		{name: "session policy allows within", session: `{"Statement":{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}}`,
			action: "secretsmanager:GetSecretValue", resource: secretARN, want: true},
		{name: "session policy cannot widen", session: `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`,
			action: "secretsmanager:PutSecretValue", resource: secretARN, reason: "because no identity-based policy allows the secretsmanager:PutSecretValue action"},
		{name: "session deny", session: `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`,
			action: "secretsmanager:GetSecretValue", resource: secretARN, reason: "with an explicit deny in a session policy"},
		{name: "session NotAction", session: `{"Statement":{"Effect":"Allow","NotAction":"secretsmanager:PutSecretValue","Resource":"*"}}`,
			action: "secretsmanager:GetSecretValue", resource: secretARN, want: true},
		{name: "session NotResource", session: `{"Statement":{"Effect":"Allow","Action":"*","NotResource":"` + secretARN + `"}}`,
			action: "secretsmanager:GetSecretValue", resource: secretARN, reason: "because no session policy allows the secretsmanager:GetSecretValue action"},
		{name: "session condition never allows", session: `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}}`,
			action: "secretsmanager:GetSecretValue", resource: secretARN, reason: "because no session policy allows the secretsmanager:GetSecretValue action"},
		{name: "session condition always denies", session: `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}`,
			action: "secretsmanager:GetSecretValue", resource: secretARN, reason: "with an explicit deny in a session policy"},
		{name: "unreadable session policy", session: `{"Statement":`, action: "secretsmanager:GetSecretValue", resource: secretARN,
			reason: "because no session policy allows the secretsmanager:GetSecretValue action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &Session{Policy: identity, SessionPolicy: tc.session}
			ok, reason := s.Allowed(tc.action, tc.resource)
			if ok != tc.want || reason != tc.reason {
				t.Errorf("Allowed(%s, %s) = %v, %q; want %v, %q", tc.action, tc.resource, ok, reason, tc.want, tc.reason)
			}
		})
	}
	t.Run("no identity policy allows nothing", func(t *testing.T) {
		t.Parallel()
		ok, reason := (&Session{Invoke: []string{"*"}}).Allowed("kms:Sign", "*")
		if ok || reason != "because no identity-based policy allows the kms:Sign action" {
			t.Errorf("Allowed = %v, %q", ok, reason)
		}
	})
	t.Run("unreadable identity policy allows nothing", func(t *testing.T) {
		t.Parallel()
		ok, _ := (&Session{Policy: `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}}`}).Allowed("kms:Sign", "*")
		if ok {
			t.Error("a policy with a Condition allowed")
		}
	})
}

// TestIssuedSessionsCarryPolicy: sessions issued by web identity and by
// role chaining carry their role's identity policy and their session
// policy; Allowed applies both.
func TestIssuedSessionsCarryPolicy(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	readApp := `{"Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:*:secret:app/*"}}`
	signOnly := `{"Statement":{"Effect":"Allow","Action":"kms:Sign","Resource":"*"}}`
	roles := chainRoles(iss)
	roles[0].Policy = []byte(readApp)
	roles[1].Policy = []byte(signOnly)
	f := newFixture(t, iss, roles)

	first := f.assume(t, iss, "gatehouse-reader", "ada", nil)
	sess := f.srv.sessions.get(first.AccessKeyID, f.clock.Now())
	if sess.Policy != readApp {
		t.Errorf("Policy = %q, want the role's", sess.Policy)
	}
	if ok, why := sess.clone().Allowed("secretsmanager:GetSecretValue", secretARN); !ok {
		t.Errorf("web identity session refused: %s", why)
	}
	if ok, _ := sess.Allowed("kms:Sign", "*"); ok {
		t.Error("web identity session may sign; its role may not")
	}

	chained := stscreds.NewAssumeRoleProvider(f.sessionClient(first), roleARN("svc/reports"), func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "ada-signs"
		o.Policy = aws.String(`{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/k1"}}`)
	})
	creds, err := aws.NewCredentialsCache(chained).Retrieve(callContext(t))
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	csess := f.srv.sessions.get(creds.AccessKeyID, f.clock.Now())
	if ok, why := csess.Allowed("kms:Sign", "arn:aws:kms:us-east-1:123456789012:key/k1"); !ok {
		t.Errorf("chained session refused k1: %s", why)
	}
	if ok, why := csess.Allowed("kms:Sign", "arn:aws:kms:us-east-1:123456789012:key/k2"); ok || why != "because no session policy allows the kms:Sign action" {
		t.Errorf("chained session on k2: %v %q, want the session policy to narrow", ok, why)
	}
	if ok, _ := csess.Allowed("secretsmanager:GetSecretValue", secretARN); ok {
		t.Error("chained session kept the first role's permissions")
	}
	if !slices.Equal(csess.Invoke, []string{"reports"}) {
		t.Errorf("Invoke = %v, want the role's list kept", csess.Invoke)
	}
}
