package sts

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// assume gets credentials for role with a web identity token carrying
// claims, through the SDK.
func (f *fixture) assume(t *testing.T, iss *testIssuer, role, session string, claims map[string]any) aws.Credentials {
	t.Helper()
	out, err := f.webIdentity(t, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(roleARN(role)),
		RoleSessionName:  aws.String(session),
		WebIdentityToken: aws.String(iss.token(claims)),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity %s: %v", role, err)
	}
	return credsFrom(out.Credentials)
}

var signaturePattern = regexp.MustCompile(`Signature=([0-9a-f]+)`)

// TestGetCallerIdentityRefusals: requests signed wrong, with unknown or
// expired credentials, answered with STS's codes through the SDK.
func TestGetCallerIdentityRefusals(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	tests := []struct {
		name       string
		creds      func(aws.Credentials) aws.Credentials
		tamper     func(*http.Request)
		region     string
		advance    time.Duration
		wantCode   string
		wantStatus int
	}{
		{name: "tampered signature",
			tamper: func(r *http.Request) {
				r.Header.Set("Authorization", signaturePattern.ReplaceAllStringFunc(r.Header.Get("Authorization"), func(s string) string {
					last := s[len(s)-1]
					if last == '0' {
						return s[:len(s)-1] + "1"
					}
					return s[:len(s)-1] + "0"
				}))
			},
			wantCode: CodeSignatureDoesNotMatch, wantStatus: 403},
		{name: "signed header changed after signing",
			tamper: func(r *http.Request) {
				r.Header.Set("X-Amz-Date", time.Now().UTC().Add(time.Second).Format(amzDateFormat))
			},
			wantCode: CodeSignatureDoesNotMatch, wantStatus: 403},
		{name: "wrong secret key",
			creds: func(c aws.Credentials) aws.Credentials {
				c.SecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
				return c
			},
			wantCode: CodeSignatureDoesNotMatch, wantStatus: 403},
		{name: "unknown access key id",
			creds: func(c aws.Credentials) aws.Credentials {
				c.AccessKeyID = "ASIAEXAMPLEAKID0001X"
				return c
			},
			wantCode: CodeInvalidClientTokenID, wantStatus: 403},
		{name: "session token of another session",
			creds: func(c aws.Credentials) aws.Credentials {
				c.SessionToken = "IQoJb3JpZ2luX2VjEXAMPLE"
				return c
			},
			wantCode: CodeInvalidClientTokenID, wantStatus: 403},
		{name: "no session token",
			creds: func(c aws.Credentials) aws.Credentials {
				c.SessionToken = ""
				return c
			},
			wantCode: CodeInvalidClientTokenID, wantStatus: 403},
		{name: "signed for another region",
			region:   "eu-west-1",
			wantCode: CodeSignatureDoesNotMatch, wantStatus: 403},
		{name: "expired session",
			advance:  time.Hour + time.Minute,
			wantCode: CodeExpiredToken, wantStatus: 400},
		{name: "signature older than five minutes",
			advance:  6 * time.Minute,
			wantCode: CodeSignatureDoesNotMatch, wantStatus: 403},
		{name: "signature more than five minutes ahead",
			advance:  -6 * time.Minute,
			wantCode: CodeSignatureDoesNotMatch, wantStatus: 403},
		{name: "no signature at all",
			tamper:   func(r *http.Request) { r.Header.Del("Authorization") },
			wantCode: CodeMissingAuthenticationToken, wantStatus: 403},
		{name: "another signing algorithm",
			tamper: func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1))
			},
			wantCode: CodeIncompleteSignature, wantStatus: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, iss, []Role{{Name: "gatehouse-reader", TrustPolicy: iss.policy(allowWebIdentity)}})
			creds := f.assume(t, iss, "gatehouse-reader", "ada", nil)
			if tc.creds != nil {
				creds = tc.creds(creds)
			}
			f.clock.Add(tc.advance)
			f.rec.setTamper(tc.tamper)
			client := f.sessionClient(creds, func(o *sts.Options) {
				if tc.region != "" {
					o.Region = tc.region
				}
			})
			_, err := client.GetCallerIdentity(callContext(t), &sts.GetCallerIdentityInput{})
			wantAPIError(t, err, tc.wantCode, tc.wantStatus)
			if body := f.rec.lastBody(); strings.Contains(body, creds.SecretAccessKey) || (creds.SessionToken != "" && strings.Contains(body, creds.SessionToken)) {
				t.Errorf("the error body echoes a secret")
			}
		})
	}
}
