package sts

import (
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/devkit/idp"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// tokenFunc is a stscreds.IdentityTokenRetriever.
type tokenFunc func() (string, error)

func (f tokenFunc) GetIdentityToken() ([]byte, error) {
	s, err := f()
	return []byte(s), err
}

// The development IdP's directory for these tests.
const (
	idpTenant    = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	idpAPI       = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
	idpDaemon    = "c0000000-0000-4000-8000-000000000003"
	idpDaemonSP  = "d0000000-0000-4000-8000-000000000003"
	idpDaemonKey = "daemon-secret"
)

// TestWebIdentityWithDevIdP is the whole path with real parts: a
// client-credentials token from devkit/idp (its discovery and JWKS behind
// TLS), the SDK's stscreds.WebIdentityRoleProvider exchanging it, and the
// SDK's GetCallerIdentity signed with the credentials it got.
func TestWebIdentityWithDevIdP(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)

	ts := httptestUnstarted()
	provider, err := idp.New(idp.Config{
		BaseURL: "https://" + ts.Listener.Addr().String(),
		Tenants: []idp.Tenant{{
			ID: idpTenant, Domain: "contoso.example",
			Apps: []idp.App{
				{Name: "api", ClientID: idpAPI, ObjectID: "d0000000-0000-4000-8000-000000000001", AppIDURI: "api://gatehouse-sts-test",
					AppRoles: []idp.AppRole{{Value: "Jobs.Run", MemberTypes: []string{"Application"}}}},
				{Name: "daemon", ClientID: idpDaemon, ObjectID: idpDaemonSP, Secrets: []string{idpDaemonKey},
					Permissions: []idp.Permission{{Resource: "api", Roles: []string{"Jobs.Run"}}}},
			},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = provider.Handler()
	ts.StartTLS()
	t.Cleanup(ts.Close)

	issuer := provider.Issuer(idpTenant)
	name := strings.TrimPrefix(issuer, "https://")
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"Federated":"arn:aws:iam::%s:oidc-provider/%s"},
		"Action":"sts:AssumeRoleWithWebIdentity",
		"Condition":{"StringEquals":{"%s:aud":"%s","%s:sub":"%s"}}}]}`, testAccount, name, name, idpAPI, name, idpDaemonSP)
	f := newFixture(t, iss, []Role{{Name: "jobs/gatehouse-runner", TrustPolicy: []byte(policy), Invoke: []string{"reports-*"}}},
		func(c *Config) {
			c.Providers = append(c.Providers, Provider{URL: issuer, ClientIDs: []string{idpAPI}})
			c.Now = nil // the IdP's tokens carry the real time
		})

	cc := clientcredentials.Config{ClientID: idpDaemon, ClientSecret: idpDaemonKey,
		TokenURL: issuer[:len(issuer)-len("/v2.0")] + "/oauth2/v2.0/token", Scopes: []string{"api://gatehouse-sts-test/.default"}}
	ctx := context.WithValue(callContext(t), oauth2.HTTPClient, ts.Client())
	retriever := tokenFunc(func() (string, error) {
		tok, err := cc.Token(ctx)
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	})

	webIdentity := stscreds.NewWebIdentityRoleProvider(f.client(aws.AnonymousCredentials{}), roleARN("jobs/gatehouse-runner"), retriever,
		func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = "daemon" })
	creds := aws.NewCredentialsCache(webIdentity)
	got, err := creds.Retrieve(ctx)
	if err != nil {
		t.Fatalf("WebIdentityRoleProvider.Retrieve: %v", err)
	}
	if !strings.HasPrefix(got.AccessKeyID, "ASIA") || len(got.AccessKeyID) != 20 || got.SecretAccessKey == "" || got.SessionToken == "" {
		t.Errorf("credentials %q (secret %t, token %t): want an ASIA key id of 20 characters, a secret and a session token",
			got.AccessKeyID, got.SecretAccessKey != "", got.SessionToken != "")
	}
	if d := time.Until(got.Expires); d < 59*time.Minute || d > time.Hour {
		t.Errorf("credentials expire in %v, want the default hour", d)
	}

	id, err := f.client(creds).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if a := aws.ToString(id.Arn); a != "arn:aws:sts::123456789012:assumed-role/gatehouse-runner/daemon" {
		t.Errorf("Arn = %s, want the assumed-role ARN naming the role (without its path) and the session", a)
	}
	if u := aws.ToString(id.UserId); !strings.HasPrefix(u, "AROA") || !strings.HasSuffix(u, ":daemon") || len(u) != 21+len(":daemon") {
		t.Errorf("UserId = %s, want AROA…(21 characters):daemon", u)
	}
	if a := aws.ToString(id.Account); a != testAccount {
		t.Errorf("Account = %s, want %s", a, testAccount)
	}

	// The session remembers the role's Invoke list for devkit/runtime.
	sess := f.srv.sessions.get(got.AccessKeyID, time.Now())
	if sess == nil || !cmp.Equal(sess.Invoke, []string{"reports-*"}) || sess.RoleARN != roleARN("jobs/gatehouse-runner") {
		t.Errorf("stored session = %+v, want role jobs/gatehouse-runner with Invoke [reports-*]", sess)
	}
}

// callerIdentityXML is GetCallerIdentity's body, with this STS's extension
// elements (source identity, tags) that the SDK skips.
type callerIdentityXML struct {
	Result struct {
		Arn            string
		UserID         string `xml:"UserId"`
		Account        string
		SourceIdentity string
		Tags           []struct{ Key, Value string } `xml:"PrincipalTags>member"`
		Transitive     []string                      `xml:"TransitiveTagKeys>member"`
	} `xml:"GetCallerIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

func TestWebIdentitySessionTagsAndSourceIdentity(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	f := newFixture(t, iss, []Role{{Name: "gatehouse-reader", TrustPolicy: iss.policy(allowWebIdentity), MaxSessionDuration: 2 * time.Hour}})
	token := iss.token(map[string]any{
		claimTags: map[string]any{
			"principal_tags":      map[string]any{"tenant": []string{idpTenant}, "team": []string{"payments"}, "Kind": []string{"user"}},
			"transitive_tag_keys": []string{"tenant", "kind"},
		},
		claimSourceIdentity: "ada@contoso.example",
	})
	sessionPolicy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:reports"}]}`
	out, err := f.webIdentity(t, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(roleARN("gatehouse-reader")),
		RoleSessionName:  aws.String("ada@contoso.example"),
		WebIdentityToken: aws.String(token),
		DurationSeconds:  aws.Int32(5400),
		Policy:           aws.String(sessionPolicy),
		// Added in SDK v1.51.0 (2026-09), with the token size fields below.
		MinimumSessionTokenSize: aws.Int32(2000),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	name := strings.TrimPrefix(iss.URL(), "https://")
	checks := []struct{ what, got, want string }{
		{"SourceIdentity", aws.ToString(out.SourceIdentity), "ada@contoso.example"},
		{"SubjectFromWebIdentityToken", aws.ToString(out.SubjectFromWebIdentityToken), "principal:ada:role:reader"},
		{"Provider", aws.ToString(out.Provider), "arn:aws:iam::123456789012:oidc-provider/" + name},
		{"Audience", aws.ToString(out.Audience), stsAudience},
		{"AssumedRoleUser.Arn", aws.ToString(out.AssumedRoleUser.Arn), "arn:aws:sts::123456789012:assumed-role/gatehouse-reader/ada@contoso.example"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	//lint:ignore SA1019 deprecated by the SDK for SessionTokenUtilization, still what the spec (§3) and older SDKs read
	if p := aws.ToInt32(out.PackedPolicySize); p < 1 || p > 100 {
		t.Errorf("PackedPolicySize = %d, want a percentage", p)
	}
	if n := len(aws.ToString(out.Credentials.SessionToken)); n < 2000 || int32(n) != aws.ToInt32(out.SessionTokenSize) {
		t.Errorf("session token of %d bytes, SessionTokenSize %d; want at least MinimumSessionTokenSize (2000), reported exactly", n, aws.ToInt32(out.SessionTokenSize))
	}
	if u := aws.ToInt32(out.SessionTokenUtilization); u != (aws.ToInt32(out.SessionTokenSize)*100+4095)/4096 {
		t.Errorf("SessionTokenUtilization = %d, want the percentage of 4096 bytes", u)
	}
	if exp := aws.ToTime(out.Credentials.Expiration); !exp.Equal(f.clock.Now().Add(90 * time.Minute)) {
		t.Errorf("Expiration = %v, want now + DurationSeconds (%v)", exp, f.clock.Now().Add(90*time.Minute))
	}

	// The SDK signs GetCallerIdentity with the returned credentials.
	id, err := f.sessionClient(credsFrom(out.Credentials)).GetCallerIdentity(callContext(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if aws.ToString(id.Arn) != aws.ToString(out.AssumedRoleUser.Arn) || aws.ToString(id.UserId) != aws.ToString(out.AssumedRoleUser.AssumedRoleId) {
		t.Errorf("GetCallerIdentity = %s %s, want the assumed-role user %s %s", aws.ToString(id.Arn), aws.ToString(id.UserId),
			aws.ToString(out.AssumedRoleUser.Arn), aws.ToString(out.AssumedRoleUser.AssumedRoleId))
	}
	var body callerIdentityXML
	if err := xml.Unmarshal([]byte(f.rec.lastBody()), &body); err != nil {
		t.Fatalf("GetCallerIdentity body: %v", err)
	}
	if body.Result.SourceIdentity != "ada@contoso.example" {
		t.Errorf("SourceIdentity in GetCallerIdentity = %q, want ada@contoso.example", body.Result.SourceIdentity)
	}
	wantTags := []struct{ Key, Value string }{{"Kind", "user"}, {"team", "payments"}, {"tenant", idpTenant}}
	if d := cmp.Diff(wantTags, body.Result.Tags); d != "" {
		t.Errorf("PrincipalTags (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"tenant", "Kind"}, body.Result.Transitive); d != "" {
		t.Errorf("TransitiveTagKeys, case as the tag gives it (-want +got):\n%s", d)
	}
	if len(body.RequestID) != 36 {
		t.Errorf("RequestId = %q, want a UUID", body.RequestID)
	}
}

// sdkErrorTypes checks that the SDK turns each STS code into its typed error.
var sdkErrorTypes = map[string]func(error) bool{
	codeInvalidIdentityToken:    func(err error) bool { var e *types.InvalidIdentityTokenException; return errors.As(err, &e) },
	codeExpiredTokenException:   func(err error) bool { var e *types.ExpiredTokenException; return errors.As(err, &e) },
	codeIDPRejectedClaim:        func(err error) bool { var e *types.IDPRejectedClaimException; return errors.As(err, &e) },
	codeIDPCommunicationError:   func(err error) bool { var e *types.IDPCommunicationErrorException; return errors.As(err, &e) },
	codeMalformedPolicyDocument: func(err error) bool { var e *types.MalformedPolicyDocumentException; return errors.As(err, &e) },
	codePackedPolicyTooLarge:    func(err error) bool { var e *types.PackedPolicyTooLargeException; return errors.As(err, &e) },
}

func TestWebIdentityRefusals(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	f := newFixture(t, iss, []Role{
		{Name: "gatehouse-reader", TrustPolicy: iss.policy(allowWebIdentity)},
		{Name: "pinned", TrustPolicy: iss.policy(`{"Effect":"Allow","Principal":{"Federated":"{arn}"},"Action":"sts:AssumeRoleWithWebIdentity",
			"Condition":{"StringEquals":{"{name}:sub":"principal:bob:role:reader"}}}`)},
	})
	// An issuer at another address that is no provider, and one with the
	// same path and kid but another key.
	stranger := testkit.NewIssuer(t, testkit.IssuerConfig{Path: "/stranger", Alg: "ES256"})
	impostor := testkit.NewIssuer(t, testkit.IssuerConfig{Path: issuerPath, Alg: "ES256"})
	now := time.Now()
	randomTags := map[string]any{}
	for i := range 50 {
		randomTags[fmt.Sprintf("key%02d", i)] = []string{randomLetters(t, 256)}
	}
	tooLong := strings.Repeat("a", 2049)
	arns := make([]types.PolicyDescriptorType, 11)
	for i := range arns {
		arns[i].Arn = aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")
	}

	tests := []struct {
		name       string
		token      func() string                             // nil: a valid token
		edit       func(*sts.AssumeRoleWithWebIdentityInput) // nil: a valid request
		wantCode   string
		wantStatus int
	}{
		{name: "token of an issuer that is no provider",
			token:    func() string { return stranger.Sign(iss.claims(map[string]any{"iss": stranger.URL()})) },
			wantCode: codeInvalidIdentityToken, wantStatus: 400},
		{name: "audience not among the client ids",
			token:    func() string { return iss.token(map[string]any{"aud": "api://someone-else"}) },
			wantCode: codeInvalidIdentityToken, wantStatus: 400},
		{name: "signed by another key under the same kid",
			token:    func() string { return impostor.Sign(iss.claims(nil)) },
			wantCode: codeInvalidIdentityToken, wantStatus: 400},
		{name: "a kid the issuer never published",
			token:    func() string { return iss.SignHeader(map[string]any{"kid": "k2"}, iss.claims(nil)) },
			wantCode: codeInvalidIdentityToken, wantStatus: 400},
		{name: "no kid",
			token:    func() string { return iss.SignHeader(map[string]any{"kid": nil}, iss.claims(nil)) },
			wantCode: codeInvalidIdentityToken, wantStatus: 400},
		{name: "not a JWT",
			token:    func() string { return "not-a-jwt" },
			wantCode: codeInvalidIdentityToken, wantStatus: 400},
		{name: "expired beyond the five minutes of skew",
			token: func() string {
				return iss.token(map[string]any{"iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix(), "exp": now.Add(-6 * time.Minute).Unix()})
			},
			wantCode: codeExpiredTokenException, wantStatus: 400},
		{name: "no exp is not expired but invalid",
			token:    func() string { return iss.token(map[string]any{"exp": nil}) },
			wantCode: codeInvalidIdentityToken, wantStatus: 400},
		{name: "timestamps must be integers",
			token:    func() string { return iss.token(map[string]any{"exp": float64(now.Add(time.Hour).Unix()) + 0.5}) },
			wantCode: codeInvalidIdentityToken, wantStatus: 400},
		{name: "a tag with two values",
			token: func() string {
				return iss.token(map[string]any{claimTags: map[string]any{"principal_tags": map[string]any{"team": []string{"a", "b"}}}})
			},
			wantCode: codeIDPRejectedClaim, wantStatus: 403},
		{name: "a tag key with the reserved aws: prefix",
			token: func() string {
				return iss.token(map[string]any{claimTags: map[string]any{"principal_tags": map[string]any{"aws:team": []string{"a"}}}})
			},
			wantCode: codeIDPRejectedClaim, wantStatus: 403},
		{name: "a transitive key that is no tag",
			token: func() string {
				return iss.token(map[string]any{claimTags: map[string]any{"principal_tags": map[string]any{"team": []string{"a"}}, "transitive_tag_keys": []string{"tenant"}}})
			},
			wantCode: codeIDPRejectedClaim, wantStatus: 403},
		{name: "more than 50 tags",
			token: func() string {
				tags := map[string]any{}
				for i := range 51 {
					tags[fmt.Sprint("k", i)] = []string{"v"}
				}
				return iss.token(map[string]any{claimTags: map[string]any{"principal_tags": tags}})
			},
			wantCode: codeIDPRejectedClaim, wantStatus: 403},
		{name: "source identity of one character",
			token:    func() string { return iss.token(map[string]any{claimSourceIdentity: "a"}) },
			wantCode: codeIDPRejectedClaim, wantStatus: 403},
		{name: "source identity that is not a string",
			token:    func() string { return iss.token(map[string]any{claimSourceIdentity: 42}) },
			wantCode: codeIDPRejectedClaim, wantStatus: 403},
		{name: "unknown role",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.RoleArn = aws.String(roleARN("nobody")) },
			wantCode: codeAccessDenied, wantStatus: 403},
		{name: "trust policy pins another subject",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.RoleArn = aws.String(roleARN("pinned")) },
			wantCode: codeAccessDenied, wantStatus: 403},
		{name: "duration above the role max",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.DurationSeconds = aws.Int32(3601) },
			wantCode: codeValidationError, wantStatus: 400},
		{name: "duration below 15 minutes",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.DurationSeconds = aws.Int32(899) },
			wantCode: codeValidationError, wantStatus: 400},
		{name: "session name with a space",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.RoleSessionName = aws.String("ada lovelace") },
			wantCode: codeValidationError, wantStatus: 400},
		{name: "session name of one character",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.RoleSessionName = aws.String("a") },
			wantCode: codeValidationError, wantStatus: 400},
		{name: "session name of 65 characters",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.RoleSessionName = aws.String(strings.Repeat("a", 65)) },
			wantCode: codeValidationError, wantStatus: 400},
		{name: "role ARN shorter than 20 characters",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.RoleArn = aws.String("arn:aws:iam::1:r") },
			wantCode: codeValidationError, wantStatus: 400},
		{name: "token of more than 20000 characters",
			token:    func() string { return strings.Repeat("a", 20001) },
			wantCode: codeValidationError, wantStatus: 400},
		{name: "session policy over 2048 characters",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.Policy = aws.String(tooLong) },
			wantCode: codeValidationError, wantStatus: 400},
		{name: "session policy that is not JSON",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.Policy = aws.String(`{"Statement":`) },
			wantCode: codeMalformedPolicyDocument, wantStatus: 400},
		{name: "session policy naming a principal",
			edit: func(in *sts.AssumeRoleWithWebIdentityInput) {
				in.Policy = aws.String(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}`)
			},
			wantCode: codeMalformedPolicyDocument, wantStatus: 400},
		{name: "session policy with duplicate members",
			edit: func(in *sts.AssumeRoleWithWebIdentityInput) {
				in.Policy = aws.String(`{"Statement":[{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}]}`)
			},
			wantCode: codeMalformedPolicyDocument, wantStatus: 400},
		{name: "eleven policy ARNs",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.PolicyArns = arns },
			wantCode: codeValidationError, wantStatus: 400},
		{name: "policy ARN that is no IAM policy",
			edit: func(in *sts.AssumeRoleWithWebIdentityInput) {
				in.PolicyArns = []types.PolicyDescriptorType{{Arn: aws.String("arn:aws:s3:::my-bucket/policy.json")}}
			},
			wantCode: codeInvalidParameterValue, wantStatus: 400},
		{name: "MinimumSessionTokenSize above 4096 bytes",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.MinimumSessionTokenSize = aws.Int32(4097) },
			wantCode: codeValidationError, wantStatus: 400},
		{name: "ProviderId with an OpenID Connect token",
			edit:     func(in *sts.AssumeRoleWithWebIdentityInput) { in.ProviderId = aws.String("www.amazon.com") },
			wantCode: codeInvalidParameterValue, wantStatus: 400},
		{name: "session tags too large when packed",
			token: func() string {
				return iss.token(map[string]any{claimTags: map[string]any{"principal_tags": randomTags}})
			},
			wantCode: codePackedPolicyTooLarge, wantStatus: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			token := iss.token(nil)
			if tc.token != nil {
				token = tc.token()
			}
			in := &sts.AssumeRoleWithWebIdentityInput{
				RoleArn:          aws.String(roleARN("gatehouse-reader")),
				RoleSessionName:  aws.String("ada"),
				WebIdentityToken: aws.String(token),
			}
			if tc.edit != nil {
				tc.edit(in)
			}
			_, err := f.webIdentity(t, in)
			wantAPIError(t, err, tc.wantCode, tc.wantStatus)
			if isType := sdkErrorTypes[tc.wantCode]; isType != nil && !isType(err) {
				t.Errorf("the SDK did not map %s to its typed error: %T", tc.wantCode, err)
			}
			if body := f.rec.lastBody(); strings.Contains(body, token[:min(len(token), 40)]) {
				t.Errorf("the error body echoes the token")
			}
		})
	}
}

// randomLetters returns n random lower-case letters (incompressible enough
// to exceed the packed budget).
func randomLetters(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	for i := range b {
		r, err := rand.Int(rand.Reader, big.NewInt(26))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = byte('a' + r.Int64())
	}
	return string(b)
}

func TestWebIdentityAcceptsFiveMinutesOfSkewPastExp(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	f := newFixture(t, iss, []Role{{Name: "gatehouse-reader", TrustPolicy: iss.policy(allowWebIdentity)}})
	now := time.Now()
	token := iss.token(map[string]any{"iat": now.Add(-10 * time.Minute).Unix(), "exp": now.Add(-4 * time.Minute).Unix()})
	_, err := f.webIdentity(t, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(roleARN("gatehouse-reader")), RoleSessionName: aws.String("ada"), WebIdentityToken: aws.String(token),
	})
	if err != nil {
		t.Fatalf("token expired 4 minutes ago: %v, want accepted (IAM allows 5 minutes of skew)", err)
	}
}

func TestWebIdentityProviderUnreachable(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	// A provider on a port where nothing listens: discovery fails.
	closed := httptestUnstarted()
	unreachable := "https://" + closed.Listener.Addr().String() + "/down"
	closed.Close()
	name := strings.TrimPrefix(unreachable, "https://")
	policy := fmt.Sprintf(`{"Statement":{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::%s:oidc-provider/%s"},"Action":"sts:AssumeRoleWithWebIdentity"}}`, testAccount, name)
	f := newFixture(t, iss, []Role{{Name: "down", TrustPolicy: []byte(policy)}}, func(c *Config) {
		c.Providers = append(c.Providers, Provider{URL: unreachable, ClientIDs: []string{stsAudience}})
	})
	_, err := f.webIdentity(t, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(roleARN("down")), RoleSessionName: aws.String("ada"),
		WebIdentityToken: aws.String(iss.token(map[string]any{"iss": unreachable})),
	})
	wantAPIError(t, err, codeIDPCommunicationError, http.StatusBadRequest)
	if !sdkErrorTypes[codeIDPCommunicationError](err) {
		t.Errorf("the SDK did not map IDPCommunicationError to its typed error: %T", err)
	}
}
